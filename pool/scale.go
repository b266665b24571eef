package pool

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Capacity is the per-node capacity model of omc scale --for-users:
//
//	nodes = ceil(users × (100 + headroom%) / 100 / users_per_node),
//	then at least min_nodes and at most max_nodes.
//
// The default of 200 users per node is BBB's own figure for a server
// that meets its minimum specification (BBB FAQ: "about 200 simultaneous
// users", e.g. 3 meetings of 50 or 6 of 25); weaker or stronger servers
// set their own, and set load_multiplier to match so Scalelite places
// meetings by the same measure.
type Capacity struct {
	UsersPerNode    int // 0 means DefaultUsersPerNode
	HeadroomPercent int
	MinNodes        int // 0 means 1
	MaxNodes        int // 0: no limit
}

// The model's defaults, as DefaultCapacity has them.
const (
	DefaultUsersPerNode = 200
	DefaultHeadroom     = 20
)

// DefaultCapacity is the model with its defaults: 200 users per node,
// 20% headroom, at least one node, no maximum.
func DefaultCapacity() Capacity {
	return Capacity{UsersPerNode: DefaultUsersPerNode, HeadroomPercent: DefaultHeadroom, MinNodes: 1}
}

func (c Capacity) withDefaults() Capacity {
	if c.UsersPerNode <= 0 {
		c.UsersPerNode = DefaultUsersPerNode
	}
	c.HeadroomPercent = max(c.HeadroomPercent, 0)
	c.MinNodes = max(c.MinNodes, 1)
	return c
}

// NodesFor says how many nodes carry users concurrent users, and how
// that was reached, for the plan.
func (c Capacity) NodesFor(users int) (int, string) {
	c = c.withDefaults()
	need := users * (100 + c.HeadroomPercent)
	per := c.UsersPerNode * 100
	n := (need + per - 1) / per
	why := fmt.Sprintf("%d users + %d%% headroom = %d, at %d users per node = %d node(s)",
		users, c.HeadroomPercent, (need+99)/100, c.UsersPerNode, n)
	if n < c.MinNodes {
		n = c.MinNodes
		why += fmt.Sprintf(", raised to min_nodes %d", n)
	}
	if c.MaxNodes > 0 && n > c.MaxNodes {
		n = c.MaxNodes
		why += fmt.Sprintf(", capped at max_nodes %d: the pool cannot carry all of them", n)
	}
	return n, why
}

// LeastLoaded orders members by their server's load, least first (nodes
// Scalelite knows nothing of, and offline ones, first of all); ties keep
// their order.
func LeastLoaded(ms []Member, servers []Server) []Member {
	load := func(m Member) float64 {
		l := FindByURL(servers, m.URL)
		if len(l) == 0 || !l[0].LoadKnown {
			return -1
		}
		return l[0].Load
	}
	out := append([]Member(nil), ms...)
	sort.SliceStable(out, func(i, j int) bool { return load(out[i]) < load(out[j]) })
	return out
}

// ScaleOptions say how to change a pool's size. The caller decides which
// nodes to add and remove (LeastLoaded helps) and supplies the steps that
// make and delete machines.
type ScaleOptions struct {
	Add    []string
	Remove []Member
	// Create makes the named nodes' machines, converges them, and returns
	// them as members.
	Create func(ctx context.Context, names []string) ([]Member, error)
	// Destroy deletes a removed node's machine; it runs only after the
	// node was drained and deregistered.
	Destroy func(ctx context.Context, m Member) error
	Gate    *Gate
	Holds   Holds
	Drain   DrainOptions
	// Progress is told each step as it happens.
	Progress func(Change)
}

// ScaleReport says what Scale did.
type ScaleReport struct {
	Added   []string // made, registered and enabled
	Held    []Change // made and registered, but failing the health gate
	Removed []string // drained, deregistered and deleted
	Changes []Change
}

