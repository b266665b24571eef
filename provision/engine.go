package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/omc-coop/omc/internal/event"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/remote"
)

// Mode says whether the engine only looks (Plan) or converges (Apply).
type Mode int

const (
	Plan Mode = iota
	Apply
)

// Host is one host to converge.
type Host struct {
	Name  string
	Steps []Step
	// Build, when set, makes Steps when the host's turn comes, so that
	// only the hosts in flight (Checking) hold their rendered files. Files
	// alike on several hosts are then kept once (see share.go).
	Build func() ([]Step, error)
	// Dial opens the host's one connection for the run.
	Dial func(ctx context.Context) (Conn, error)
	// ViaJumpHost: Dial goes through a jump host (see Options.Handshakes).
	ViaJumpHost bool
}

// Options tune a run.
type Options struct {
	Mode Mode
	// Parallel bounds the hosts making changes at once (default 20).
	// Checking bounds the hosts in flight: connected, checking, or
	// waiting with their lock held for one of Parallel's slots (default
	// 128, never below Parallel). Looking is cheap and mostly waiting:
	// with 20 hosts in flight the controller kept running out of work,
	// and the Go runtime spent as much processor time idling as omc did
	// working (BenchmarkUpNoop, N=200: 880 ms of controller CPU a run
	// with 20, 580 with 128, 540 with 256). Each host in flight holds a
	// connection, its goroutines and its files: 256 took omc's peak RSS
	// at N=200 from 44 MB to 61, 128 to 49.
	//
	// Handshakes bounds the SSH handshakes in flight through jump hosts
	// (default 10, sshd's MaxStartups start): every such host's
	// connection is also one to its jump host, whose sshd would refuse
	// more. A direct host's handshake is bounded by Checking alone: its
	// sshd sees only this one, and far away a handshake is mostly waiting
	// (at 50 ms RTT, 10 at a time made 20 hosts two waves of handshakes).
	Parallel   int
	Checking   int
	Handshakes int
	// Holder is written into each host's lock: who, when, what.
	Holder   string
	Observer Observer
	// Redact masks secrets in anything shown (diffs, errors).
	Redact func(string) string
	Log    *slog.Logger
}

// StepError is a step that failed on a host: "step ID: error", with the
// step's ID kept for machine output (-o json error lines).
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %q: %v", e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// DefaultChecking is Options.Checking's default.
const DefaultChecking = 128

// Result is what happened on one host (internal/event, for the renderer).
type Result = event.Result

// Run converges (or plans) every host, each independently: a slow host
// does not hold the others, and a failure stops only its own host.
// Results come back in the order of hosts.
func Run(ctx context.Context, hosts []Host, o Options) []Result {
	if o.Parallel <= 0 {
		o.Parallel = 20
	}
	if o.Checking <= 0 {
		o.Checking = DefaultChecking
	}
	o.Checking = max(o.Checking, o.Parallel)
	if o.Handshakes <= 0 {
		o.Handshakes = 10
	}
	if o.Observer == nil {
		o.Observer = ObserverFunc(func(Event) {})
	}
	if o.Redact == nil {
		o.Redact = func(s string) string { return s }
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	results := make([]Result, len(hosts))
	contents := &contentCache{}
	slots := make(chan struct{}, o.Checking)
	changes := make(chan struct{}, o.Parallel)
	handshakes := make(chan struct{}, o.Handshakes)
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				results[i] = Result{Host: h.Name, Err: context.Cause(ctx)}
				o.Observer.Event(Event{V: EventVersion, Type: "host", Host: h.Name, Status: "failed", Error: context.Cause(ctx).Error()})
				return
			}
			defer func() { <-slots }()
			r := &run{o: o, host: h, handshakes: handshakes, changes: changes, contents: contents}
			results[i] = r.do(ctx)
		}()
	}
	wg.Wait()
	return results
}

