package cmd

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/golden"
	"github.com/omc-coop/omc/internal/ui"
)

func TestStatusWatchRefusesWhereItCannotWork(t *testing.T) {
	isolate(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		// run's streams are not terminals.
		{"not a terminal", []string{"status", "--watch"}, "--watch needs a terminal on stdout: from scripts and monitoring run omc status"},
		{"json", []string{"status", "--watch", "-o", "json"}, "run omc status -o json for one object per run"},
		{"with html", []string{"status", "--watch", "--html", "x.html"}, "write the page with omc status --html FILE"},
		{"interval without watch", []string{"status", "--interval", "10s"}, "--interval only applies with --watch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := run(t, "", tt.args...)
			if code != ExitUsage || !strings.Contains(errs, tt.want) || (out != "" && !wantsJSON(tt.args)) {
				t.Fatalf("code %d\nstdout: %s\nstderr: %s", code, out, errs)
			}
		})
	}
	// On a terminal, an interval under a second is refused too.
	s := &ui.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard, OutTTY: true, ErrTTY: true}
	err := checkStatusFlags(s, &globalOptions{Output: "text"}, &statusOptions{Watch: true, Interval: 100 * time.Millisecond})
	if exitCode(err) != ExitUsage || !strings.Contains(err.Error(), "at least 1s") {
		t.Fatalf("short interval: %v", err)
	}
	if err := checkStatusFlags(s, &globalOptions{Output: "text"}, &statusOptions{Watch: true, Interval: time.Second}); err != nil {
		t.Fatal(err)
	}
}

// watchSnapshotFixture has every kind of row: healthy, drained, offline
// and unhealthy with two problems, a near TLS expiry, a pool Scalelite
// did not answer, and a warning.
func watchSnapshotFixture() watchSnapshot {
	at := time.Date(2026, 11, 5, 9, 30, 15, 0, time.UTC)
	i := func(n int) *int { return &n }
	f := func(x float64) *float64 { return &x }
	tm := func(d time.Duration) *time.Time { t := at.Add(d); return &t }
	return watchSnapshot{
		Fleet: "coop", At: at, Interval: 5 * time.Second,
		UsersPerNode: map[string]int{"eu": 200, "ap": 100},
		Warning:      "incident log: permission denied",
		Status: &fleet.StatusResult{Pools: []statusPoolV1{
			{Group: "eu", Scalelite: "https://sl.eu.example.org", Unmanaged: 1, Nodes: []statusNodeV1{
				{Node: "bbb-eu-1", PoolState: "enabled", Online: true, Meetings: i(2), Users: i(18), Load: f(18), TLSExpires: tm(60 * 24 * time.Hour), Healthy: true, Problems: []string{}},
				{Node: "bbb-eu-2", PoolState: "cordoned", Online: true, Meetings: i(1), Users: i(3), Load: f(3), TLSExpires: tm(10*24*time.Hour + time.Hour), Held: "kernel upgrade", Healthy: true, Problems: []string{}},
				{Node: "bbb-eu-3", PoolState: "enabled", Online: false, TLSExpires: tm(2 * 24 * time.Hour), Healthy: false,
					Problems: []string{"BBB API: connection refused", "Scalelite sees it offline"}},
			}},
			{Group: "ap", Scalelite: "https://sl.ap.example.org", Error: "connection refused\nsecond line", Nodes: []statusNodeV1{}},
		}},
	}
}

func TestStatusWatchFrameGolden(t *testing.T) {
	sn := watchSnapshotFixture()
	got := renderWatch(sn, ui.NewStyles(io.Discard, false))
	if strings.Contains(got, "\x1b") {
		t.Fatalf("escape codes without colour:\n%q", got)
	}
	golden.AssertString(t, "status-watch.golden", got)
	// With colour the same text, styled: states and problems stand out.
	col := renderWatch(sn, ui.NewStyles(io.Discard, true))
	if !strings.Contains(col, "\x1b[") || stripANSI(col) != got {
		t.Fatalf("coloured frame is not the plain one styled:\n%s", col)
	}
}

