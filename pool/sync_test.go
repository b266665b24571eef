package pool_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/fake"
	"github.com/omc-coop/omc/pool/scalelite"
)

const lbSecret = "lb-secret-never-shown-0123456789abcdef"

type rig struct {
	sl      *fake.Scalelite
	bbb     *fake.BBB
	p       pool.Pool
	members []pool.Member
}

// newRig makes n fake BBB nodes, each running with the secret the
// inventory would register, and an empty fake Scalelite.
func newRig(t *testing.T, n int) *rig {
	r := &rig{sl: fake.NewScalelite(t, lbSecret), bbb: fake.NewBBB(t)}
	r.p = &scalelite.Client{URL: r.sl.URL, Secret: lbSecret}
	for i := 1; i <= n; i++ {
		r.members = append(r.members, r.addNode(fmt.Sprintf("bbb-%d", i), "3.0.4"))
	}
	return r
}

func (r *rig) addNode(name, version string) pool.Member {
	secret := "secret-of-" + name
	// A node omc converged: allowRevealOfBBBVersion=true.
	n := r.bbb.AddNode(name, secret, version).RevealVersion(true)
	return pool.Member{Node: name, URL: n.URL, Secret: secret, ExpectVersion: "3.0"}
}

func (r *rig) state(t *testing.T, node string) pool.Server {
	t.Helper()
	for _, m := range r.members {
		if m.Node == node {
			s, ok := r.sl.ServerByURL(m.URL)
			if !ok {
				t.Fatalf("%s is not registered", node)
			}
			return s
		}
	}
	t.Fatalf("no member %s", node)
	return pool.Server{}
}

func actions(rep *pool.SyncReport) string {
	var l []string
	for _, c := range rep.Changes {
		l = append(l, c.Node+":"+c.Action)
	}
	return strings.Join(l, " ")
}

func TestSyncRegistersAGroupAndASecondRunWritesNothing(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 3)
	rep, err := pool.Sync(ctx, r.p, r.members, pool.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(rep); got != "bbb-1:add bbb-1:enable bbb-2:add bbb-2:enable bbb-3:add bbb-3:enable" {
		t.Fatalf("changes: %s", got)
	}
	for _, m := range r.members {
		if s := r.state(t, m.Node); s.State != pool.Enabled || s.Secret != m.Secret || s.LoadMultiplier != 1 {
			t.Fatalf("%s: %+v", m.Node, s)
		}
	}
	if rep.Writes != 6 || r.sl.Writes() != 6 {
		t.Fatalf("writes: report %d, fake %d", rep.Writes, r.sl.Writes())
	}
	before := r.sl.Writes()
	rep, err = pool.Sync(ctx, r.p, r.members, pool.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Writes != 0 || r.sl.Writes() != before || len(rep.Changes) != 0 {
		t.Fatalf("second run wrote %d (%s)", r.sl.Writes()-before, actions(rep))
	}
	if len(r.sl.Servers()) != 3 {
		t.Fatalf("duplicates: %+v", r.sl.Servers())
	}
}

func TestSyncDoesNotEnableANodeWithAWrongSecret(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 2)
	r.bbb.Node("bbb-2").SetSecret("what-the-node-really-runs-with")
	rep, err := pool.Sync(ctx, r.p, r.members, pool.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := r.state(t, "bbb-2"); s.State != pool.Disabled {
		t.Fatalf("bbb-2 is %s", s.State)
	}
	if s := r.state(t, "bbb-1"); s.State != pool.Enabled {
		t.Fatalf("bbb-1 is %s", s.State)
	}
	held := rep.Held()
	if len(held) != 1 || held[0].Node != "bbb-2" || !strings.Contains(held[0].Detail, "checksumError") {
		t.Fatalf("held: %+v", held)
	}
	// Once enabled, a node that starts failing is cordoned, not removed.
	r.bbb.Node("bbb-1").SetDown(true)
	rep, _ = pool.Sync(ctx, r.p, r.members, pool.SyncOptions{})
	if s := r.state(t, "bbb-1"); s.State != pool.Cordoned || !strings.Contains(actions(rep), "bbb-1:cordon") {
		t.Fatalf("bbb-1: %+v %s", s, actions(rep))
	}
	// Fixed: back in.
	r.bbb.Node("bbb-1").SetDown(false)
	r.bbb.Node("bbb-2").SetSecret(r.members[1].Secret)
	pool.Sync(ctx, r.p, r.members, pool.SyncOptions{})
	if r.state(t, "bbb-1").State != pool.Enabled || r.state(t, "bbb-2").State != pool.Enabled {
		t.Fatal("not re-enabled once healthy")
	}
}

func TestSyncWrongVersionAndFailingCheck(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 2)
	r.bbb.Node("bbb-1").SetVersion("2.7.9")
	gate := &pool.Gate{Checks: []pool.Check{{Name: "turn", Run: func(_ context.Context, m pool.Member) (pool.CheckResult, error) {
		if m.Node == "bbb-2" {
			return pool.CheckResult{}, errors.New("no STUN answer from turn.example.org:3478")
		}
		return pool.CheckResult{Detail: "ok"}, nil
	}}}}
	rep, err := pool.Sync(ctx, r.p, r.members, pool.SyncOptions{Gate: gate})
	if err != nil {
		t.Fatal(err)
	}
	if h := rep.Health["bbb-1"]; h.OK || !strings.Contains(h.Reason(), "bbbVersion is 2.7.9, expected 3.0") {
		t.Fatalf("bbb-1: %+v", h)
	}
	if h := rep.Health["bbb-2"]; h.OK || h.Reason() != "turn: no STUN answer from turn.example.org:3478" {
		t.Fatalf("bbb-2: %+v", h)
	}
	for _, n := range []string{"bbb-1", "bbb-2"} {
		if s := r.state(t, n); s.State != pool.Disabled {
			t.Fatalf("%s enabled", n)
		}
	}
}

