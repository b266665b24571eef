package roles

import (
	"strings"
	"testing"

	"github.com/omc-coop/omc/inventory"
)

// An error about a role setting is reported at the line that set the
// key, group or node level, so the user edits the right one; an error
// about a setting nobody wrote is at the node.
func TestRoleSettingErrorsAreAtTheKeysLine(t *testing.T) {
	const text = `apiVersion: omc/v1
name: pos
secrets:
  bbb_seed: env:OMC_TEST_POS_SEED
groups:
  g:
    provider: static
    settings:
      bbb_version: "4.1"
      bbb_os: debian-12
    nodes:
      - name: a
        roles: [bbb]
        address: 192.0.2.1
        domain: a.example
      - name: b
        roles: [bbb]
        address: 192.0.2.2
        domain: b.example
        settings:
          bbb_os: null
          lti: {key: moodle, secret: lti_missing}
      - {name: c, roles: [bbb], address: 192.0.2.3, domain: c.example, settings: {bbb_version: null, bbb_os: null}}
`
	t.Setenv("OMC_TEST_POS_SEED", "FAKE-seed-for-positions")
	inv, err := inventory.LoadReader("pos.yaml", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ node, want string }{
		// bbb_os written at the group (line 10, its value) for a line that runs on Ubuntu.
		{"a", "pos.yaml:10:15: node a: settings.bbb_os: BBB 4.1 runs on ubuntu-24.04 only"},
		// lti.secret written at the node (line 22, its value's column).
		{"b", "pos.yaml:22:"},
		// bbb_version reset to nothing: no level sets it, so the node's line.
		{"c", "pos.yaml:23:9: node c: settings.bbb_version is required"},
	} {
		_, err := Steps(inv, nodeByName(t, inv, c.node), inv.Nodes())
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("node %s: error %v, want it to begin %q", c.node, err, c.want)
		}
		var ie *inventory.Errors
		if !asErrors(err, &ie) {
			t.Errorf("node %s: %T is not an *inventory.Errors (the exit code for inventory errors)", c.node, err)
		}
	}
}

func nodeByName(t *testing.T, inv *inventory.Inventory, name string) *inventory.Node {
	t.Helper()
	for _, n := range inv.Nodes() {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no node %s", name)
	return nil
}

func asErrors(err error, target **inventory.Errors) bool {
	e, ok := err.(*inventory.Errors)
	if ok {
		*target = e
	}
	return ok
}
