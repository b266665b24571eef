package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/providers/robot"
	"github.com/omc-coop/omc/remote"
)

// DownOptions are down's. Cancel lets robot rentals omc ordered be
// cancelled; Provider opens a group's provider.
type DownOptions struct {
	Cancel   bool
	Provider func(*inventory.Group) (providers.Provider, error)
}

// DownPlan is what down would do, found by asking each group's provider
// what exists: only that is confirmed, deleted and reported.
type DownPlan struct {
	Groups []DownGroup
	// Absent nodes have no machine to delete (never made, or gone).
	Absent []string
	// Rented are robot nodes left alone without Cancel; Claimed static
	// nodes, which omc never deletes.
	Rented, Claimed []string
	// States is each selected node's state, in node order: "claimed",
	// "not-cancelled", "absent" or "delete" (Apply makes it "deleted").
	States []NodeState

	inv    *inventory.Inventory
	cancel bool
}

// DownGroup is one group's machines to delete.
type DownGroup struct {
	Group *inventory.Group
	Nodes []string

	p    providers.Provider
	have []providers.Machine
}

// NodeState is a node and what down does with it.
type NodeState struct {
	Node, Group, State string
}

// ErrNothingToDown is a down whose selection has no machine omc may
// delete because of what it is (claimed, or rented without Cancel).
var ErrNothingToDown = errors.New("nothing to take down")

// Names are the machines the plan deletes, group by group.
func (p *DownPlan) Names() []string {
	var out []string
	for _, g := range p.Groups {
		out = append(out, g.Nodes...)
	}
	return out
}

// PlanDown lists, group by group, the machines of nodes that exist. With
// nothing to delete it returns the plan and, unless every node was
// merely absent, an error saying why (wrapping ErrNothingToDown).
func PlanDown(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, o DownOptions) (*DownPlan, error) {
	plan := &DownPlan{inv: inv, cancel: o.Cancel}
	if o.Cancel {
		ctx = robot.AllowCancels(ctx)
	}
	byGroup, order := GroupNodes(nodes)
	for _, n := range nodes {
		switch {
		case n.Provider == "static":
			plan.Claimed = append(plan.Claimed, n.Name)
			plan.States = append(plan.States, NodeState{n.Name, n.Group, "claimed"})
		case n.Provider == "robot" && !o.Cancel:
			plan.Rented = append(plan.Rented, n.Name)
			plan.States = append(plan.States, NodeState{n.Name, n.Group, "not-cancelled"})
		}
	}
	for _, gname := range order {
		grp := inv.Group(gname)
		if grp.Provider == "static" || (grp.Provider == "robot" && !o.Cancel) {
			continue
		}
		p, err := o.Provider(grp)
		if err != nil {
			return nil, fmt.Errorf("group %s: %w", gname, err)
		}
		have, err := p.List(ctx, inv, grp)
		if err != nil {
			return nil, fmt.Errorf("group %s: listing machines: %w", gname, err)
		}
		gd := DownGroup{Group: grp, p: p, have: have}
		for _, n := range byGroup[gname] {
			if slices.ContainsFunc(have, func(m providers.Machine) bool { return m.Name == n.Name }) {
				gd.Nodes = append(gd.Nodes, n.Name)
			} else {
				plan.Absent = append(plan.Absent, n.Name)
				plan.States = append(plan.States, NodeState{n.Name, gname, "absent"})
			}
		}
		if len(gd.Nodes) > 0 {
			plan.Groups = append(plan.Groups, gd)
		}
	}
	for _, gd := range plan.Groups {
		for _, n := range gd.Nodes {
			plan.States = append(plan.States, NodeState{n, gd.Group.Name, "delete"})
		}
	}
	if len(plan.Groups) == 0 {
		switch {
		case len(plan.Absent) > 0:
			return plan, nil
		case len(plan.Rented) > 0:
			return plan, fmt.Errorf("%w: nothing was cancelled", ErrNothingToDown)
		}
		return plan, fmt.Errorf("%w: the selected nodes are claimed (static) servers, which omc never deletes", ErrNothingToDown)
	}
	return plan, nil
}

// Apply deletes the plan's machines group by group, telling deleted
// about each group done, and forgets their host keys: a deleted
// machine's address may be handed to someone else, and must never
// inherit the old key. It stops at the first group that fails.
func (p *DownPlan) Apply(ctx context.Context, deleted func(DownGroup)) error {
	if p.cancel {
		ctx = robot.AllowCancels(ctx)
	}
	kh := &remote.KnownHosts{Path: KnownHostsPath()}
	for _, gd := range p.Groups {
		if err := gd.p.Delete(ctx, p.inv, gd.Group, gd.Nodes); err != nil {
			return fmt.Errorf("group %s: %w", gd.Group.Name, err)
		}
		for _, m := range gd.have {
			if slices.Contains(gd.Nodes, m.Name) && m.Address != "" {
				port := m.Port
				if port == 0 {
					port = 22
				}
				_ = kh.Forget(m.Address, port)
			}
		}
		if deleted != nil {
			deleted(gd)
		}
	}
	return nil
}

// GroupNodes splits nodes by group, the groups in first-seen order.
func GroupNodes(nodes []*inventory.Node) (map[string][]*inventory.Node, []string) {
	byGroup := map[string][]*inventory.Node{}
	var order []string
	for _, n := range nodes {
		if _, ok := byGroup[n.Group]; !ok {
			order = append(order, n.Group)
		}
		byGroup[n.Group] = append(byGroup[n.Group], n)
	}
	return byGroup, order
}
