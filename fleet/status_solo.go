package fleet

import (
	"context"
	"slices"
	"strings"

	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision/roles"
)

// omc status for nodes in no pool (the one server omc install makes, a
// dev group): each node's machine and last converge, and for a bbb node
// its own health as the pool's gate judges it (BBB API root and version,
// a signed getMeetings with the secret omc derives, TLS expiry, TURN),
// without Scalelite.

// splitStatusTargets parts the targets (none: the whole inventory) into
// the pool groups and the selected nodes of groups without a pool.
func splitStatusTargets(inv *inventory.Inventory, targets []string) ([]*inventory.Group, []*inventory.Node, error) {
	var poolTargets, soloTargets []string
	if len(targets) == 0 {
		for _, g := range inv.Groups {
			if g.Pool == nil {
				soloTargets = append(soloTargets, g.Name)
			}
		}
	}
	for _, t := range targets {
		g := inv.Group(t)
		if g == nil {
			if i := slices.IndexFunc(inv.Nodes(), func(n *inventory.Node) bool { return n.Name == t }); i >= 0 {
				g = inv.Group(inv.Nodes()[i].Group)
			}
		}
		if g != nil && g.Pool == nil {
			soloTargets = append(soloTargets, t)
		} else {
			poolTargets = append(poolTargets, t)
		}
	}
	var solo []*inventory.Node
	if len(soloTargets) > 0 {
		nodes, err := inv.Select(soloTargets, nil)
		if err != nil {
			return nil, nil, usageErrorf("%v", err)
		}
		solo = nodes
	}
	if len(targets) == 0 {
		groups, err := PoolGroups(inv, nil)
		if err != nil && len(solo) == 0 {
			return nil, nil, usageErrorf("%s has no nodes to show", inv.Path)
		}
		return groups, solo, nil
	}
	if len(soloTargets) > 0 && len(solo) == 0 {
		return nil, nil, usageErrorf("%s: no nodes to show", strings.Join(soloTargets, ", "))
	}
	if len(poolTargets) == 0 {
		return nil, solo, nil
	}
	groups, err := PoolGroups(inv, poolTargets)
	return groups, solo, err
}

// soloStatus checks each node on its own: its machine, and the gate
// with the default checks (tls, turn) at its default API URL. The
// machines the providers listed are added to seen.
func soloStatus(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, deps *PoolDeps, red *redact.Redactor, seen map[string]providers.Machine) []NodeStatus {
	out := []NodeStatus{}
	converged := LastConverge(inv)
	byGroup, order := GroupNodes(nodes)
	for _, gname := range order {
		grp := inv.Group(gname)
		machines := map[string]providers.Machine{}
		var machErr error
		if p, err := deps.ProviderFor(grp); err != nil {
			machErr = err
		} else if ms, err := p.List(ctx, inv, grp); err != nil {
			machErr = err
		} else {
			for _, m := range ms {
				machines[m.Name] = m
				seen[m.Name] = m
			}
		}
		var members []pool.Member
		rows := map[string]*NodeStatus{}
		for _, n := range byGroup[gname] {
			row := &NodeStatus{Node: n.Name, Provider: n.Provider, Address: n.Address, PoolState: "none", Problems: []string{}}
			rows[n.Name] = row
			machineRow(row, machines, machErr, red)
			if t, ok := converged[n.Name]; ok {
				row.LastConverge = &t
			}
			if !slices.Contains(n.Roles, roles.RoleBBB) {
				continue // no BBB to ask: the machine is all there is
			}
			g := *grp
			if g.Pool == nil {
				g.Pool = &inventory.Pool{}
			}
			m, err := MemberOf(inv, &g, n)
			if err != nil {
				row.Problems = append(row.Problems, red.String(err.Error()))
				continue
			}
			red.Add(m.Secret)
			members = append(members, m)
		}
		gate := &pool.Gate{HTTP: LoggedHTTP(deps.Client(), LogFrom(ctx)), Checks: HealthChecks(&inventory.Pool{}, deps), Version: ReleaseReader(inv, grp, byGroup[gname], deps)}
		health := gate.CheckAll(ctx, members)
		for _, n := range byGroup[gname] {
			row := rows[n.Name]
			if h, ok := health[n.Name]; ok {
				row.BBBVersion = h.BBBVersion
				if h.Answered {
					row.Meetings, row.Users = &h.Meetings, &h.Users
				}
				if t := h.Expires(); !t.IsZero() {
					row.TLSExpires = &t
				}
				for _, p := range h.Problems {
					row.Problems = append(row.Problems, red.String(p))
				}
			}
			row.Healthy = len(row.Problems) == 0
			out = append(out, *row)
		}
	}
	return out
}