func TestSyncFixesDriftRemovesDuplicatesAndLeavesOthersAlone(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 1)
	m := r.members[0]
	// An entry with an old secret and a duplicate, as a hand-run rake
	// servers:add twice leaves; and a server of another group.
	first := r.sl.AddServerDirect(m.URL, "old-secret", pool.Enabled)
	r.sl.AddServerDirect(m.URL+"/", "old-secret", pool.Disabled)
	other := r.sl.AddServerDirect("https://elsewhere.example.org/bigbluebutton/api", "x", pool.Enabled)
	m.LoadMultiplier, m.Tag = 2, "eu"
	rep, err := pool.Sync(ctx, r.p, []pool.Member{m}, pool.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(rep); got != "bbb-1:remove-duplicate bbb-1:update" {
		t.Fatalf("changes: %s", got)
	}
	l := r.sl.Servers()
	if len(l) != 2 || l[0].ID != first || l[0].Secret != m.Secret || l[0].LoadMultiplier != 2 || l[0].Tag != "eu" || l[0].State != pool.Enabled {
		t.Fatalf("pool: %+v", l)
	}
	if l[1].ID != other || len(rep.Unmanaged) != 1 {
		t.Fatalf("other group's server touched: %+v", l)
	}
	if strings.Contains(fmt.Sprint(rep.Changes), m.Secret) || strings.Contains(fmt.Sprint(rep.Changes), "old-secret") {
		t.Fatal("a secret in the report")
	}
}

func TestSyncKeepsOperatorHolds(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 1)
	holds := pool.FileHolds{Path: filepath.Join(t.TempDir(), "holds.json")}
	holds.Set("bbb-1", "maintenance")
	rep, _ := pool.Sync(ctx, r.p, r.members, pool.SyncOptions{Holds: holds})
	if s := r.state(t, "bbb-1"); s.State != pool.Disabled || !strings.Contains(rep.Held()[0].Detail, "maintenance") {
		t.Fatalf("held node: %+v %+v", s, rep.Changes)
	}
	holds.Clear("bbb-1")
	pool.Sync(ctx, r.p, r.members, pool.SyncOptions{Holds: holds})
	if s := r.state(t, "bbb-1"); s.State != pool.Enabled {
		t.Fatalf("released node: %+v", s)
	}
}

func TestSyncDryRunWritesNothing(t *testing.T) {
	r := newRig(t, 2)
	rep, err := pool.Sync(context.Background(), r.p, r.members, pool.SyncOptions{DryRun: true})
	if err != nil || r.sl.Writes() != 0 || actions(rep) != "bbb-1:add bbb-1:enable bbb-2:add bbb-2:enable" {
		t.Fatalf("%v %d %s", err, r.sl.Writes(), actions(rep))
	}
}