// Scale grows or shrinks a pool. New nodes are made (Create), registered
// and enabled once healthy (Sync). Removed nodes are all cordoned at once
// so no new meeting lands on them, each drained until Scalelite reports it
// disabled (its meetings ended by themselves; Force in Drain ends them at
// the deadline), then deregistered, then deleted (Destroy), in the order
// given. A node is never deleted while it may still hold a meeting.
func Scale(ctx context.Context, p Pool, o ScaleOptions) (*ScaleReport, error) {
	rep := &ScaleReport{}
	var mu sync.Mutex
	note := func(c Change) {
		mu.Lock()
		defer mu.Unlock()
		rep.Changes = append(rep.Changes, c)
		if o.Progress != nil {
			o.Progress(c)
		}
	}
	if len(o.Add) > 0 {
		for _, n := range o.Add {
			note(Change{Node: n, Action: "create", Detail: "machine made and converged"})
		}
		ms, err := o.Create(ctx, o.Add)
		if err != nil {
			return rep, fmt.Errorf("making %s: %w", strings.Join(o.Add, ", "), err)
		}
		srep, err := Sync(ctx, p, ms, SyncOptions{Gate: o.Gate, Holds: o.Holds})
		if srep != nil {
			for _, c := range srep.Changes {
				note(c)
			}
			rep.Held = srep.Held()
		}
		if err != nil {
			return rep, err
		}
		held := map[string]bool{}
		for _, c := range rep.Held {
			held[c.Node] = true
		}
		for _, m := range ms {
			if !held[m.Node] {
				rep.Added = append(rep.Added, m.Node)
			}
		}
		if len(rep.Held) > 0 {
			var l []string
			for _, c := range rep.Held {
				l = append(l, c.Node+": "+c.Detail)
			}
			return rep, fmt.Errorf("new nodes not enabled: %s", strings.Join(l, "; "))
		}
	}
	if len(o.Remove) == 0 {
		return rep, nil
	}
	servers, err := p.List(ctx)
	if err != nil {
		return rep, err
	}
	// Cordon them all first, so none takes a new meeting while another
	// drains; then wait for each.
	drained := make([]error, len(o.Remove))
	var wg sync.WaitGroup
	for i, m := range o.Remove {
		regs := FindByURL(servers, m.URL)
		note(Change{Node: m.Node, Action: "drain", Detail: "cordoned; waiting for its meetings to end"})
		for _, s := range regs {
			if s.State == Enabled {
				if _, err := p.Update(ctx, s.ID, ServerUpdate{State: Cordon}); err != nil {
					return rep, fmt.Errorf("%s: %w", m.Node, err)
				}
			}
		}
		wg.Go(func() {
			od := o.Drain
			od.Member = &m
			for _, s := range regs {
				if _, err := Drain(ctx, p, s.ID, od); err != nil {
					drained[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	var errs []error
	for i, m := range o.Remove {
		if drained[i] != nil {
			// Stop here: later nodes are only removed in order.
			errs = append(errs, fmt.Errorf("%s: %w", m.Node, drained[i]))
			break
		}
		for _, s := range FindByURL(servers, m.URL) {
			if err := p.Delete(ctx, s.ID); err != nil && !errors.Is(err, ErrNotFound) {
				return rep, fmt.Errorf("%s: deregistering: %w", m.Node, err)
			}
		}
		note(Change{Node: m.Node, Action: "deregister", Detail: "removed from the pool"})
		if err := o.Destroy(ctx, m); err != nil {
			return rep, fmt.Errorf("%s: deleting the machine: %w", m.Node, err)
		}
		note(Change{Node: m.Node, Action: "delete", Detail: "machine deleted"})
		rep.Removed = append(rep.Removed, m.Node)
	}
	if len(errs) > 0 {
		return rep, fmt.Errorf("scale stopped (the nodes still draining stay cordoned; run the same omc scale again to continue): %w", errors.Join(errs...))
	}
	return rep, nil
}
