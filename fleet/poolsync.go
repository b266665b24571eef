package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/omc-coop/omc/internal/event"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/scalelite"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/provision/roles"
)

// SyncAfterUp is the pool step of omc up: for every group with a pool
// among the converged nodes, the nodes that converged are registered and
// enabled once healthy (pool.Sync with the gate). It records the last
// converge of each node, reports each pool change (deps.Change), and
// fails when a pool cannot be reached or a node was left out.
func SyncAfterUp(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, results []provision.Result, deps *PoolDeps) error {
	_, err := syncPools(ctx, inv, nodes, results, deps, false)
	return err
}

// PlanPools is the pool step of omc plan: what SyncAfterUp would do for
// the nodes that are converged already (those with changes pending are
// decided after up), as a dry run that changes no pool. It returns how
// many pool changes are pending; a node the gate would leave out is
// reported, not counted.
func PlanPools(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, results []provision.Result, deps *PoolDeps) (int, error) {
	return syncPools(ctx, inv, nodes, results, deps, true)
}

func syncPools(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, results []provision.Result, deps *PoolDeps, dry bool) (int, error) {
	converged := map[string]bool{}
	var done []string
	for _, r := range results {
		switch {
		case r.Failed():
		case !dry:
			converged[r.Host] = true
			done = append(done, r.Host)
		case r.Changed == 0:
			converged[r.Host] = true
		}
	}
	// One read and one write of the file for the whole run: once per
	// host, 200 hosts cost 200 rewrites of a 200-entry file.
	RecordConverge(inv, time.Now(), done...)
	return SyncGroups(ctx, inv, nodes, func(n *inventory.Node) bool { return converged[n.Name] }, deps, dry)
}

// SyncGroups syncs the pool of every group among nodes with those of its
// bbb nodes that include admits (pool.Sync with the gate), reporting each
// change. It returns how many changes are pending (a node the gate
// leaves out is reported, not counted) and fails when a pool cannot be
// reached or a node was left out other than by an operator's drain.
func SyncGroups(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, include func(*inventory.Node) bool, deps *PoolDeps, dry bool) (int, error) {
	pending := 0
	byGroup, order := GroupNodes(nodes)
	red := Redactor(ctx, PoolSecrets(inv)...)
	var problems []string
	for _, name := range order {
		grp := inv.Group(name)
		if grp.Pool == nil {
			continue
		}
		var want []string
		for _, n := range byGroup[name] {
			if include(n) && slices.Contains(n.Roles, roles.RoleBBB) {
				want = append(want, n.Name)
			}
		}
		if len(want) == 0 {
			continue
		}
		fp, err := OpenPool(ctx, inv, grp, deps, red)
		if err != nil {
			problems = append(problems, fmt.Sprintf("pool %s: %s", name, red.String(err.Error())))
			continue
		}
		if !dry && startsHere(byGroup[name], include) {
			waitStarted(ctx, fp.API, deps.startWait())
		}
		var ms []pool.Member
		for _, m := range fp.Members {
			if slices.Contains(want, m.Node) {
				ms = append(ms, m)
			}
		}
		rep, err := pool.Sync(ctx, fp.API, ms, pool.SyncOptions{Gate: fp.Gate, Holds: fp.Holds, DryRun: dry})
		fp.Close()
		if rep != nil {
			for _, c := range rep.Changes {
				deps.ReportChange(red, name, c)
			}
			held := rep.Held()
			pending += rep.Pending()
			for _, h := range held {
				if _, operator := fp.Holds.Held(h.Node); !operator && !dry {
					problems = append(problems, fmt.Sprintf("%s not enabled in pool %s: %s", h.Node, name, red.String(h.Detail)))
				}
			}
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("pool %s: %s", name, red.String(err.Error())))
		}
	}
	if len(problems) > 0 {
		return pending, errors.New(strings.Join(problems, "\n"))
	}
	return pending, nil
}

// ReportChange reports pool change c of group's pool to d.Change, its
// detail masked with red.
func (d *PoolDeps) ReportChange(red *redact.Redactor, group string, c pool.Change) {
	if d == nil || d.Change == nil {
		return
	}
	d.Change(event.Pool{V: event.Version, Type: "pool", Pool: group, Node: c.Node, Action: c.Action, Detail: red.String(c.Detail)})
}

// startsHere: a scalelite node omc runs is among the nodes this run
// converged, so its Scalelite may still be starting.
func startsHere(nodes []*inventory.Node, include func(*inventory.Node) bool) bool {
	return slices.ContainsFunc(nodes, func(n *inventory.Node) bool {
		return include(n) && roles.RunsScalelite(n)
	})
}

// waitStarted asks the pool for its servers until it answers with
// anything but what a Scalelite still starting answers (scalelite.Starting),
// for at most max; the sync that follows reports whatever is left.
func waitStarted(ctx context.Context, api pool.Pool, max time.Duration) {
	deadline := time.Now().Add(max)
	for {
		_, err := api.List(ctx)
		if err == nil || !scalelite.Starting(err) || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

func (d *PoolDeps) startWait() time.Duration {
	if d != nil && d.StartWait > 0 {
		return d.StartWait
	}
	return 3 * time.Minute
}