// run is the state of one host's run.
type run struct {
	o          Options
	host       Host
	handshakes chan struct{}
	changes    chan struct{} // one per host making changes (Parallel)
	changing   bool          // this host holds one
	contents   *contentCache
	conn       Conn
	uids, gids map[string]int
	made       map[string]bool // directories this run made (or queued)
	changed    int
	batch      []queued // changes not yet sent (batch.go)
	// lockPending: the lock is to be taken with the next probe.
	lockPending bool
}

func (r *run) emit(e Event) {
	e.V, e.Host = EventVersion, r.host.Name
	e.Error, e.Diff, e.Summary, e.Warning = r.o.Redact(e.Error), r.o.Redact(e.Diff), r.o.Redact(e.Summary), r.o.Redact(e.Warning)
	r.o.Observer.Event(e)
}

func (r *run) do(ctx context.Context) Result {
	start := time.Now()
	err := r.converge(ctx)
	if r.changing {
		<-r.changes // the connection is closed and the lock released
	}
	res := Result{Host: r.host.Name, Changed: r.changed, Err: err, Elapsed: time.Since(start)}
	e := Event{Type: "host", Status: "ok", DurationMS: res.Elapsed.Milliseconds()}
	switch {
	case err != nil:
		e.Status, e.Error = "failed", err.Error()
	case r.changed > 0 && r.o.Mode == Plan:
		e.Status, e.Summary = "pending", strconv.Itoa(r.changed)+" to change"
	case r.changed > 0:
		e.Status, e.Summary = "changed", strconv.Itoa(r.changed)+" changed"
	}
	r.emit(e)
	return res
}

