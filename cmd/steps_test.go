package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/inventory"
)

// stepsInventory is the fleet package's steps fixture (read when used:
// this test binary also runs as a stand-in program from other dirs).
func stepsInventory(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../fleet/testdata/steps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestValidateReportsBadRoleSettings(t *testing.T) {
	d := isolate(t)
	t.Setenv("OMC_TEST_SEED", "FAKE-seed-for-cmd-tests")
	bad := strings.Replace(stepsInventory(t), `acme_email: ops@example.org`, `acme_email: "not an address"`, 1)
	path := filepath.Join(d, "omc.yaml")
	writeFile(t, path, bad)
	_, errs, code := run(t, "", "validate", "-i", path)
	if code != ExitInventory || !strings.Contains(errs, "acme_email") || !strings.Contains(errs, path+":") {
		t.Fatalf("code %d, stderr %q", code, errs)
	}
	writeFile(t, path, withoutClash(t))
	if _, errs, code := run(t, "", "validate", "-i", path); code != ExitOK {
		t.Fatalf("valid inventory: code %d, stderr %q", code, errs)
	}
}

// withoutClash is stepsInventory less node clash, whose extra step up
// refuses: a valid inventory with a provider-made node (no address yet).
func withoutClash(t *testing.T) string {
	clash := "      - name: clash\n        address: 192.0.2.3\n        roles: [turn]\n        domain: turn.example.org\n        steps: [{file: {path: /etc/turnserver.conf, content: \"x\"}}]\n"
	if !strings.Contains(stepsInventory(t), clash) {
		t.Fatal("the steps fixture changed: update withoutClash")
	}
	return strings.Replace(stepsInventory(t), clash, "", 1)
}

// validate refuses what up refuses: a bbb node without bbb_version (the
// BBB line is resolved only when steps are built) and an extra step that
// a role owns, each at its node's position, all at once; a node whose
// address comes from its provider later is not an error.
func TestValidateRefusesWhatUpRefuses(t *testing.T) {
	d := isolate(t)
	t.Setenv("OMC_TEST_SEED", "FAKE-seed-for-cmd-tests")
	path := filepath.Join(d, "omc.yaml")
	noVersion := strings.Replace(stepsInventory(t), `settings: {bbb_version: "3.0", acme_email: ops@example.org}`, `settings: {acme_email: ops@example.org}`, 1)
	writeFile(t, path, noVersion)
	_, errs, code := run(t, "", "validate", "-i", path)
	if code != ExitInventory ||
		!strings.Contains(errs, path+":12:9: node bbb: settings.bbb_version is required") ||
		!strings.Contains(errs, path+":13:9: node clash: extra step file /etc/turnserver.conf is already managed") {
		t.Fatalf("code %d, stderr %q", code, errs)
	}
	inv, err := inventory.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.NodeSteps(inv, nodeNamed(t, inv.Nodes(), "bbb"), inv.Nodes()); err == nil || !strings.Contains(err.Error(), "bbb_version is required") {
		t.Fatalf("up's own steps: %v", err)
	}
	// A bbb node with no bbb_seed to derive its API secret from.
	writeFile(t, path, strings.Replace(withoutClash(t), "secrets:\n  bbb_seed: env:OMC_TEST_SEED\n", "", 1))
	if _, errs, code := run(t, "", "validate", "-i", path); code != ExitInventory || !strings.Contains(errs, path+":10:9: node bbb: no secret named \"bbb_seed\"") {
		t.Fatalf("no bbb_seed: code %d, stderr %q", code, errs)
	}
	writeFile(t, path, withoutClash(t))
	if _, errs, code := run(t, "", "validate", "-i", path); code != ExitOK {
		t.Fatalf("valid inventory with an hcloud node: code %d, stderr %q", code, errs)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A CI lint job has no secrets: validate checks everything else, with
// unset secrets as warnings at their position; --secrets makes them
// errors. Every FILE:LINE:COL line opens with the file.
func TestValidateWithoutSecretValues(t *testing.T) {
	d := isolate(t)
	path := filepath.Join(d, "omc.yaml")
	writeFile(t, path, withoutClash(t))
	t.Setenv("OMC_TEST_SEED", "")
	os.Unsetenv("OMC_TEST_SEED")
	_, errs, code := run(t, "", "validate", "-i", path)
	if code != ExitOK || !strings.HasPrefix(errs, path+":4:13: warning: secrets.bbb_seed: environment variable OMC_TEST_SEED is not set") {
		t.Fatalf("validate without the seed: code %d, stderr %q", code, errs)
	}
	_, errs, code = run(t, "", "validate", "--secrets", "-i", path)
	if code != ExitInventory || !strings.HasPrefix(errs, path+":4:13: secrets.bbb_seed") {
		t.Fatalf("validate --secrets: code %d, stderr %q", code, errs)
	}
	// plan needs it: refused before any contact.
	if _, errs, code = run(t, "", "plan", "g", "-i", path); code != ExitInventory || !strings.Contains(errs, "environment variable OMC_TEST_SEED is not set: the bbb and turn roles derive") {
		t.Fatalf("plan without the seed: code %d, stderr %q", code, errs)
	}
}

func nodeNamed(t *testing.T, nodes []*inventory.Node, name string) *inventory.Node {
	t.Helper()
	for _, n := range nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no node %s", name)
	return nil
}
