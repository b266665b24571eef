package roles

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	goldenfile "github.com/omc-coop/omc/internal/golden"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
)

// Obviously fake sample secrets; goldens show them masked anyway.
const (
	fakeSeed = "FAKE-test-seed-not-a-real-one"
	fakeAPI  = "FAKE-api-secret-for-bbb-2"
)

func loadFleet(t *testing.T) (*inventory.Inventory, []*inventory.Node) {
	t.Helper()
	t.Setenv("OMC_TEST_SEED", fakeSeed)
	t.Setenv("OMC_TEST_API", fakeAPI)
	f, err := os.Open("testdata/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inv, err := inventory.LoadReader("testdata/fleet.yaml", f)
	if err != nil {
		t.Fatal(err)
	}
	return inv, inv.Nodes()
}

func node(t *testing.T, fleet []*inventory.Node, name string) *inventory.Node {
	t.Helper()
	for _, n := range fleet {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no node %s", name)
	return nil
}

// describe lists steps as a reviewer would read them: ID, then for files
// their attributes and content, every secret masked.
func describe(steps []provision.Step, secretVals []string) string {
	var b strings.Builder
	for _, s := range steps {
		fmt.Fprintf(&b, "== %s\n", s.ID())
		var f *provision.FileStep
		switch x := s.(type) {
		case *provision.FileStep:
			f = x
		case *checkedFile:
			f = x.FileStep
			fmt.Fprintf(&b, "   checked by: %s\n", x.Check)
		case *provision.LineStep:
			fmt.Fprintf(&b, "   line: %s\n", x.Line)
		case *secretLine:
			fmt.Fprintf(&b, "   line: %s\n", x.Line)
		case *provision.CommandStep:
			fmt.Fprintf(&b, "   run: %s\n   unless: %s\n   creates: %s\n", x.Run, x.Unless, x.Creates)
		case *provision.SysctlStep:
			fmt.Fprintf(&b, "   value: %s\n", x.Value)
		case *provision.UserStep:
			fmt.Fprintf(&b, "   keys: %d\n", len(x.AuthorizedKeys))
		case *CertStep:
			fmt.Fprintf(&b, "   directory: %s email: %s\n", x.Directory, x.Email)
			if len(x.Names) > 0 {
				fmt.Fprintf(&b, "   names: %s\n", strings.Join(x.Names, " "))
			}
		case *NftablesStep:
			fmt.Fprintf(&b, "%s", x.Conf)
		}
		if f != nil {
			fmt.Fprintf(&b, "   %04o %s:%s notify=%v\n%s", f.Mode, f.Owner, f.Group, f.Notify, f.Content)
		}
	}
	return mask(b.String(), secretVals)
}

func mask(s string, secretVals []string) string {
	for i, v := range secretVals {
		s = strings.ReplaceAll(s, v, fmt.Sprintf("<secret-%d>", i))
		if len(v) > 32 {
			s = strings.ReplaceAll(s, v[:32], fmt.Sprintf("<secret-%d-prefix>", i))
		}
	}
	return s
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.AssertString(t, name+".golden", got)
}

// Each node's whole step list is pinned, so a change to what omc does to
// a host shows up as a reviewed golden diff; what matters in it is
// checked on its own (checkSampleFacts).
func TestStepsGolden(t *testing.T) {
	inv, fleet := loadFleet(t)
	secretVals := append(inv.SecretValues(), SecretValues(inv, fleet)...)
	for _, n := range fleet {
		t.Run(n.Name, func(t *testing.T) {
			steps, err := Steps(inv, n, fleet)
			if err != nil {
				t.Fatal(err)
			}
			got := describe(steps, secretVals)
			for _, v := range secretVals {
				if strings.Contains(got, v) {
					t.Fatalf("a secret is left unmasked in the listing")
				}
			}
			golden(t, "steps-"+n.Name, got)
			onDisk, err := os.ReadFile(filepath.Join("testdata", "steps-"+n.Name+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			checkSampleFacts(t, inv, fleet, n, steps, string(onDisk))
		})
	}
}

// Same inputs, same steps: IDs unique and stable, content byte-identical.
func TestStepsStable(t *testing.T) {
	inv, fleet := loadFleet(t)
	for _, n := range fleet {
		a, err := Steps(inv, n, fleet)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Steps(inv, n, fleet)
		if describe(a, nil) != describe(b, nil) {
			t.Errorf("%s: two builds differ", n.Name)
		}
		seen := map[string]bool{}
		for _, s := range a {
			if seen[s.ID()] {
				t.Errorf("%s: duplicate step ID %q", n.Name, s.ID())
			}
			seen[s.ID()] = true
		}
	}
}

// No secret may appear in a step ID: IDs are shown unmasked. (Summaries
// of real runs: TestConvergedCopyOfThisMachinePlansNothing.)
func TestSecretsNeverInStepIDs(t *testing.T) {
	inv, fleet := loadFleet(t)
	secretVals := append(inv.SecretValues(), SecretValues(inv, fleet)...)
	if len(secretVals) < 3*len(fleet) {
		t.Fatalf("SecretValues returned %d values for %d nodes", len(secretVals), len(fleet))
	}
	for _, n := range fleet {
		steps, _ := Steps(inv, n, fleet)
		for _, s := range steps {
			text := s.ID()
			for _, v := range secretVals {
				if strings.Contains(text, v) || strings.Contains(text, v[:16]) {
					t.Errorf("%s: step %q shows a secret", n.Name, s.ID())
				}
			}
		}
	}
}

func TestSecretsDerivedAndShared(t *testing.T) {
	inv, fleet := loadFleet(t)
	turn, bbb1, bbb2 := node(t, fleet, "turn-1"), node(t, fleet, "bbb-1"), node(t, fleet, "bbb-2")
	ts := deriveHex("turn", "turn-1", fakeSeed)
	for _, n := range []*inventory.Node{turn, bbb1} {
		steps, _ := Steps(inv, n, fleet)
		var found bool
		for _, s := range steps {
			if f, ok := s.(*provision.FileStep); ok && strings.Contains(string(f.Content), ts) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: TURN secret of turn-1 not in any file", n.Name)
		}
	}
	if got, _ := APISecret(inv, bbb2); got != fakeAPI {
		t.Errorf("bbb-2 API secret should come from the inventory secret")
	}
	if got, _ := APISecret(inv, bbb1); got != deriveHex("bbb-api", "bbb-1", fakeSeed) || len(got) != 64 {
		t.Errorf("bbb-1 API secret should be derived from the seed")
	}
	if derive("turn", "x1", "s") == derive("turnx", "1", "s") {
		t.Error("derivation is ambiguous across the purpose/node boundary")
	}
}

func TestNodeRolesAndPorts(t *testing.T) {
	_, fleet := loadFleet(t)
	school, bbb1 := node(t, fleet, "school-bbb"), node(t, fleet, "bbb-1")
	if r := NodeRoles(school, fleet); !slices.Contains(r, RoleTURN) {
		t.Errorf("school-bbb has no TURN node in its group, so it hosts TURN: roles %v", r)
	}
	if r := NodeRoles(bbb1, fleet); slices.Contains(r, RoleTURN) {
		t.Errorf("bbb-1's group has turn-1: roles %v", r)
	}
	ranges := func(ps []Port) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Range()+"/"+p.Proto)
		}
		return out
	}
	cases := map[string][]string{
		"":          {"22/tcp"},
		"bbb":       {"22/tcp", "80/tcp", "443/tcp", "16384-32768/udp"},
		"turn":      {"22/tcp", "80/tcp", "443/tcp", "3478/tcp", "3478/udp", "443/udp", "32769-65535/udp"},
		"scalelite": {"22/tcp", "80/tcp", "443/tcp"},
	}
	for role, want := range cases {
		var roles []string
		if role != "" {
			roles = []string{role}
		}
		if got := ranges(Ports(roles)); !slices.Equal(got, want) {
			t.Errorf("Ports(%v) = %v, want %v", roles, got, want)
		}
	}
	if got := ranges(Ports([]string{"bbb", "turn"})); len(got) != 8 {
		t.Errorf("bbb+turn: 443/tcp must appear once: %v", got)
	}
	if p := Ports(nil)[0]; !p.Admin {
		t.Error("ssh must be an admin-only port")
	}
}

// The settings' own checks are the inventory's (inventory/settings_test.go);
// what needs the line stays here.
func TestTuneChecksTheLinesLayouts(t *testing.T) {
	layout := "NO_SUCH_LAYOUT"
	if _, err := parseTune("bbb-9", &inventory.BBBTuning{DefaultLayout: &layout}, nil); err == nil ||
		!strings.Contains(err.Error(), "node bbb-9: settings.bbb.default_layout: expected one of") {
		t.Errorf("tune errors: %v", err)
	}
}

func TestBBBNeedsKnownLineOrExplicitOS(t *testing.T) {
	inv, fleet := loadFleet(t)
	n := *node(t, fleet, "bbb-2")
	for v, want := range map[string]string{"": "bbb_version is required", "2.6": "not a line omc knows"} {
		n.Settings.BBBVersion = v
		if _, err := Steps(inv, &n, fleet); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bbb_version %q: err = %v, want %q", v, err, want)
		}
	}
	n.Settings.BBBVersion, n.Settings.BBBOS = "3.0", "ubuntu-20.04"
	if _, err := Steps(inv, &n, fleet); err == nil || !strings.Contains(err.Error(), "runs on ubuntu-22.04 only") {
		t.Errorf("3.0 on 20.04: err = %v", err)
	}
	p := &BBBPreflight{Version: "3.0", OS: "ubuntu-22.04"}
	if _, err := p.Plan([]string{"os=debian-12", "arch=x86_64"}); err == nil || !strings.Contains(err.Error(), "nothing was installed") {
		t.Errorf("preflight on debian-12: %v", err)
	}
	if c, err := p.Plan([]string{"os=ubuntu-22.04", "arch=x86_64"}); c != nil || err != nil {
		t.Errorf("preflight on the right OS: %v %v", c, err)
	}
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
