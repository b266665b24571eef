package cmd

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
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
			if n, _, err := nodeOf(inv, t); err == nil {
				g = inv.Group(n.Group)
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
			return nil, nil, usageError("%v", err)
		}
		solo = nodes
	}
	if len(targets) == 0 {
		groups, err := fleet.PoolGroups(inv, nil)
		if err != nil && len(solo) == 0 {
			return nil, nil, usageError("%s has no nodes to show", inv.Path)
		}
		return groups, solo, nil
	}
	if len(soloTargets) > 0 && len(solo) == 0 {
		return nil, nil, usageError("%s: no nodes to show", strings.Join(soloTargets, ", "))
	}
	if len(poolTargets) == 0 {
		return nil, solo, nil
	}
	groups, err := fleet.PoolGroups(inv, poolTargets)
	return groups, solo, err
}

// nodeOf finds a node by name.
func nodeOf(inv *inventory.Inventory, name string) (*inventory.Node, int, error) {
	for i, n := range inv.Nodes() {
		if n.Name == name {
			return n, i, nil
		}
	}
	return nil, 0, fmt.Errorf("no node %s", name)
}

// soloStatus checks each node on its own: its machine, and the gate
// with the default checks (tls, turn) at its default API URL.
func soloStatus(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, nodes []*inventory.Node, deps *fleet.PoolDeps, red *redact.Redactor) []statusNodeV1 {
	out := []statusNodeV1{}
	converged := fleet.LastConverge(inv)
	byGroup, order := fleet.GroupNodes(nodes)
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
			}
		}
		var members []pool.Member
		rows := map[string]*statusNodeV1{}
		for _, n := range byGroup[gname] {
			row := &statusNodeV1{Node: n.Name, Provider: n.Provider, Address: n.Address, PoolState: "none", Problems: []string{}}
			rows[n.Name] = row
			machineRow(row, machines, machErr, red)
			if t, ok := converged[n.Name]; ok {
				row.LastConverge = &t
			}
			if !slices.Contains(n.Roles, roles.RoleBBB) {
				continue // no BBB to ask: the machine is all there is
			}
			m, err := nodeMember(inv, n)
			if err != nil {
				row.Problems = append(row.Problems, red.String(err.Error()))
				continue
			}
			red.Add(m.Secret)
			members = append(members, m)
		}
		gate := &pool.Gate{HTTP: fleet.LoggedHTTP(deps.Client(), fleet.LogFrom(ctx)), Checks: fleet.HealthChecks(&inventory.Pool{}, deps), Version: fleet.ReleaseReader(inv, grp, byGroup[gname], deps)}
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

// writeSoloStatus prints the nodes in no pool as one table, then each
// unhealthy node's problems.
func writeSoloStatus(w io.Writer, nodes []statusNodeV1) {
	healthy := 0
	for _, n := range nodes {
		if n.Healthy {
			healthy++
		}
	}
	fmt.Fprintf(w, "nodes in no pool: %d, %d healthy\n", len(nodes), healthy)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPROVIDER\tADDRESS\tBBB\tMEETINGS\tUSERS\tTLS EXPIRY\tLAST CONVERGE\tHEALTH")
	for _, n := range nodes {
		health := "ok"
		if !n.Healthy {
			health = "UNHEALTHY"
		}
		fmt.Fprintln(tw, strings.Join([]string{n.Node, n.Provider, dash(n.Address), dash(n.BBBVersion),
			intOr(n.Meetings), intOr(n.Users), timeOr(n.TLSExpires, "2006-01-02"), timeOr(n.LastConverge, "2006-01-02 15:04Z"), health}, "\t"))
	}
	tw.Flush()
	for _, n := range nodes {
		for _, pr := range n.Problems {
			fmt.Fprintf(w, "  %s: %s\n", n.Node, pr)
		}
	}
}
