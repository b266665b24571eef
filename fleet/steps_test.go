package fleet

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

// stepsInventory is testdata/steps.yaml (cmd's tests read it too).
var stepsInventory = mustRead("testdata/steps.yaml")

func mustRead(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		panic(err)
	}
	return string(b)
}

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
	steps, err := NodeSteps(inv, node(t, fleet, name), fleet)
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
	_, err := NodeSteps(inv, node(t, fleet, "clash"), fleet)
	if err == nil || !strings.Contains(err.Error(), "/etc/turnserver.conf is already managed by the node's roles") ||
		!strings.Contains(err.Error(), "omc.yaml:") {
		t.Fatalf("want a positioned error naming the file both manage, got %v", err)
	}
}

func TestFleetWithFillsProviderAddresses(t *testing.T) {
	inv := loadSteps(t)
	// A provider-made TURN node has no address until its machine exists;
	// with the machine's address its steps build, without it they cannot.
	if _, err := NodeSteps(inv, node(t, inv.Nodes(), "t-1"), inv.Nodes()); err == nil || !strings.Contains(err.Error(), "needs an IP address") {
		t.Fatalf("without a machine: want an address error, got %v", err)
	}
	changed := *node(t, inv.Nodes(), "bbb")
	changed.Settings = inventory.Settings{BBBVersion: "2.7"}
	fleet, own := FleetWith(inv, []*inventory.Node{node(t, inv.Nodes(), "t-1"), &changed},
		map[string]providers.Machine{"t-1": {Name: "t-1", Address: "198.51.100.7"}})
	if len(own) != 2 || own[0].Address != "198.51.100.7" || node(t, fleet, "t-1") != own[0] {
		t.Fatal("address not filled in")
	}
	if own[1].Settings.BBBVersion != "2.7" || node(t, fleet, "bbb") != own[1] || len(fleet) != len(inv.Nodes()) {
		t.Fatal("the caller's version of a node is not the one in the fleet")
	}
	if node(t, inv.Nodes(), "t-1").Address != "" {
		t.Fatal("FleetWith changed the inventory's own node")
	}
	if _, err := NodeSteps(inv, node(t, fleet, "t-1"), fleet); err != nil {
		t.Fatalf("with the machine's address: %v", err)
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
	plain, err := NodeSteps(inv, node(t, fleet, "bbb"), fleet)
	if err != nil {
		t.Fatal(err)
	}
	f := Forced([]*inventory.Node{node(t, fleet, "bbb")})
	withForce, err := NodeSteps(inv, f[0], fleet)
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