func (r *run) converge(ctx context.Context) error {
	if r.host.Build != nil {
		steps, err := r.host.Build()
		if err != nil {
			return err
		}
		r.host.Steps = r.contents.shareAll(steps)
	}
	r.emit(Event{Type: "host", Status: "connecting"})
	if r.host.ViaJumpHost {
		select {
		case r.handshakes <- struct{}{}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	conn, err := r.host.Dial(ctx)
	if r.host.ViaJumpHost {
		<-r.handshakes
	}
	if err != nil {
		return err
	}
	r.conn = conn
	defer conn.Close()

	lockLater := false
	if r.o.Mode == Apply {
		// With a Conn that can, the host is looked at first without its
		// lock. Only a host with something to change takes it, and looks
		// again under it in the same round trip (LockRun); it is released
		// in the round trip that ends the session. A host in sync costs
		// no lock: no flock(1) on the host, no lock file written, and no
		// round trip to unlock. As with omc plan, what it saw may be
		// another run's work in progress; it changes nothing on that.
		if _, ok := conn.(lockRunner); ok {
			lockLater = true
		} else if err := r.lock(ctx); err != nil {
			return err
		}
		defer func() {
			// Unlock even when ctx is done: the shell is still there.
			uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var err error
			if uc, ok := conn.(unlockCloser); ok {
				err = uc.UnlockClose(uctx)
			} else {
				err = conn.Unlock(uctx)
			}
			if err != nil {
				r.o.Log.Warn("unlock failed", "host", r.host.Name, "err", err)
			}
		}()
	}
	r.emit(Event{Type: "host", Status: "checking"})
	steps := r.host.Steps
	obs, err := r.probe(ctx, steps)
	if err != nil {
		return err
	}
	// inSync: the unlocked look found every step in sync, so each plan
	// below is known to be nothing and is not made a second time.
	inSync := false
	if lockLater {
		if inSync = !wouldChange(steps, obs); !inSync {
			r.lockPending = true
			if obs, err = r.probe(ctx, steps); err != nil {
				return err
			}
		}
	}
	var notify []string
	var dirt dirtSet
	for i := 0; i < len(steps); i++ {
		s := steps[i]
		// Look again, before going on, when a change may have altered
		// what this step sees (see reprobe.go): after the changes queued
		// so far are made.
		// Steps after a gate that was out of sync have not been checked.
		if i >= len(obs) || dirt.affects(s, obs[i]) {
			if err := r.flush(ctx); err != nil {
				return err
			}
			rest, err := r.probe(ctx, steps[i:])
			if err != nil {
				return err
			}
			obs = append(obs[:i], rest...)
			dirt = dirtSet{}
		}
		var c *Change
		var err error
		if !inSync {
			c, err = s.Plan(obs[i])
		}
		if err == nil && c != nil && r.o.Mode == Apply && !r.changing {
			// The host's first change waits for a change slot, its
			// lock held: what it saw cannot change meanwhile.
			select {
			case r.changes <- struct{}{}:
				r.changing = true
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		if err == nil && r.o.Mode == Apply {
			var queued bool
			if queued, err = r.queue(ctx, s, c); err == nil && queued {
				if c != nil {
					notify = notified(notify, c)
					dirt.add(s)
				}
				continue
			}
		}
		// Planning, a failure, or a change applied on its own: what is
		// queued goes first.
		if ferr := r.flush(ctx); ferr != nil {
			return ferr
		}
		t0 := time.Now()
		if err == nil && c != nil {
			if r.o.Mode == Plan {
				err = r.describe(ctx, c)
			} else {
				err = r.apply(ctx, c)
			}
		}
		e := Event{Type: "step", Step: s.ID(), Status: "ok", DurationMS: time.Since(t0).Milliseconds()}
		if err != nil {
			e.Status, e.Error = "failed", err.Error()
			r.emit(e)
			return &StepError{Step: s.ID(), Err: err}
		}
		if c == nil {
			r.emit(e)
			continue
		}
		r.changed++
		e.Status, e.Summary, e.Diff = "changed", c.Summary, c.Diff
		if r.o.Mode == Plan {
			e.Status = "pending"
		}
		r.emit(e)
		notify = notified(notify, c)
		if r.o.Mode == Apply {
			dirt.add(s)
		}
	}
	for _, unit := range notify {
		if r.o.Mode == Plan {
			r.emit(Event{Type: "handler", Step: "restart " + unit, Status: "pending"})
			continue
		}
		r.batch = append(r.batch, queued{handler: unit, ops: []Op{{Script: restartScript(unit)}}, what: []string{""}})
	}
	return r.flush(ctx)
}

// wouldChange says whether any step, as obs saw it, is out of sync or
// cannot tell (a step after a gate that was out of sync was not looked at).
func wouldChange(steps []Step, obs [][]string) bool {
	if len(obs) < len(steps) {
		return true
	}
	for i, s := range steps {
		if c, err := s.Plan(obs[i]); c != nil || err != nil {
			return true
		}
	}
	return false
}

// notified is the list of units to restart at the end after c: a unit c
// starts from stopped needs no restart for what came before it.
func notified(notify []string, c *Change) []string {
	notify = slices.DeleteFunc(notify, func(n string) bool {
		return slices.ContainsFunc(c.Starts, func(u string) bool { return sameUnit(n, u) })
	})
	for _, n := range c.Notify {
		if !slices.ContainsFunc(notify, func(u string) bool { return sameUnit(n, u) }) {
			notify = append(notify, n)
		}
	}
	return notify
}

// probe checks steps in one round trip. It returns obs for a prefix of
// steps: on Apply, a step that may change anything when out of sync (a
// package install) and can tell cheaply in shell whether it is in sync
// (a gater) is a gate: the steps after it are checked only when it is in
// sync. Out of sync, their checks would be wasted: its change makes the
// engine check them again after it anyway.
func (r *run) probe(ctx context.Context, steps []Step) ([][]string, error) {
	p := r.probeOf(steps)
	t0 := time.Now()
	var res RunResult
	var err error
	if r.lockPending {
		r.lockPending = false
		var stale string
		stale, res, err = r.conn.(lockRunner).LockRun(ctx, r.o.Holder, p.script)
		if err == nil {
			r.staleLock(stale)
		}
	} else {
		res, err = r.conn.Run(ctx, p.script)
	}
	r.logProbe(p.script, len(steps), res, time.Since(t0), err)
	if err != nil {
		return nil, fmt.Errorf("checking state: %w", err)
	}
	n := p.n
	out, restOut, gated := strings.Cut(string(res.Stdout), "@@"+p.restNonce+" go\n")
	if p.restNonce == "" {
		out, gated = string(res.Stdout), false
	}
	obs, uids, gids, err := parseProbe(p.nonce, steps[:n], p.facts, out)
	if err != nil {
		r.logProbe(p.script, len(steps), res, 0, err)
		return nil, fmt.Errorf("checking state: %w", err)
	}
	r.uids, r.gids = uids, gids
	if gated {
		rest, uids, gids, err := parseProbe(p.restNonce, steps[n:], p.restFacts, restOut)
		if err != nil {
			r.logProbe(p.script, len(steps), res, 0, err)
			return nil, fmt.Errorf("checking state: %w", err)
		}
		obs = append(obs, rest...)
		maps.Copy(r.uids, uids)
		maps.Copy(r.gids, gids)
	}
	return obs, nil
}

// lock takes the host's lock in a round trip of its own.
func (r *run) lock(ctx context.Context) error {
	stale, err := r.conn.Lock(ctx, r.o.Holder)
	if err != nil {
		return err
	}
	r.staleLock(stale)
	return nil
}

func (r *run) staleLock(stale string) {
	if stale != "" {
		r.emit(Event{Type: "host", Status: "checking", Warning: "stale lock from an interrupted run found and cleared: " + stale})
	}
}

// aProbe is one probe's script and what parsing its output needs.
type aProbe struct {
	script           string
	n                int // steps checked unless the gate says go on
	nonce, restNonce string
	facts, restFacts [numFacts][]string
}

// probeOf builds the probe of steps (see probe).
func (r *run) probeOf(steps []Step) aProbe {
	n := len(steps)
	if r.o.Mode == Apply {
		for i, s := range steps[:max(0, n-1)] {
			if g, ok := s.(gater); ok && g.InSync() != "" {
				n = i + 1
				break
			}
		}
	}
	p := aProbe{n: n}
	p.script, p.facts, p.nonce = r.probeScript(steps[:n])
	if n < len(steps) {
		var rest string
		rest, p.restFacts, p.restNonce = r.probeScript(steps[n:])
		p.script += "if ( " + steps[n-1].(gater).InSync() + " ) >/dev/null 2>&1; then\necho '@@" + p.restNonce + " go'\n" + rest + "fi\n"
	}
	return p
}

// ProbeScript is the script with which omc up checks steps on a host
// whose state it has not changed yet (the first round trip after the
// lock), as the engine builds it but for its random nonces. It is for
// the benchmark's floor, which runs this very text in one exec, so that
// what omc costs beyond it is its controller and protocol.
func ProbeScript(steps []Step) string {
	r := &run{o: Options{Mode: Apply}}
	return r.probeOf(steps).script
}

// gater is a step that can say in shell, cheaply, that it is in sync.
// InSync is a command that succeeds only then, or "" when it cannot tell.
// It runs in the probe's shell right after the checks of the steps up to
// the gate, so it may read variables its own probe set.
type gater interface{ InSync() string }

// probeScript is the probe of steps, with a nonce of its own.
func (r *run) probeScript(steps []Step) (string, [numFacts][]string, string) {
	var owners, groups, cleanup []string
	for _, s := range steps {
		for _, w := range writesOf(s) {
			owners, groups = appendNew(owners, w.Owner), appendNew(groups, w.Group)
			if r.o.Mode == Apply {
				cleanup = append(cleanup, remote.TempName(w.Path))
			}
		}
	}
	nonce := newNonce()
	script, facts := probeScript(nonce, steps, owners, groups, cleanup)
	return script, facts, nonce
}

// writesOf lists the files a step may write, so their owners can be looked
// up and leftover temp files removed in the probe's round trip.
func writesOf(s Step) []FileWrite {
	switch s := s.(type) {
	case *FileStep:
		return []FileWrite{{Path: s.Path, Owner: s.Owner, Group: s.Group}}
	case *SysctlStep:
		return []FileWrite{{Path: s.confPath(), Owner: "root", Group: "root"}}
	case *LineStep:
		return []FileWrite{{Path: s.Path, Owner: "root", Group: "root"}}
	}
	return nil
}

func (r *run) run(ctx context.Context, script string) (RunResult, error) {
	t0 := time.Now()
	res, err := r.conn.Run(ctx, script)
	r.o.Log.Debug("run", "host", r.host.Name, "script", r.o.Redact(script), "exit", res.ExitCode,
		"stderr", r.o.Redact(string(res.Stderr)), "ms", time.Since(t0).Milliseconds(), "err", err)
	return res, err
}

// logProbe logs a probe: its size and timing, and its script and output
// only when it failed. A probe is built from the steps (the same text
// every run but for its nonce) and is most of what a run sends: logged
// whole, with every host's output, it was the bulk of a no-op run's log
// and of the redactor's work (200 hosts: about 1 MB a run).
func (r *run) logProbe(script string, steps int, res RunResult, took time.Duration, err error) {
	if err == nil {
		r.o.Log.Debug("probe", "host", r.host.Name, "steps", steps, "bytes", len(script), "exit", res.ExitCode,
			"out_bytes", len(res.Stdout), "stderr", r.o.Redact(string(res.Stderr)), "ms", took.Milliseconds())
		return
	}
	r.o.Log.Debug("probe failed", "host", r.host.Name, "script", r.o.Redact(script), "exit", res.ExitCode,
		"stdout", r.o.Redact(string(res.Stdout)), "stderr", r.o.Redact(string(res.Stderr)), "err", err)
}

// content computes a write's new content, reading the old when needed.
func (r *run) content(ctx context.Context, w *FileWrite) (old, data []byte, err error) {
	if w.NeedOld && w.HaveOld {
		old = w.Old
	} else if w.NeedOld {
		old, err = r.conn.ReadFile(ctx, w.Path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("reading %s: %w", w.Path, err)
		}
	}
	data, err = w.Content(old)
	return old, data, err
}

// describe fills in a pending change's diff (Plan mode).
func (r *run) describe(ctx context.Context, c *Change) error {
	w := c.Write
	if w == nil || !w.ContentChanged {
		return nil
	}
	// Read the old content to show the diff, even where writing needs none.
	shown := *w
	shown.NeedOld = w.Exists && !w.Binary
	old, data, err := r.content(ctx, &shown)
	if err != nil {
		return err
	}
	if w.Binary || isBinary(old) {
		c.Diff = "binary content differs"
		return nil
	}
	c.Diff = fileDiff(w.Path, old, data, r.o.Redact)
	return nil
}

// hideOldSecrets hides the removed lines of every hunk that touches a
// secret. A rotated secret's old value is known to no redactor, so the
// "-" line beside a masked "+" line would show it in clear.
func hideOldSecrets(diff string) string {
	if !strings.Contains(diff, redact.Mask) {
		return diff
	}
	lines := strings.SplitAfter(diff, "\n")
	hunk := func(from int) (end int, secret bool) {
		for end = from + 1; end < len(lines) && !strings.HasPrefix(lines[end], "@@"); end++ {
			l := lines[end]
			if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && strings.Contains(l, redact.Mask) {
				secret = true
			}
		}
		return end, secret
	}
	var b strings.Builder
	for i := 0; i < len(lines); {
		if !strings.HasPrefix(lines[i], "@@") {
			b.WriteString(lines[i])
			i++
			continue
		}
		end, secret := hunk(i)
		b.WriteString(lines[i])
		for _, l := range lines[i+1 : end] {
			if secret && strings.HasPrefix(l, "-") {
				l = "-" + redact.Mask + " (old line hidden: this change touches a secret)\n"
			}
			b.WriteString(l)
		}
		i = end
	}
	return b.String()
}

func (r *run) apply(ctx context.Context, c *Change) error {
	if err := r.applyChange(ctx, c); err != nil {
		return err
	}
	// A file in a directory made earlier in this run needs no mkdir: a
	// round trip less per file on a cold host.
	if d, ok := c.Step.(*DirStep); ok {
		r.madeDir(d.Path)
	}
	return nil
}

func (r *run) madeDir(p string) {
	if r.made == nil {
		r.made = map[string]bool{}
	}
	r.made[p] = true
}

func (r *run) applyChange(ctx context.Context, c *Change) error {
	if c.MakeDir != "" && !r.made[c.MakeDir] {
		res, err := r.run(ctx, "mkdir -p -- "+shell.Quote(c.MakeDir))
		if err != nil {
			return err
		}
		if res.ExitCode != 0 {
			return scriptError("making "+c.MakeDir, res)
		}
		r.madeDir(c.MakeDir)
	}
	if c.Before != "" {
		res, err := r.run(ctx, c.Before)
		if err != nil {
			return err
		}
		if res.ExitCode != 0 {
			return scriptError("preparing", res)
		}
	}
	if w := c.Write; w != nil && w.ContentChanged {
		_, data, err := r.content(ctx, w)
		if err != nil {
			return err
		}
		uid, gid, err := r.ids(ctx, w.Owner, w.Group)
		if err != nil {
			return err
		}
		if err := r.conn.WriteFile(ctx, w.Path, data, w.Mode, uid, gid); err != nil {
			return fmt.Errorf("writing %s: %w", w.Path, err)
		}
		r.o.Log.Debug("wrote", "host", r.host.Name, "path", w.Path, "bytes", len(data))
	}
	if c.Script != "" {
		res, err := r.run(ctx, c.Script)
		if err != nil {
			return err
		}
		if c.Check != nil {
			err = c.Check(string(res.Stdout), string(res.Stderr), res.ExitCode)
		} else if res.ExitCode != 0 {
			err = scriptError("command failed", res)
		}
		if err != nil {
			return err
		}
	}
	if c.Commit != "" {
		return r.confirm(ctx, c)
	}
	return nil
}

// confirmTimeout bounds the fresh connection that proves a guarded change
// left omc a way in.
const confirmTimeout = 20 * time.Second

// confirm opens a fresh connection and runs a trivial command through it;
// only if that works is the change committed.
func (r *run) confirm(ctx context.Context, c *Change) error {
	cctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	fresh, err := r.host.Dial(cctx)
	if err == nil {
		var res RunResult
		res, err = fresh.Run(cctx, "true")
		if err == nil && res.ExitCode != 0 {
			err = scriptError("confirming access", res)
		}
		fresh.Close()
	}
	if err != nil {
		return fmt.Errorf("after this change a new connection could not get in (%v); the change is being reverted automatically", err)
	}
	res, err := r.run(ctx, c.Commit)
	if err == nil && res.ExitCode != 0 {
		err = scriptError("committing", res)
	}
	return err
}

// ids resolves owner and group to numeric ids: numbers as they are, names
// from the probe's lookup, or (for accounts made during this run) a lookup now.
func (r *run) ids(ctx context.Context, owner, group string) (int, int, error) {
	uid, uerr := lookupID(owner, r.uids)
	gid, gerr := lookupID(group, r.gids)
	if uerr == nil && gerr == nil {
		return uid, gid, nil
	}
	res, err := r.run(ctx, "id -u -- "+shell.Quote(owner)+"; getent group -- "+shell.Quote(group)+" | cut -d: -f3")
	if err != nil {
		return 0, 0, err
	}
	var u, g int
	if _, err := fmt.Sscan(string(res.Stdout), &u, &g); err != nil {
		return 0, 0, fmt.Errorf("owner %s:%s does not exist on the host", owner, group)
	}
	r.uids[owner], r.gids[group] = u, g
	return u, g, nil
}

func lookupID(name string, table map[string]int) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	if n, ok := table[name]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("unknown %q", name)
}

func appendNew(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	if _, err := strconv.Atoi(s); err == nil {
		return list // numeric ids need no lookup
	}
	return append(list, s)
}

// sameUnit: "coturn" and "coturn.service" name one unit.
func sameUnit(a, b string) bool {
	return strings.TrimSuffix(a, ".service") == strings.TrimSuffix(b, ".service")
}
