package fleet

import (
	"fmt"
	"strings"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/provision/roles"
)

// NodeSteps is what the engine converges on a node: its roles' built-in
// steps (provision/roles: base, firewall, TLS, TURN, BBB, tuning), then
// the extra steps the inventory lists. A node without roles gets only its
// extra steps, so a plain development host stays plain. An extra step may
// not manage what a role already manages: two owners of one file would
// undo each other on every run.
func NodeSteps(inv *inventory.Inventory, n *inventory.Node, fleet []*inventory.Node) ([]provision.Step, error) {
	extra, err := provision.Steps(inv, n)
	if err != nil {
		return nil, err
	}
	if len(n.Roles) == 0 {
		return extra, nil
	}
	steps, err := roles.Steps(inv, n, fleet)
	if err != nil {
		return nil, err // at its FILE:LINE:COL already
	}
	owned := make(map[string]bool, len(steps))
	for _, s := range steps {
		owned[s.ID()] = true
	}
	for _, s := range extra {
		if owned[s.ID()] {
			return nil, fmt.Errorf("%s:%d:%d: node %s: extra step %s is already managed by the node's roles (%v); set it through the role's settings instead",
				inv.Path, n.Pos.Line, n.Pos.Col, n.Name, s.ID(), n.Roles)
		}
	}
	return append(steps, extra...), nil
}

// FleetWith returns every node of the inventory, with the caller's own
// version of the nodes it works on (a command may have changed their
// settings, as upgrade does), and the address each machine has where a
// provider reported one, so that roles naming other nodes (a TURN
// server's BBB peers) see real addresses. It also returns nodes' fleet
// copies, in order. Neither the inventory nor nodes are changed.
func FleetWith(inv *inventory.Inventory, nodes []*inventory.Node, machines map[string]providers.Machine) (fleet, own []*inventory.Node) {
	mine := make(map[string]*inventory.Node, len(nodes))
	for _, n := range nodes {
		mine[n.Name] = n
	}
	withAddr := func(n *inventory.Node) *inventory.Node {
		if m, ok := machines[n.Name]; ok && m.Address != "" && n.Address != m.Address {
			c := *n
			c.Address = m.Address
			return &c
		}
		return n
	}
	index := map[string]*inventory.Node{}
	for _, n := range inv.Nodes() {
		if v, ok := mine[n.Name]; ok {
			n = v
		}
		n = withAddr(n)
		index[n.Name] = n
		fleet = append(fleet, n)
	}
	for _, n := range nodes {
		f, ok := index[n.Name]
		if !ok { // not in the inventory's list: still its own fleet member
			f = withAddr(n)
			fleet = append(fleet, f)
		}
		own = append(own, f)
	}
	return fleet, own
}

// SecretValues is every secret output must mask: the inventory's stored
// ones and those the roles derive from them.
func SecretValues(inv *inventory.Inventory) []string {
	return append(inv.SecretValues(), roles.SecretValues(inv, inv.Nodes())...)
}

// CheckRoleSettings builds every selected node's steps as omc up would
// (role settings, the BBB line, rendered files, extra steps), so that
// validate refuses what up refuses without contacting anything. Every
// node's error is reported, not only the first.
func CheckRoleSettings(inv *inventory.Inventory, nodes []*inventory.Node) error {
	var errs []string
	// A provider-made node has its address only once its machine exists:
	// stand in a documentation address (RFC 5737) for it.
	placeholders := map[string]providers.Machine{}
	for i, n := range inv.Nodes() {
		if n.Address == "" {
			placeholders[n.Name] = providers.Machine{Name: n.Name, Address: fmt.Sprintf("192.0.2.%d", 1+i%254)}
		}
	}
	fleet, own := FleetWith(inv, nodes, placeholders)
	for _, n := range own {
		if _, err := NodeSteps(inv, n, fleet); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return &InventoryError{Err: fmt.Errorf("%s", strings.Join(errs, "\n"))}
	}
	return nil
}

// Forced returns copies of nodes whose BBB may restart or upgrade while
// meetings are live (--force).
func Forced(nodes []*inventory.Node) []*inventory.Node {
	out := make([]*inventory.Node, len(nodes))
	for i, n := range nodes {
		c := *n
		c.Run.Force = true
		out[i] = &c
	}
	return out
}