func TestDrainWaitsForMeetingsToEnd(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 1)
	pool.Sync(ctx, r.p, r.members, pool.SyncOptions{})
	node := r.bbb.Node("bbb-1")
	node.CreateMeetingAt("m1", 5, 1, time.Now().Add(-time.Hour))
	r.sl.Poll(ctx)
	id := r.state(t, "bbb-1").ID

	// Not forced: the deadline passes with the meeting running.
	_, err := pool.Drain(ctx, r.p, id, pool.DrainOptions{Timeout: 50 * time.Millisecond, Poll: 10 * time.Millisecond})
	var te *pool.DrainTimeoutError
	if !errors.As(err, &te) || te.Load != "6" {
		t.Fatalf("got %v", err)
	}
	if s := r.state(t, "bbb-1"); s.State != pool.Cordoned || len(node.Meetings()) != 1 {
		t.Fatalf("after timeout: %+v, meetings %d", s, len(node.Meetings()))
	}

	// The poller turns it disabled once the meeting ended.
	r.sl.StartPoller(t, 5*time.Millisecond)
	go func() { time.Sleep(30 * time.Millisecond); node.EndMeeting("m1") }()
	s, err := pool.Drain(ctx, r.p, id, pool.DrainOptions{Timeout: 5 * time.Second, Poll: 5 * time.Millisecond})
	if err != nil || s.State != pool.Disabled {
		t.Fatalf("drain: %+v %v", s, err)
	}
}

func TestDrainForceEndsMeetingsOnlyWhenAsked(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 1)
	pool.Sync(ctx, r.p, r.members, pool.SyncOptions{})
	node := r.bbb.Node("bbb-1")
	node.CreateMeetingAt("m1", 5, 1, time.Now().Add(-time.Hour))
	r.sl.Poll(ctx)
	id := r.state(t, "bbb-1").ID
	s, err := pool.Drain(ctx, r.p, id, pool.DrainOptions{Timeout: 20 * time.Millisecond, Poll: 5 * time.Millisecond, Force: true, Member: &r.members[0]})
	if err != nil || s.State != pool.Disabled || len(node.Meetings()) != 0 {
		t.Fatalf("forced drain: %+v %v meetings %d", s, err, len(node.Meetings()))
	}
}

// Scalelite's panic ends only the meetings its table tracks; a meeting
// made on the node directly runs on. A forced drain ends it on the node
// and waits until the node lists none.
func TestForcedDrainEndsMeetingsScaleliteDoesNotTrack(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 1)
	pool.Sync(ctx, r.p, r.members, pool.SyncOptions{})
	node := r.bbb.Node("bbb-1")
	r.sl.CreateMeeting(node, "tracked", 3, 1)
	node.CreateMeeting("direct", 2, 1)
	r.sl.Poll(ctx) // online, with load
	id := r.state(t, "bbb-1").ID

	// Panic alone, as Scalelite does it.
	if err := r.p.Panic(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	if !node.Ending("tracked") || node.Ending("direct") || len(r.sl.TrackedMeetings(id)) != 0 {
		t.Fatalf("after panic: tracked ending %v, direct ending %v", node.Ending("tracked"), node.Ending("direct"))
	}
	node.Step()
	if ms := node.Meetings(); len(ms) != 1 || ms[0].ID != "direct" {
		t.Fatalf("after panic: %+v", ms)
	}

	// The forced drain ends it on the node.
	s, err := pool.Drain(ctx, r.p, id, pool.DrainOptions{Timeout: 0, Poll: 5 * time.Millisecond, Force: true, Member: &r.members[0]})
	if err != nil || s.State != pool.Disabled || len(node.Meetings()) != 0 {
		t.Fatalf("forced drain: %+v %v meetings %+v", s, err, node.Meetings())
	}
}

// A node that keeps listing a meeting after its end fails the forced
// drain, naming the node and the meeting.
func TestForcedDrainFailsWhileTheNodeListsMeetings(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 1)
	pool.Sync(ctx, r.p, r.members, pool.SyncOptions{})
	r.bbb.EndDelay = 1 << 30 // ends, but never within the wait
	node := r.bbb.Node("bbb-1")
	node.CreateMeeting("stuck", 2, 1)
	r.sl.Poll(ctx)
	id := r.state(t, "bbb-1").ID
	_, err := pool.Drain(ctx, r.p, id, pool.DrainOptions{Poll: 5 * time.Millisecond, Force: true, Member: &r.members[0], EndWait: 30 * time.Millisecond})
	var me *pool.MeetingsRunningError
	if !errors.As(err, &me) || me.Node != "bbb-1" || !strings.Contains(err.Error(), "bbb-1: 1 meeting(s) still running") || !strings.Contains(err.Error(), "stuck") {
		t.Fatalf("got %v", err)
	}
	if node.Calls("end") != 1 {
		t.Errorf("end asked %d times, want once", node.Calls("end"))
	}
}

