package pool_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/pool"
)

var fastDrain = pool.DrainOptions{Timeout: 10 * time.Second, Poll: 5 * time.Millisecond}

func TestRollingUpgradeStopsAtTheFirstFailureLeavingTheOthersServing(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 4)
	if _, err := pool.Sync(ctx, r.p, r.members, pool.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	// bbb-4 carries a meeting: it is the most loaded, so the last to go.
	r.bbb.Node("bbb-4").CreateMeetingAt("class", 5, 1, time.Now().Add(-time.Hour))
	r.sl.Poll(ctx)
	r.sl.StartPoller(t, 5*time.Millisecond)

	var mu sync.Mutex
	var upgraded []string
	upgrade := func(_ context.Context, b []pool.Member) map[string]error {
		mu.Lock()
		defer mu.Unlock()
		errs := map[string]error{}
		for _, m := range b {
			upgraded = append(upgraded, m.Node)
			if s := r.state(t, m.Node); s.State != pool.Disabled {
				errs[m.Node] = fmt.Errorf("upgraded while %s", s.State)
			}
			// bbb-2's upgrade "succeeds" but BBB comes back at the old
			// version: only the health check can tell.
			if m.Node != "bbb-2" {
				r.bbb.Node(m.Node).SetVersion("3.0.5")
			}
		}
		return errs
	}
	rep, err := pool.RollingUpgrade(ctx, r.p, r.members, pool.UpgradeOptions{To: "3.0.5", Batch: 1, Drain: fastDrain, Upgrade: upgrade})
	if err == nil || !strings.Contains(err.Error(), "bbb-2: health check: bbbVersion is 3.0.4, expected 3.0.5") {
		t.Fatalf("got %v", err)
	}
	if strings.Join(upgraded, " ") != "bbb-1 bbb-2" {
		t.Fatalf("upgraded %v", upgraded)
	}
	if strings.Join(rep.Upgraded, " ") != "bbb-1" || strings.Join(rep.Untouched, " ") != "bbb-3 bbb-4" {
		t.Fatalf("report: %+v", rep)
	}
	for node, want := range map[string]string{"bbb-1": pool.Enabled, "bbb-2": pool.Disabled, "bbb-3": pool.Enabled, "bbb-4": pool.Enabled} {
		if s := r.state(t, node); s.State != want {
			t.Errorf("%s is %s, want %s", node, s.State, want)
		}
	}
	if len(r.bbb.Node("bbb-4").Meetings()) != 1 {
		t.Fatal("the meeting on an untouched node ended")
	}

	// Fixed and rerun: bbb-1 is skipped, bbb-2 (now at the version and
	// healthy) only enabled, the rest go two by two, bbb-4 only once its
	// meeting ended.
	r.bbb.Node("bbb-2").SetVersion("3.0.5")
	ended := background(t, func() error {
		if err := until(func() (bool, error) { s, err := r.lookup("bbb-4"); return s.State == pool.Cordoned, err }); err != nil {
			return fmt.Errorf("bbb-4 cordoned: %w", err)
		}
		r.bbb.Node("bbb-4").EndMeeting("class")
		return nil
	})
	upgraded = nil
	rep, err = pool.RollingUpgrade(ctx, r.p, r.members, pool.UpgradeOptions{To: "3.0.5", Batch: 2, Drain: fastDrain, Upgrade: upgrade})
	if err != nil {
		t.Fatal(err)
	}
	ended()
	if strings.Join(rep.Skipped, " ") != "bbb-1 bbb-2" || strings.Join(rep.Upgraded, " ") != "bbb-3 bbb-4" || strings.Join(upgraded, " ") != "bbb-3 bbb-4" {
		t.Fatalf("rerun: %+v", rep)
	}
	for _, m := range r.members {
		if s := r.state(t, m.Node); s.State != pool.Enabled {
			t.Errorf("%s is %s", m.Node, s.State)
		}
	}
}

