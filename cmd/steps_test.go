package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/provision/roles"
)

const stepsInventory = `apiVersion: omc/v1
name: t
secrets:
  bbb_seed: env:OMC_TEST_SEED
defaults:
  settings: {bbb_version: "3.0", acme_email: ops@example.org}
groups:
  g:
    provider: static
    nodes:
      - {name: plain, address: 192.0.2.1, steps: [{packages: [htop]}]}
      - {name: bbb, address: 192.0.2.2, roles: [bbb], domain: bbb.example.org, steps: [{packages: [htop]}]}
      - name: clash
        address: 192.0.2.3
        roles: [turn]
        domain: turn.example.org
        steps: [{file: {path: /etc/turnserver.conf, content: "x"}}]
  h:
    provider: hcloud
    location: fsn1
    server_type: cx22
    image: ubuntu-22.04
    count: 1
    name: t-{n}
    roles: [turn]
    domain: "{name}.example.org"
`

func loadSteps(t *testing.T) *inventory.Inventory {
	t.Helper()
	t.Setenv("OMC_TEST_SEED", "FAKE-seed-for-cmd-tests")
	inv, err := inventory.LoadReader(filepath.Join(t.TempDir(), "omc.yaml"), strings.NewReader(stepsInventory))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func node(t *testing.T, fleet []*inventory.Node, name string) *inventory.Node {
	for _, n := range fleet {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no node %s", name)
	return nil
}

func stepIDs(t *testing.T, inv *inventory.Inventory, fleet []*inventory.Node, name string) []string {
	t.Helper()
	steps, err := nodeSteps(inv, node(t, fleet, name), fleet)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(steps))
	for i, s := range steps {
		ids[i] = s.ID()
	}
	return ids
}

func TestNodeStepsRolesThenExtraSteps(t *testing.T) {
	inv := loadSteps(t)
	fleet := inv.Nodes()
	if ids := stepIDs(t, inv, fleet, "plain"); len(ids) != 1 || !strings.Contains(ids[0], "htop") {
		t.Errorf("a node without roles gets only its extra steps, got %q", ids)
	}
	ids := stepIDs(t, inv, fleet, "bbb")
	joined := strings.Join(ids, "\n")
	for _, want := range []string{"firewall", "certificate bbb.example.org", "bbb packages bigbluebutton", "turn-stun-servers.xml"} {
		if !strings.Contains(joined, want) {
			t.Errorf("bbb node's steps lack %s:\n%s", want, joined)
		}
	}
	if last := ids[len(ids)-1]; !strings.Contains(last, "htop") {
		t.Errorf("extra steps come after the roles' steps; last is %q", last)
	}
}

func TestNodeStepsRefusesAnExtraStepARoleOwns(t *testing.T) {
	inv := loadSteps(t)
	fleet := inv.Nodes()
	_, err := nodeSteps(inv, node(t, fleet, "clash"), fleet)
	if err == nil || !strings.Contains(err.Error(), "/etc/turnserver.conf is already managed by the node's roles") ||
		!strings.Contains(err.Error(), "omc.yaml:") {
		t.Fatalf("want a positioned error naming the file both manage, got %v", err)
	}
}

func TestFleetWithFillsProviderAddresses(t *testing.T) {
	inv := loadSteps(t)
	// A provider-made TURN node has no address until its machine exists;
	// with the machine's address its steps build, without it they cannot.
	if _, err := nodeSteps(inv, node(t, inv.Nodes(), "t-1"), inv.Nodes()); err == nil || !strings.Contains(err.Error(), "needs an IP address") {
		t.Fatalf("without a machine: want an address error, got %v", err)
	}
	changed := *node(t, inv.Nodes(), "bbb")
	changed.Settings = inventory.Settings{BBBVersion: "2.7"}
	fleet, own := fleetWith(inv, []*inventory.Node{node(t, inv.Nodes(), "t-1"), &changed},
		map[string]providers.Machine{"t-1": {Name: "t-1", Address: "198.51.100.7"}})
	if len(own) != 2 || own[0].Address != "198.51.100.7" || node(t, fleet, "t-1") != own[0] {
		t.Fatal("address not filled in")
	}
	if own[1].Settings.BBBVersion != "2.7" || node(t, fleet, "bbb") != own[1] || len(fleet) != len(inv.Nodes()) {
		t.Fatal("the caller's version of a node is not the one in the fleet")
	}
	if node(t, inv.Nodes(), "t-1").Address != "" {
		t.Fatal("fleetWith changed the inventory's own node")
	}
	if _, err := nodeSteps(inv, node(t, fleet, "t-1"), fleet); err != nil {
		t.Fatalf("with the machine's address: %v", err)
	}
}

func TestValidateReportsBadRoleSettings(t *testing.T) {
	d := isolate(t)
	t.Setenv("OMC_TEST_SEED", "FAKE-seed-for-cmd-tests")
	bad := strings.Replace(stepsInventory, `acme_email: ops@example.org`, `acme_email: "not an address"`, 1)
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
	if !strings.Contains(stepsInventory, clash) {
		t.Fatal("stepsInventory changed: update withoutClash")
	}
	return strings.Replace(stepsInventory, clash, "", 1)
}

// validate refuses what up refuses: a bbb node without bbb_version (the
// BBB line is resolved only when steps are built) and an extra step that
// a role owns, each at its node's position, all at once; a node whose
// address comes from its provider later is not an error.
func TestValidateRefusesWhatUpRefuses(t *testing.T) {
	d := isolate(t)
	t.Setenv("OMC_TEST_SEED", "FAKE-seed-for-cmd-tests")
	path := filepath.Join(d, "omc.yaml")
	noVersion := strings.Replace(stepsInventory, `settings: {bbb_version: "3.0", acme_email: ops@example.org}`, `settings: {acme_email: ops@example.org}`, 1)
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
	if _, err := nodeSteps(inv, node(t, inv.Nodes(), "bbb"), inv.Nodes()); err == nil || !strings.Contains(err.Error(), "bbb_version is required") {
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

func TestForcedNodesMayRestartBBB(t *testing.T) {
	inv := loadSteps(t)
	fleet := inv.Nodes()
	force := func(steps []provision.Step) (n int) {
		for _, s := range steps {
			switch s := s.(type) {
			case *roles.BBBPackagesStep:
				if s.Force {
					n++
				}
			case *roles.BBBRestartStep:
				if s.Force {
					n++
				}
			}
		}
		return n
	}
	plain, err := nodeSteps(inv, node(t, fleet, "bbb"), fleet)
	if err != nil {
		t.Fatal(err)
	}
	f := forced([]*inventory.Node{node(t, fleet, "bbb")})
	withForce, err := nodeSteps(inv, f[0], fleet)
	if err != nil {
		t.Fatal(err)
	}
	if force(plain) != 0 || force(withForce) != 2 {
		t.Fatalf("force: without %d, with %d steps allowed to restart BBB", force(plain), force(withForce))
	}
	if node(t, fleet, "bbb").Run.Force {
		t.Fatal("--force changed the inventory's node")
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