func TestRemoveDrainsThenDeregisters(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 2)
	pool.Sync(ctx, r.p, r.members, pool.SyncOptions{})
	r.sl.StartPoller(t, 5*time.Millisecond)
	if err := pool.Remove(ctx, r.p, r.members[0], pool.DrainOptions{Timeout: 5 * time.Second, Poll: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.sl.ServerByURL(r.members[0].URL); ok || len(r.sl.Servers()) != 1 {
		t.Fatalf("pool: %+v", r.sl.Servers())
	}
	// Not registered: nothing to do.
	if err := pool.Remove(ctx, r.p, r.members[0], pool.DrainOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A default BBB hides bbbVersion (allowRevealOfBBBVersion=false): the
// gate then reads the installed release with Version, and says exactly
// what is missing when it cannot.
func TestGateOnANodeThatHidesItsVersion(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 0)
	n := r.bbb.AddNode("bbb-1", "secret-of-bbb-1", "3.0.4") // hides, as BBB ships
	m := pool.Member{Node: "bbb-1", URL: n.URL, Secret: "secret-of-bbb-1", ExpectVersion: "3.0"}
	r.members = []pool.Member{m}

	h := (&pool.Gate{}).Check(ctx, m)
	if h.OK || h.Reason() != "the API root hides bbbVersion (allowRevealOfBBBVersion=false) and omc has no other way to read the installed release (expected 3.0)" {
		t.Fatalf("no source: %+v", h)
	}
	failing := &pool.Gate{Version: func(context.Context, pool.Member) (string, error) {
		return "", errors.New("over SSH: connection refused")
	}}
	if h := failing.Check(ctx, m); h.OK || !strings.Contains(h.Reason(), "reading the installed release failed: over SSH: connection refused (expected 3.0)") {
		t.Fatalf("failing source: %+v", h)
	}
	asked := ""
	g := &pool.Gate{Version: func(_ context.Context, m pool.Member) (string, error) { asked = m.Node; return n.Version(), nil }}
	rep, err := pool.Sync(ctx, r.p, r.members, pool.SyncOptions{Gate: g})
	if err != nil || asked != "bbb-1" || actions(rep) != "bbb-1:add bbb-1:enable" || rep.Health["bbb-1"].BBBVersion != "3.0.4" {
		t.Fatalf("%v %q %s %+v", err, asked, actions(rep), rep.Health["bbb-1"])
	}
	// The wrong release is refused as from the root.
	n.SetVersion("2.7.9")
	if h := g.Check(ctx, m); h.OK || h.Reason() != "bbbVersion is 2.7.9, expected 3.0" {
		t.Fatalf("wrong release: %+v", h)
	}
	// A node that reveals it is not asked.
	n.SetVersion("3.0.4")
	n.RevealVersion(true)
	asked = ""
	if h := g.Check(ctx, m); !h.OK || asked != "" {
		t.Fatalf("revealed: %+v asked %q", h, asked)
	}
}

// Scalelite 1.5.1 to 1.5.3 have no server tags: their API shows none and
// drops one sent. A member's tag is then reported as not set (skip), not
// "updated" on every run; the second sync writes nothing.
func TestSyncWithAScaleliteWithoutTags(t *testing.T) {
	r := newRig(t, 2)
	r.sl.SetNoTags(true)
	for i := range r.members {
		r.members[i].Tag = "eu"
	}
	ctx := context.Background()
	rep, err := pool.Sync(ctx, r.p, r.members, pool.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(rep); strings.Contains(got, "update") || strings.Count(got, "skip") != 2 || strings.Count(got, "enable") != 2 {
		t.Fatalf("first sync: %s", got)
	}
	if rep.Pending() != 4 { // two adds, two enables
		t.Fatalf("pending %d", rep.Pending())
	}
	before := r.sl.Writes()
	rep, err = pool.Sync(ctx, r.p, r.members, pool.SyncOptions{})
	if err != nil || r.sl.Writes() != before || rep.Pending() != 0 || strings.Contains(actions(rep), "update") {
		t.Fatalf("second sync: %v, %d writes, %s", err, r.sl.Writes()-before, actions(rep))
	}
	l, err := r.p.List(ctx)
	if err != nil || len(l) != 2 || !l[0].NoTags || l[0].Tag != "" || l[0].State != pool.Enabled {
		t.Fatalf("the pool through the API: %+v, %v", l, err)
	}
}

// A node that hides its version, where the inventory expects none, is
// enabled with a detail that says so rather than an empty version.
func TestEnableDetailOfAHiddenVersion(t *testing.T) {
	r := newRig(t, 0)
	n := r.bbb.AddNode("bbb-h", "secret-h", "3.0.4") // hides its version
	m := pool.Member{Node: "bbb-h", URL: n.URL, Secret: "secret-h"}
	rep, err := pool.Sync(context.Background(), r.p, []pool.Member{m}, pool.SyncOptions{})
	if err != nil || !strings.Contains(fmt.Sprint(rep.Changes), "health check passed (bbbVersion not revealed)") {
		t.Fatalf("%v %+v", err, rep.Changes)
	}
}
