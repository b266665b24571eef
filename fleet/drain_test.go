package fleet

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/event"
	"github.com/omc-coop/omc/pool"
)

// Drain, enable and remove against a FAKE Scalelite return the node's
// place in the pool as a NodeResult and report through events only:
// the drain's states as event.Drain, the pool changes as event.Pool.
func TestNodeDrainEnableRemove(t *testing.T) {
	r := newOpsRig(t, opsStaticNodes)
	r.node("bbb-1", "3.0.4")
	r.node("bbb-2", "3.0.4").CreateMeetingAt("class", 5, 1, time.Now().Add(-time.Hour))
	var changes []event.Pool
	var drains []event.Drain
	r.deps.Change = func(e event.Pool) { changes = append(changes, e) }
	ctx := context.Background()
	open := func(node string, timeout time.Duration, force bool) *PoolNode {
		t.Helper()
		pn, err := OpenNode(ctx, r.load(), NodeOptions{Node: node, Timeout: timeout, Force: force, Deps: r.deps,
			Progress: func(e event.Drain) { drains = append(drains, e) }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pn.Close)
		return pn
	}

	// Enable registers a node Scalelite lacks and enables it.
	for _, n := range []string{"bbb-1", "bbb-2"} {
		res, err := open(n, 0, false).Enable(ctx)
		if err != nil || res.Node != n || res.Action != "enable" || res.Server.State != pool.Enabled {
			t.Fatalf("enable %s: %+v %v", n, res, err)
		}
	}
	if len(changes) != 4 || changes[0].Action != "add" || changes[1].Action != "enable" || changes[0].Pool != "eu" {
		t.Fatalf("enable changes %+v", changes)
	}
	r.sl.StartPoller(t, 5*time.Millisecond)
	waitFor(t, func() bool { return r.state("bbb-2").Online && r.state("bbb-2").Load == 6 && r.state("bbb-1").Online })

	// A meeting that does not end: the drain gives up, held and cordoned.
	pn := open("bbb-2", 30*time.Millisecond, false)
	sv, err := pn.Server(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pn.Drain(ctx, sv)
	var te *pool.DrainTimeoutError
	if !errors.As(err, &te) || !strings.HasSuffix(err.Error(), "; it stays cordoned") || r.state("bbb-2").State != pool.Cordoned {
		t.Fatalf("drain timeout: %v, %+v", err, r.state("bbb-2"))
	}
	if held, ok := pn.Pool.Holds.Held("bbb-2"); !ok || !strings.HasPrefix(held, "omc drain by ") {
		t.Fatalf("hold %q %v", held, ok)
	}
	if len(drains) == 0 || drains[0] != (event.Drain{Pool: "eu", Node: "bbb-2", State: pool.Cordoned, Load: "6"}) {
		t.Fatalf("drain events %+v", drains)
	}
	for i := 1; i < len(drains); i++ {
		if drains[i] == drains[i-1] {
			t.Fatalf("drain event repeated: %+v", drains)
		}
	}

	// --force ends it; the node ends disabled.
	drains = nil
	pn = open("bbb-2", 0, true)
	sv, _ = pn.Server(ctx)
	res, err := pn.Drain(ctx, sv)
	if err != nil || res.Action != "drain" || res.Server.State != pool.Disabled || len(r.bbb.Node("bbb-2").Meetings()) != 0 {
		t.Fatalf("forced drain: %+v %v", res, err)
	}

	// Remove: drained and deregistered, registered before; once gone,
	// a second remove finds nothing to do and says so.
	changes = nil
	res, err = open("bbb-1", 10*time.Second, false).Remove(ctx)
	if err != nil || !res.Registered || res.Server != (pool.Server{}) || r.state("bbb-1").State != "absent" {
		t.Fatalf("remove: %+v %v %+v", res, err, r.state("bbb-1"))
	}
	res, err = open("bbb-1", time.Second, false).Remove(ctx)
	if err != nil || res.Registered || len(changes) != 2 || !strings.HasPrefix(changes[1].Detail, "not registered in the pool") {
		t.Fatalf("second remove: %+v %v %+v", res, err, changes)
	}
	if st, err := open("bbb-1", 0, false).State(ctx); err != nil || st != "absent" {
		t.Fatalf("state %q %v", st, err)
	}
}
