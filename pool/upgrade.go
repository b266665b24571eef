package pool

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// UpgradeOptions tune RollingUpgrade.
type UpgradeOptions struct {
	// To is the bbbVersion every node must report afterwards.
	To string
	// Batch is how many nodes are out at once (default 1).
	Batch int
	Drain DrainOptions
	Gate  *Gate
	Holds Holds
	// Upgrade changes the nodes of one batch (installs version To and
	// converges them) and returns the nodes it failed on, with why.
	Upgrade func(ctx context.Context, batch []Member) map[string]error
	// Progress is told each step as it happens.
	Progress func(Change)
}

// UpgradeReport says how far a rolling upgrade got.
type UpgradeReport struct {
	Upgraded  []string // drained, upgraded, healthy, back in service
	Skipped   []string // already at the version and healthy
	Failed    map[string]string
	Untouched []string // never drained: the upgrade stopped before them
	Changes   []Change
}

// RollingUpgrade upgrades the members batch by batch: drain (cordon,
// wait until Scalelite reports the batch disabled), upgrade, health-check
// against the new version, enable. Nodes already at the version and
// healthy are skipped. It stops after the first batch with a failure: the
// nodes that failed stay out of service with the reason, the nodes of
// later batches are not touched, and the rest keep serving.
func RollingUpgrade(ctx context.Context, p Pool, members []Member, o UpgradeOptions) (*UpgradeReport, error) {
	rep := &UpgradeReport{Failed: map[string]string{}}
	note := func(node, action, format string, a ...any) {
		c := Change{Node: node, Action: action, Detail: fmt.Sprintf(format, a...)}
		rep.Changes = append(rep.Changes, c)
		if o.Progress != nil {
			o.Progress(c)
		}
	}
	gate := o.Gate
	if gate == nil {
		gate = &Gate{}
	}
	batch := max(o.Batch, 1)
	servers, err := p.List(ctx)
	if err != nil {
		return nil, err
	}
	ids := map[string]Server{}
	for _, m := range members {
		l := FindByURL(servers, m.URL)
		if len(l) != 1 {
			return nil, fmt.Errorf("%s is registered %d times in the pool; run omc pool sync first", m.Node, len(l))
		}
		ids[m.Node] = l[0]
	}
	// Already done?
	target := make([]Member, len(members))
	for i, m := range members {
		m.ExpectVersion = o.To
		target[i] = m
	}
	now := gate.CheckAll(ctx, target)
	var todo []Member
	for _, m := range target {
		h := now[m.Node]
		if !h.OK || h.BBBVersion != o.To {
			todo = append(todo, m)
			continue
		}
		rep.Skipped = append(rep.Skipped, m.Node)
		s := ids[m.Node]
		held := false
		if o.Holds != nil {
			_, held = o.Holds.Held(m.Node)
		}
		if s.State == Enabled || held {
			note(m.Node, "skip", "already at %s and healthy", o.To)
			continue
		}
		// Left out by an earlier run that failed after upgrading it.
		if _, err := p.Update(ctx, s.ID, ServerUpdate{State: Enable}); err != nil {
			return rep, fmt.Errorf("%s: %w", m.Node, err)
		}
		note(m.Node, "enable", "already at %s and healthy", o.To)
	}
	// The least loaded drain fastest.
	sort.SliceStable(todo, func(i, j int) bool { return ids[todo[i].Node].Load < ids[todo[j].Node].Load })

	for start := 0; start < len(todo); start += batch {
		b := todo[start:min(start+batch, len(todo))]
		failed := upgradeBatch(ctx, p, b, ids, gate, o, note)
		for n, why := range failed {
			rep.Failed[n] = why
		}
		for _, m := range b {
			if _, bad := failed[m.Node]; !bad {
				rep.Upgraded = append(rep.Upgraded, m.Node)
			}
		}
		if len(failed) > 0 {
			for _, m := range todo[start+len(b):] {
				rep.Untouched = append(rep.Untouched, m.Node)
			}
			names := make([]string, 0, len(failed))
			for n := range failed {
				names = append(names, n)
			}
			sort.Strings(names)
			var parts []string
			for _, n := range names {
				parts = append(parts, n+": "+failed[n])
			}
			return rep, fmt.Errorf("upgrade stopped: %s; %d node(s) not touched", strings.Join(parts, "; "), len(rep.Untouched))
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// upgradeBatch runs one batch and returns the nodes that failed.
func upgradeBatch(ctx context.Context, p Pool, b []Member, ids map[string]Server, gate *Gate, o UpgradeOptions, note func(node, action, format string, a ...any)) map[string]string {
	failed := map[string]string{}
	var mu sync.Mutex
	fail := func(n, why string) { mu.Lock(); failed[n] = why; mu.Unlock() }

	// Drain the whole batch at once.
	var wg sync.WaitGroup
	for _, m := range b {
		note(m.Node, "drain", "cordoned; waiting for its meetings to end")
		wg.Go(func() {
			od := o.Drain
			od.Member = &m
			if _, err := Drain(ctx, p, ids[m.Node].ID, od); err != nil {
				fail(m.Node, "drain: "+err.Error())
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		// Nothing was upgraded: put the batch back as it was, so only
		// the node that would not drain is reported.
		for _, m := range b {
			if ids[m.Node].State == Enabled {
				if _, err := p.Update(ctx, ids[m.Node].ID, ServerUpdate{State: Enable}); err == nil {
					note(m.Node, "enable", "back in service unchanged (the batch could not drain)")
				}
			}
		}
		return failed
	}
	var up []Member
	for _, m := range b {
		note(m.Node, "upgrade", "to %s", o.To)
		up = append(up, m)
	}
	for n, err := range o.Upgrade(ctx, up) {
		if err != nil {
			fail(n, "upgrade: "+err.Error())
		}
	}
	for _, m := range b {
		if why, bad := failed[m.Node]; bad {
			note(m.Node, "hold", "left disabled: %s", why)
			continue
		}
		h := gate.Check(ctx, m)
		if !h.OK {
			fail(m.Node, "health check: "+strings.Join(h.Problems, "; "))
			note(m.Node, "hold", "left disabled: %s", h.Reason())
			continue
		}
		if o.Holds != nil {
			if reason, held := o.Holds.Held(m.Node); held {
				note(m.Node, "hold", "upgraded and healthy, left out: drained by an operator (%s)", reason)
				continue
			}
		}
		if _, err := p.Update(ctx, ids[m.Node].ID, ServerUpdate{State: Enable}); err != nil {
			fail(m.Node, "enable: "+err.Error())
			continue
		}
		note(m.Node, "enable", "healthy at %s", h.BBBVersion)
	}
	return failed
}
