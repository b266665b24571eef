package roles

import (
	"fmt"
	"os"
	"slices"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
)

// The roles a node may have (inventory roles:), named in the node model.
const (
	RoleBBB       = inventory.RoleBBB
	RoleTURN      = inventory.RoleTURN
	RoleScalelite = inventory.RoleScalelite
)

// builder collects one node's steps and the errors found building them.
type builder struct {
	inv   *inventory.Inventory
	n     *inventory.Node
	fleet []*inventory.Node
	s     *inventory.Settings
	sec   secrets
	steps []provision.Step
	errs  []error
}

func (b *builder) add(steps ...provision.Step) { b.steps = append(b.steps, steps...) }

func (b *builder) fail(err error) {
	if err != nil {
		b.errs = append(b.errs, err)
	}
}

// addFile renders a template into a FileStep and adds it.
func (b *builder) addFile(path, tmpl string, data any, mode uint32, owner, group string, notify ...string) *provision.FileStep {
	f, err := file(path, tmpl, data, osMode(mode), owner, group, notify...)
	if err != nil {
		b.fail(fmt.Errorf("node %s: %w", b.n.Name, err))
		return nil
	}
	b.add(f)
	return f
}

// Steps returns node n's built-in role steps, in order: base (every node),
// firewall, tls, turn, bbb (with its secrets and tuning), scalelite, sysctl tuning,
// bandwidth, monitoring and backup (nodes whose settings configure them).
// fleet is every node of the inventory: TURN servers and the
// BBB nodes they relay for are found in n's group. Same inputs give the
// same steps, byte for byte.
func Steps(inv *inventory.Inventory, n *inventory.Node, fleet []*inventory.Node) ([]provision.Step, error) {
	s := settingsOf(n)
	b := &builder{inv: inv, n: n, fleet: fleet, s: s, sec: secrets{inv}}
	if has(n, RoleBBB) {
		b.preflight()
	}
	b.base()
	if s.Firewall {
		b.firewall()
	}
	if b.serves() {
		b.tls()
	}
	if slices.Contains(NodeRoles(n, fleet), RoleTURN) {
		b.turn()
	}
	if has(n, RoleBBB) && len(b.errs) == 0 {
		b.bbb()
	}
	if RunsScalelite(n) && len(b.errs) == 0 {
		b.scalelite()
	}
	b.sysctl()
	b.bandwidth()
	b.monitoring()
	b.backup()
	if err := b.err(); err != nil {
		return nil, err
	}
	return b.steps, nil
}

// NodeRoles is n's roles plus "turn" for a BBB node whose group has no
// TURN node: it then runs coturn itself, as bbb-install does.
func NodeRoles(n *inventory.Node, fleet []*inventory.Node) []string {
	return inventory.NodeRoles(n, fleet)
}

// groupWith lists the nodes of n's group that have role, in fleet order.
func groupWith(n *inventory.Node, fleet []*inventory.Node, role string) []*inventory.Node {
	var out []*inventory.Node
	for _, m := range fleet {
		if m.Group == n.Group && has(m, role) {
			out = append(out, m)
		}
	}
	return out
}

// serves: nodes that answer on 80/443 need a certificate.
func (b *builder) serves() bool {
	return has(b.n, RoleBBB) || has(b.n, RoleTURN) || RunsScalelite(b.n)
}

func has(n *inventory.Node, role string) bool { return slices.Contains(n.Roles, role) }

func osMode(m uint32) os.FileMode { return os.FileMode(m) }