func TestRollingUpgradeHookFailure(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 2)
	pool.Sync(ctx, r.p, r.members, pool.SyncOptions{})
	r.sl.StartPoller(t, 5*time.Millisecond)
	rep, err := pool.RollingUpgrade(ctx, r.p, r.members, pool.UpgradeOptions{To: "3.0.5", Drain: fastDrain,
		Upgrade: func(_ context.Context, b []pool.Member) map[string]error {
			return map[string]error{b[0].Node: errors.New("apt-get: unable to locate package")}
		}})
	if err == nil || len(rep.Untouched) != 1 || r.state(t, "bbb-1").State != pool.Disabled || r.state(t, "bbb-2").State != pool.Enabled {
		t.Fatalf("%v %+v", err, rep)
	}
}

func TestScaleThreeToFiveToTwoWithMeetings(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 3)
	pool.Sync(ctx, r.p, r.members, pool.SyncOptions{})
	r.sl.StartPoller(t, 5*time.Millisecond)

	var mu sync.Mutex
	var violations []string
	destroyed := map[string]bool{}
	opts := pool.ScaleOptions{
		Drain: fastDrain,
		Create: func(_ context.Context, names []string) ([]pool.Member, error) {
			var ms []pool.Member
			for _, n := range names {
				ms = append(ms, r.addNode(n, "3.0.4"))
			}
			return ms, nil
		},
		Destroy: func(_ context.Context, m pool.Member) error {
			mu.Lock()
			defer mu.Unlock()
			if n := len(r.bbb.Node(m.Node).Meetings()); n > 0 {
				violations = append(violations, fmt.Sprintf("%s deleted with %d meeting(s)", m.Node, n))
			}
			if _, ok := r.sl.ServerByURL(m.URL); ok {
				violations = append(violations, m.Node+" deleted while registered")
			}
			destroyed[m.Node] = true
			r.bbb.RemoveNode(m.Node)
			return nil
		},
	}

	// 3 → 5
	opts.Add = []string{"bbb-4", "bbb-5"}
	rep, err := pool.Scale(ctx, r.p, opts)
	if err != nil || strings.Join(rep.Added, " ") != "bbb-4 bbb-5" {
		t.Fatalf("scale up: %v %+v", err, rep)
	}
	r.members = append(r.members, pool.Member{Node: "bbb-4", URL: r.bbb.Node("bbb-4").URL}, pool.Member{Node: "bbb-5", URL: r.bbb.Node("bbb-5").URL})
	for _, m := range r.members {
		if s := r.state(t, m.Node); s.State != pool.Enabled {
			t.Fatalf("%s is %s", m.Node, s.State)
		}
	}

	// Meetings everywhere but bbb-4, then 5 → 2: the three least loaded go.
	old := time.Now().Add(-time.Hour)
	for node, users := range map[string]int{"bbb-1": 20, "bbb-2": 3, "bbb-3": 8, "bbb-5": 1} {
		r.bbb.Node(node).CreateMeetingAt("m-"+node, users, 0, old)
	}
	waitFor(t, func() bool {
		l := 0.0
		for _, s := range r.sl.Servers() {
			l += s.Load
		}
		return l == 32
	})
	remove := pool.LeastLoaded(r.members, r.sl.Servers())[:3]
	var names []string
	for _, m := range remove {
		names = append(names, m.Node)
	}
	if strings.Join(names, " ") != "bbb-4 bbb-5 bbb-2" {
		t.Fatalf("least loaded: %v", names)
	}
	// The meetings on bbb-5 and bbb-2 end only a while after the nodes
	// are cordoned.
	ended := background(t, func() error {
		for _, n := range []string{"bbb-5", "bbb-2"} {
			if err := until(func() (bool, error) { s, err := r.lookup(n); return s.State == pool.Cordoned, err }); err != nil {
				return fmt.Errorf("%s cordoned: %w", n, err)
			}
			// A while for a wrong Scale to delete the node anyway.
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			if destroyed[n] {
				violations = append(violations, n+" deleted before its meeting ended")
			}
			mu.Unlock()
			r.bbb.Node(n).EndMeeting("m-" + n)
		}
		return nil
	})
	opts.Add, opts.Remove = nil, remove
	rep, err = pool.Scale(ctx, r.p, opts)
	if err != nil || strings.Join(rep.Removed, " ") != "bbb-4 bbb-5 bbb-2" {
		t.Fatalf("scale down: %v %+v", err, rep)
	}
	ended()
	if len(violations) > 0 {
		t.Fatal(strings.Join(violations, "\n"))
	}
	l := r.sl.Servers()
	if len(l) != 2 {
		t.Fatalf("pool: %+v", l)
	}
	for _, n := range []string{"bbb-1", "bbb-3"} {
		if s := r.state(t, n); s.State != pool.Enabled || len(r.bbb.Node(n).Meetings()) != 1 {
			t.Fatalf("%s: %+v", n, s)
		}
	}
}

