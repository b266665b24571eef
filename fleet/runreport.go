package fleet

import (
	"context"
	"log/slog"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
)

// What follows a Convergence's Run, for up, plan and rebuild alike.

// EventLog writes each engine event to the run's debug log, failures
// at error level.
func EventLog(log *slog.Logger) provision.Observer {
	return provision.ObserverFunc(func(e provision.Event) {
		level := slog.LevelInfo
		if e.Status == "failed" {
			level = slog.LevelError
		}
		log.Log(context.Background(), level, "event", "host", e.Host, "type", e.Type, "step", e.Step, "status", e.Status, "summary", e.Summary, "error", e.Error, "ms", e.DurationMS)
	})
}

// Pools is the pool step after Run. Up: the bbb nodes that converged
// join their group's pool once they pass its health gate (SyncAfterUp).
// Plan: what that would change, for the nodes converged already
// (PlanPools), with how many changes are pending.
func (c *Convergence) Pools(ctx context.Context, inv *inventory.Inventory, results []provision.Result, deps *PoolDeps) (int, error) {
	if c.o.Mode == provision.Apply {
		return 0, SyncAfterUp(ctx, inv, c.nodes, results, deps)
	}
	return PlanPools(ctx, inv, c.nodes, results, deps)
}

// ReportMissing tells obs that each node a plan found no machine for is
// pending as a whole (a provider will make it), and returns results
// with one for each.
func (c *Convergence) ReportMissing(obs provision.Observer, results []provision.Result) []provision.Result {
	for _, n := range c.Missing {
		obs.Event(provision.Event{V: provision.EventVersion, Type: "host", Host: n.Name, Status: "pending",
			Summary: "machine will be created by provider " + n.Provider})
		results = append(results, provision.Result{Host: n.Name, Changed: 1})
	}
	return results
}