// The frame's lines that carry behaviour, worked out from the fixture
// rather than read from the golden: a golden rewritten with -update cannot
// drop them unnoticed.
func TestStatusWatchFrameSaysWhatMatters(t *testing.T) {
	got := renderWatch(watchSnapshotFixture(), ui.NewStyles(io.Discard, false))
	lines := strings.Split(got, "\n")
	has := func(why, line string) {
		t.Helper()
		if !slices.Contains(lines, line) {
			t.Errorf("%s: no line %q in\n%s", why, line, got)
		}
	}
	has("header: fleet, time in UTC, interval",
		"omc status coop  refreshed 2026-11-05 09:30:15 UTC · every 5s · Ctrl-C to stop")
	// eu: one node unhealthy is degraded. Serving is enabled, online and
	// healthy (only bbb-eu-1); meetings 2+1, users 18+3 of 200 per node
	// (10.5%, rounded); the nearest TLS expiry is bbb-eu-3's, in 2 days.
	has("eu headline", "eu  DEGRADED  https://sl.eu.example.org")
	has("eu summary", "  3 nodes · 1 serving · 1 unhealthy · 3 meetings · 21 users of 200 (11%) · TLS expires 2026-11-07 (2d) · 1 other servers")
	has("a drained node says who drained it and why", "  bbb-eu-2: drained by an operator: kernel upgrade")
	has("an unhealthy node shows its first problem and how to see the rest", "  bbb-eu-3: BBB API: connection refused (+1 more: omc status eu)")
	// ap: Scalelite did not answer, so the pool is down; only the first
	// line of the error fits.
	has("ap headline", "ap  DOWN  https://sl.ap.example.org")
	has("ap error", "  Scalelite: connection refused")
	if strings.Contains(got, "second line") {
		t.Error("a multi-line error was printed whole")
	}
	has("total over both pools", "total  2 pools · 3 nodes · 1 serving · 1 unhealthy · 3 meetings · 21 users of 200 (11%)")
	has("the warning", "warning: incident log: permission denied")

	rows := map[string][]string{}
	for _, l := range lines {
		if !strings.HasPrefix(l, "│ bbb-") {
			continue
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(l, "│"), "│") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows[cells[0]] = cells
	}
	for node, want := range map[string]string{
		"bbb-eu-1": "bbb-eu-1 enabled online 2 18 18 2027-01-04 (60d) ok",
		"bbb-eu-2": "bbb-eu-2 cordoned online 1 3 3 2026-11-15 (10d) drained",
		// Offline: no counts rather than zeros.
		"bbb-eu-3": "bbb-eu-3 enabled offline - - - 2026-11-07 (2d) UNHEALTHY",
	} {
		if got := strings.Join(rows[node], " "); got != want {
			t.Errorf("row %s = %q, want %q", node, got, want)
		}
	}
	if len(rows) != 3 {
		t.Errorf("%d node rows, want 3", len(rows))
	}
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// fakeScreen collects frames; the test reads them from the channel.
type fakeScreen struct {
	frames chan string
	mu     sync.Mutex
	closed bool
}

func (f *fakeScreen) Draw(frame string) error { f.frames <- frame; return nil }
func (f *fakeScreen) Close() error            { f.mu.Lock(); f.closed = true; f.mu.Unlock(); return nil }

func (f *fakeScreen) next(t *testing.T) string {
	t.Helper()
	select {
	case fr := <-f.frames:
		return fr
	case <-time.After(20 * time.Second):
		t.Fatal("no frame within 20s")
	}
	return ""
}

// watchRun is omc status --watch running in the background on a fake
// screen; a send on ticks is the next refresh.
type watchRun struct {
	scr       *fakeScreen
	ticks     chan time.Time
	out, errb bytes.Buffer
	cancel    context.CancelFunc
	done      chan error
	// what the watch asked of its ticker, read after stop
	interval time.Duration
	stopped  bool
}

// startWatch runs omc status --watch on inv every interval; clock, when
// given, is the watch's clock.
func startWatch(t *testing.T, d *fleet.PoolDeps, inv string, interval time.Duration, clock func() time.Time) *watchRun {
	t.Helper()
	w := &watchRun{scr: &fakeScreen{frames: make(chan string, 8)}, ticks: make(chan time.Time), done: make(chan error, 1)}
	o := &statusOptions{Watch: true, Interval: interval}
	f := testFactory()
	f.Pool = d
	if clock != nil {
		f.Now = clock
	}
	f.Ticker = func(d time.Duration) (<-chan time.Time, func()) {
		w.interval = d
		return w.ticks, func() { w.stopped = true }
	}
	f.Screen = func(*ui.Streams) frameWriter { return w.scr }
	s := &ui.Streams{In: strings.NewReader(""), Out: &w.out, Err: &w.errb, OutTTY: true, ErrTTY: true}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w.cancel = cancel
	go func() { w.done <- runStatus(ctx, s, &globalOptions{Inventory: inv, Output: "text", f: f}, o) }()
	return w
}

// stop cancels the watch and returns what it returned.
func (w *watchRun) stop(t *testing.T) error {
	t.Helper()
	w.cancel()
	select {
	case err := <-w.done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the watch did not stop on cancel")
	}
	return nil
}

func TestStatusWatchRedrawsOnEveryTickUntilCancelled(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.threeUp()
	r.bbb.Node("bbb-1").CreateMeetingAt("maths", 11, 1, time.Now().Add(-time.Hour))
	r.sl.Poll(context.Background())

	var clockMu sync.Mutex
	at := pageT0
	w := startWatch(t, r.deps, r.inv, 7*time.Second, func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		at = at.Add(7 * time.Second)
		return at
	})
	f1 := w.scr.next(t)
	if !strings.Contains(f1, "eu  UP  "+r.sl.URL+"\n  3 nodes · 3 serving · 1 meetings · 11 users of 600 (2%)\n") ||
		!strings.Contains(f1, "refreshed 2026-11-05 09:30:07 UTC · every 7s") || strings.Contains(f1, "UNHEALTHY") {
		t.Fatalf("first frame:\n%s", f1)
	}
	// bbb-3 stops answering; the next tick shows it.
	r.bbb.Node("bbb-3").SetDown(true)
	r.sl.Poll(context.Background())
	r.sl.Poll(context.Background())
	w.ticks <- time.Time{}
	f2 := w.scr.next(t)
	if !strings.Contains(f2, "eu  DEGRADED  "+r.sl.URL+"\n  3 nodes · 2 serving · 1 unhealthy") || !strings.Contains(f2, "bbb-3: ") ||
		!strings.Contains(f2, "UNHEALTHY") || !strings.Contains(f2, "09:30:14 UTC") {
		t.Fatalf("second frame:\n%s", f2)
	}
	w.ticks <- time.Time{}
	f3 := w.scr.next(t)
	if !strings.Contains(f3, "09:30:21 UTC") {
		t.Fatalf("third frame:\n%s", f3)
	}
	if err := w.stop(t); err != nil {
		t.Fatalf("a stopped watch is no error: %v", err)
	}
	if len(w.scr.frames) != 0 || !w.scr.closed || !w.stopped || w.interval != 7*time.Second {
		t.Fatalf("after cancel: %d more frames, closed %v, ticker stopped %v, interval %s", len(w.scr.frames), w.scr.closed, w.stopped, w.interval)
	}
	if w.out.Len() != 0 || w.errb.Len() != 0 {
		t.Fatalf("the watch wrote besides its screen:\n%s\n%s", w.out.String(), w.errb.String())
	}
	r.seen.WriteString(f1 + f2 + f3)
	// The turn was recorded for the page.
	l, _ := fleet.ReadIncidents(r.load())
	if in, ok := l.Latest("eu"); !ok || in.Node != "bbb-3" || in.Healthy || !in.At.Equal(pageT0.Add(14*time.Second)) {
		t.Fatalf("incident log: %+v", l.Incidents)
	}
}

func TestStatusWatchLoopDoesNotDrawARefreshCutShort(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	scr := &fakeScreen{frames: make(chan string, 4)}
	ticks := make(chan time.Time, 1)
	ticks <- time.Time{}
	n := 0
	err := watchLoop(ctx, func(context.Context) watchSnapshot {
		n++
		if n == 2 {
			cancel() // Ctrl-C while Scalelite is being asked
		}
		return watchSnapshot{}
	}, func(watchSnapshot) string { return "frame" }, scr, ticks)
	if err != nil || n != 2 || len(scr.frames) != 1 {
		t.Fatalf("err %v, %d refreshes, %d frames", err, n, len(scr.frames))
	}
}