func TestScaleDownStopsWhenANodeWillNotDrain(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 2)
	pool.Sync(ctx, r.p, r.members, pool.SyncOptions{})
	r.bbb.Node("bbb-2").CreateMeetingAt("forever", 4, 1, time.Now().Add(-time.Hour))
	r.sl.StartPoller(t, 5*time.Millisecond)
	waitFor(t, func() bool { return r.state(t, "bbb-2").Load == 5 })
	deleted := false
	_, err := pool.Scale(ctx, r.p, pool.ScaleOptions{Remove: r.members[1:], Drain: pool.DrainOptions{Timeout: 50 * time.Millisecond, Poll: 5 * time.Millisecond},
		Destroy: func(context.Context, pool.Member) error { deleted = true; return nil }})
	var te *pool.DrainTimeoutError
	if !errors.As(err, &te) || deleted || r.state(t, "bbb-2").State != pool.Cordoned || len(r.bbb.Node("bbb-2").Meetings()) != 1 {
		t.Fatalf("%v deleted=%v %+v", err, deleted, r.state(t, "bbb-2"))
	}
}

func TestCapacityModel(t *testing.T) {
	for _, tt := range []struct {
		c     pool.Capacity
		users int
		n     int
		why   string
	}{
		{pool.DefaultCapacity(), 1000, 6, "1000 users + 20% headroom = 1200, at 200 users per node = 6 node(s)"},
		{pool.Capacity{UsersPerNode: 150, HeadroomPercent: 0}, 301, 3, "301 users + 0% headroom = 301, at 150 users per node = 3 node(s)"},
		{pool.Capacity{HeadroomPercent: 20, MinNodes: 2}, 10, 2, "10 users + 20% headroom = 12, at 200 users per node = 1 node(s), raised to min_nodes 2"},
		{pool.Capacity{HeadroomPercent: 20, MaxNodes: 4}, 5000, 4, "5000 users + 20% headroom = 6000, at 200 users per node = 30 node(s), capped at max_nodes 4: the pool cannot carry all of them"},
	} {
		n, why := tt.c.NodesFor(tt.users)
		if n != tt.n || why != tt.why {
			t.Errorf("%+v %d: %d %q", tt.c, tt.users, n, why)
		}
	}
}

// background runs fn on its own goroutine; the returned wait reports
// fn's error on the test's goroutine (t.Fatal must not be called from
// another one).
func background(t *testing.T, fn func() error) (wait func()) {
	errc := make(chan error, 1)
	go func() { errc <- fn() }()
	return func() {
		t.Helper()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// until polls ok until it holds, fails, or 10 s have passed.
func until(ok func() (bool, error)) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		done, err := ok()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return errors.New("timed out waiting")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// lookup is rig.state for goroutines other than the test's.
func (r *rig) lookup(node string) (pool.Server, error) {
	for _, m := range r.members {
		if m.Node == node {
			if s, ok := r.sl.ServerByURL(m.URL); ok {
				return s, nil
			}
			return pool.Server{}, fmt.Errorf("%s is not registered", node)
		}
	}
	return pool.Server{}, fmt.Errorf("no member %s", node)
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
