package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/shell"
)

// Result is the outcome of one script.
type Result struct {
	Stdout, Stderr []byte
	ExitCode       int
	// Skipped: a Batch did not run this script (an earlier one failed).
	Skipped bool
	// Took is how long the host took to answer (in a Batch: since the
	// previous script's answer).
	Took time.Duration
}

// Shell is one /bin/sh on the host, started by a single exec, that runs
// every script of a run (session.go). Scripts are sent over its stdin;
// each one runs in a subshell with stdin from /dev/null, so a script can
// neither read the protocol stream nor end the shell, and is followed by
// random markers on stdout and stderr that delimit its output and carry
// its exit code.
type Shell struct {
	c      *Client
	ch     ssh.Channel
	reqs   <-chan *ssh.Request
	stdin  io.WriteCloser
	stdout io.Reader
	stderr io.Reader

	mu             sync.Mutex // serializes Runs
	outBuf, errBuf []byte     // read past the last markers
	dead           error      // set once the shell is unusable
	busy           atomic.Bool

	exited chan struct{} // closed when the session ends
	status string        // how it ended ("exit status 2"), valid once exited is closed

	// ready is printed by the shell once it runs (until it has been read):
	// a login that never gets there fails the first script after
	// Config.Timeout instead of hanging it.
	ready string
}

// Shell starts the host's shell on first use and returns the same one
// afterwards. Starting it is bounded by Config.Timeout, like the login.
func (c *Client) Shell(ctx context.Context) (*Shell, error) {
	s, _, err := c.shellWith(ctx, nil)
	return s, err
}

// shellWith is Shell; when it starts the shell and first is not nil,
// first(s) is the shell's first input, sent in the exec request itself
// (see startShell), and started says so: the caller then reads that
// input's answer without writing it.
func (c *Client) shellWith(ctx context.Context, first func(s *Shell) string) (sh *Shell, started bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, context.Cause(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shell != nil {
		return c.shell, false, nil
	}
	if c.closed.Load() {
		return nil, false, ErrClosed
	}
	s := &Shell{c: c, exited: make(chan struct{}), ready: newMarker()}
	input := ""
	if first != nil {
		if input = first(s); len(input) > maxExecInput {
			input = ""
		}
	}
	done := make(chan error, 1)
	go func() { done <- c.startShell(s, input) }()
	timer := time.NewTimer(c.cfg.Timeout)
	defer timer.Stop()
	select {
	case err = <-done:
	case <-ctx.Done():
		c.conn.Close() // unblocks startShell; the client is unusable
		return nil, false, context.Cause(ctx)
	case <-timer.C:
		c.conn.Close()
		return nil, false, c.connErr(fmt.Errorf("%s: the remote shell did not start within %s", c.name, c.cfg.Timeout))
	}
	if err != nil {
		return nil, false, c.connErr(err)
	}
	go func() {
		s.status = waitSession(s.reqs)
		close(s.exited)
	}()
	c.shell = s
	return s, input != "", nil
}

// maxExecInput bounds a first input sent in the exec request: sshd
// passes the command to the login shell as one argument, which Linux
// limits to 128 KiB. A longer one goes over the session's input.
const maxExecInput = 64 << 10

// startShell opens the session and starts the shell in it. OpenSSH
// lets no input into a session before its command has started (the
// session's window opens then), so input sent over the session costs a
// round trip after the exec; first, when not empty, is the shell's first
// input, passed in the exec request itself (the host's side hands it to
// the shell before what comes over the session), so that a run's first
// script costs no round trip of its own, as a command given to ssh.
func (c *Client) startShell(s *Shell, first string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	ch, reqs, err := c.conn.OpenChannel("session", nil)
	if err != nil {
		return fmt.Errorf("%s: open SSH session: %w", c.name, err)
	}
	exec := ssh.Marshal(struct{ Command string }{shellCommand(c.cfg.Sudo, first)})
	ok, err := ch.SendRequest("exec", true, exec)
	if err == nil && !ok {
		err = errors.New("the server refused the exec request")
	}
	if err != nil {
		ch.Close()
		return fmt.Errorf("%s: start remote shell: %w", c.name, err)
	}
	c.execs.Add(1)
	s.ch, s.reqs, s.stdin, s.stdout, s.stderr = ch, reqs, channelInput{ch}, ch, ch.Stderr()
	return nil
}

// channelInput is the session's input: Close ends it (EOF), as
// ssh.Session's stdin pipe does, and leaves the session open.
type channelInput struct{ ch ssh.Channel }

func (w channelInput) Write(p []byte) (int, error) { return w.ch.Write(p) }
func (w channelInput) Close() error                { return w.ch.CloseWrite() }

// waitSession reads the session's requests until it is closed and says
// how it ended: "exit status N", "signal NAME", or "" (no status sent).
func waitSession(reqs <-chan *ssh.Request) string {
	status := ""
	for r := range reqs {
		switch r.Type {
		case "exit-status":
			var m struct{ Status uint32 }
			if ssh.Unmarshal(r.Payload, &m) == nil {
				status = fmt.Sprintf("exit status %d", m.Status)
			}
		case "exit-signal":
			var m struct {
				Signal     string
				CoreDumped bool
				Error      string
				Lang       string
			}
			if ssh.Unmarshal(r.Payload, &m) == nil {
				status = "signal " + m.Signal
			}
		}
		if r.WantReply {
			_ = r.Reply(false, nil)
		}
	}
	return status
}

// Run runs script with sh in a subshell and returns its output and exit
// status. A non-zero exit status is not an error; an error means the
// script's outcome is unknown (connection lost, shell gone, ctx done).
// When ctx ends first, the shell's session is closed, which ends the
// script on the host and releases the lock (session.go); the shell cannot
// be used afterwards, and context.Cause(ctx) is returned.
func (s *Shell) Run(ctx context.Context, script string) (Result, error) {
	if err := s.c.checkScript(script); err != nil {
		return Result{}, err
	}
	rs, err := s.run(ctx, []string{subshell(script)})
	if err != nil {
		return Result{}, err
	}
	return rs[0], nil
}

// Batch runs scripts one after another, each as Run would, but sends them
// together so that the host answers all of them in one round trip: on a
// loaded host every round trip waits its turn for the CPU. Once a script
// exits non-zero the rest are not run; their Results have Skipped set.
// Each Result's Took is the time from the previous script's answer (the
// first: from sending) to its own.
func (s *Shell) Batch(ctx context.Context, scripts []string) ([]Result, error) {
	cmds := make([]string, len(scripts))
	for i, sc := range scripts {
		if err := s.c.checkScript(sc); err != nil {
			return nil, err
		}
		// omc_stop is the shell's own variable: a script runs in a
		// subshell, so it cannot set or clear it.
		cmds[i] = "if [ -z \"$omc_stop\" ]; then\n" + subshell(sc) + "\n[ $omc_rc -eq 0 ] || omc_stop=1; else omc_rc=" + skipped + "; fi"
	}
	if len(cmds) > 0 {
		cmds[0] = "omc_stop=\n" + cmds[0]
	}
	return s.run(ctx, cmds)
}

// skipped is the status a Batch prints for a script it did not run: not a
// number, so no script's exit status can look like it.
const skipped = "skip"

// checkScript refuses a script with a NUL byte, which no shell input can
// carry; every way a script reaches the host's shell asks here first.
func (c *Client) checkScript(script string) error {
	if strings.IndexByte(script, 0) >= 0 {
		return fmt.Errorf("%s: script contains a NUL byte", c.name)
	}
	return nil
}

// watchCall starts the watcher (session.go) in the background.
const watchCall = "omc_watch </dev/null >/dev/null 2>&1 &"

// subshell is how a script runs in the shell, with the watcher that ends
// it when the client goes (session.go); it leaves the script's exit status
// in $omc_rc. eval, not inline text: a syntax error then ends the subshell
// only, instead of swallowing the rest of the stream. fds 8 (the session's
// input) and 9 (the lock) are closed so that daemons a script starts keep
// neither.
func subshell(script string) string {
	return watchCall + " omc_w=$!\n( eval " + shell.Quote(script) +
		"\n) </dev/null 8<&- 9>&-\nomc_rc=$?; kill -KILL $omc_w 2>/dev/null; wait $omc_w 2>/dev/null"
}

// withStatus makes cmd leave its exit status where run reads it.
func withStatus(cmd string) string { return cmd + "\nomc_rc=$?" }

// run sends cmds to the shell as they are (they run in the shell itself),
// each followed by its markers, in one write, and reads each one's output
// up to its markers. Each cmd leaves its status in $omc_rc (see
// withStatus): an exit status, or "skip".
func (s *Shell) run(ctx context.Context, cmds []string) ([]Result, error) {
	return s.send(ctx, cmds, false)
}

// send is run; with exit, the shell is told to exit right after cmds, in
// the same write: the session then ends without waiting for the client to
// end its input.
func (s *Shell) send(ctx context.Context, cmds []string, exit bool) ([]Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.compose(cmds, exit)
	return s.exchange(ctx, in, func() error {
		_, err := io.WriteString(s.stdin, in.text)
		return err
	})
}

// input is what the shell is sent for some cmds, and the markers that
// end each one's output.
type input struct {
	text    string
	markers []string
	ready   string // the ready marker, when the text prints it first
}

// compose makes the input for cmds: each followed by its markers, and,
// until the shell has said it runs, the ready marker first; with exit, the
// shell exits after them. It is one compound command, which the shell
// reads whole before it runs any of it (session.go); it defines the
// watcher afresh, as the shell that runs it may have just started.
func (s *Shell) compose(cmds []string, exit bool) input {
	in := input{markers: make([]string, len(cmds)), ready: s.ready}
	var b strings.Builder
	b.WriteString("{\n")
	if slices.ContainsFunc(cmds, func(c string) bool { return strings.Contains(c, watchCall) }) {
		b.WriteString(watcher)
	}
	if in.ready != "" {
		b.WriteString("printf '%s\\n' '" + in.ready + "'\n")
	}
	for i, cmd := range cmds {
		in.markers[i] = newMarker()
		b.WriteString(cmd + "\n")
		b.WriteString("printf '%s %s\\n' '" + in.markers[i] + "' \"$omc_rc\"\nprintf '%s\\n' '" + in.markers[i] + "' >&2\n")
	}
	if exit {
		b.WriteString("exit\n")
	}
	b.WriteString("}\n")
	in.text = b.String()
	return in
}

// exchange sends in with write (nil: the exec request carried it) and
// reads each cmd's output up to its markers. s.mu is held.
func (s *Shell) exchange(ctx context.Context, in input, write func() error) ([]Result, error) {
	if s.dead != nil {
		return nil, s.dead
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	s.busy.Store(true)
	defer s.busy.Store(false)

	markers := in.markers
	// Until the shell has said it runs, the first reader waits for that
	// first, and for no longer than the login may take.
	ready := in.ready
	var readyc chan struct{}
	var login <-chan time.Time
	if ready != "" {
		readyc = make(chan struct{})
		t := time.NewTimer(s.c.cfg.Timeout)
		defer t.Stop()
		login = t.C
	}

	writec := make(chan error, 1)
	if write == nil {
		writec <- nil
	} else {
		go func() { writec <- write() }()
	}
	sent := time.Now()
	results := make([]Result, len(markers))
	for i, marker := range markers {
		type read struct {
			data, rest []byte
			status     string
			err        error
		}
		outc, errc := make(chan read, 1), make(chan read, 1)
		outBuf, errBuf := s.outBuf, s.errBuf
		go func() {
			var r read
			if i == 0 && ready != "" {
				if _, outBuf, _, r.err = readToMarker(s.stdout, outBuf, ready, false); r.err != nil {
					outc <- r
					return
				}
				close(readyc)
			}
			r.data, r.rest, r.status, r.err = readToMarker(s.stdout, outBuf, marker, true)
			outc <- r
		}()
		go func() {
			var r read
			r.data, r.rest, _, r.err = readToMarker(s.stderr, errBuf, marker, false)
			errc <- r
		}()
		var out, errs read
		for got := 0; got < 2; {
			select {
			case out = <-outc:
				got++
			case errs = <-errc:
				got++
			case <-readyc:
				readyc, login, s.ready = nil, nil, ""
			case <-login:
				s.dead = fmt.Errorf("%s: the remote shell did not answer within %s of logging in (does a login script or sudo wait for something?)", s.c.name, s.c.cfg.Timeout)
				s.ch.Close()
				return nil, s.dead
			case <-ctx.Done():
				// Closing the session ends the host's side, the script
				// included (session.go). The readers end with it; nobody
				// reads their results, and the shell is never used again.
				s.dead = fmt.Errorf("%s: the remote shell was closed when a run was cancelled: %w", s.c.name, context.Cause(ctx))
				s.ch.Close()
				return nil, context.Cause(ctx)
			}
		}
		if out.err != nil || errs.err != nil {
			s.dead = s.exitError(errs.data)
			return nil, s.dead
		}
		s.outBuf, s.errBuf = out.rest, errs.rest
		r := Result{Stdout: out.data, Stderr: errs.data, Took: time.Since(sent)}
		sent = sent.Add(r.Took)
		if out.status == skipped {
			r.Skipped = true
		} else if r.ExitCode, out.err = strconv.Atoi(out.status); out.err != nil {
			s.dead = fmt.Errorf("%s: bad exit status line %q from the remote shell", s.c.name, out.status)
			return nil, s.dead
		}
		results[i] = r
	}
	if err := <-writec; err != nil {
		s.dead = s.c.connErr(fmt.Errorf("%s: write to remote shell: %w", s.c.name, err))
		return nil, s.dead
	}
	return results, nil
}

// exitError describes a shell that ended without printing its markers;
// stderr usually says why (e.g. "sudo: a password is required").
func (s *Shell) exitError(stderr []byte) error {
	if err := s.c.connErr(nil); err != nil {
		return err
	}
	if s.c.closed.Load() {
		return fmt.Errorf("%s: %w", s.c.name, ErrClosed)
	}
	select {
	case <-s.exited:
	case <-time.After(time.Second):
	}
	msg := fmt.Sprintf("%s: the remote shell exited unexpectedly", s.c.name)
	select {
	case <-s.exited:
		if s.status != "" && s.status != "exit status 0" {
			msg += " (" + s.status + ")"
		}
	default:
	}
	if t := strings.TrimSpace(string(stderr)); t != "" {
		if len(t) > 500 {
			t = "…" + t[len(t)-500:]
		}
		msg += ": " + t
		if s.c.cfg.Sudo && strings.Contains(t, "password is required") {
			msg += fmt.Sprintf(" (omc runs sudo -n: give %s passwordless sudo, or connect as root)", s.c.cfg.User)
		}
	}
	return errors.New(msg)
}

// exit closes the shell's stdin and waits up to d for it to end.
func (s *Shell) exit(d time.Duration) {
	if s.busy.Load() {
		return
	}
	_ = s.stdin.Close()
	select {
	case <-s.exited:
	case <-time.After(d):
	}
}

// readToMarker reads r (after buf, left over from the previous run) until
// marker; with status, until the end of the "MARKER STATUS" line, and
// returns STATUS. It returns the data before the marker and what came
// after the line.
func readToMarker(r io.Reader, buf []byte, marker string, status bool) (data, rest []byte, st string, err error) {
	m := []byte(marker)
	from := 0
	for {
		if i := bytes.Index(buf[from:], m); i >= 0 {
			i += from
			after := buf[i+len(m):]
			if nl := bytes.IndexByte(after, '\n'); nl >= 0 {
				if status {
					st = strings.TrimSpace(string(after[:nl]))
				}
				return buf[:i], bytes.Clone(after[nl+1:]), st, nil
			}
		} else {
			from = max(0, len(buf)-len(m))
		}
		// Read into buf's spare room: a chunk of its own per call cost
		// 32 KB for every script of every host (a third of what a
		// no-op run allocated).
		buf = slices.Grow(buf, 4096)
		n, rerr := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if rerr != nil {
			if rerr == io.EOF {
				rerr = io.ErrUnexpectedEOF
			}
			return buf, nil, "", rerr
		}
	}
}

func newMarker() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "__omc_" + hex.EncodeToString(b[:])
}

// DefaultLockPath is where a run's lock lives on a host: tmpfs, so a no-op
// run writes nothing persistent, and a reboot clears it.
const DefaultLockPath = "/run/omc/lock"

// Lock takes the host's lock for this run, in the persistent shell: fd 9
// stays open, and flocked, for the shell's life. It fails with a
// *LockedError when another run holds it. When the lock file still holds
// the text of a run that died without unlocking, that text is returned as
// stale (for the caller to report) and replaced by holder.
//
// Closing the connection ends the shell and so releases the lock: a
// killed omc never leaves a lock that blocks the next run.
func (c *Client) Lock(ctx context.Context, holder string) (stale string, err error) {
	stale, _, err = c.lockRun(ctx, holder, "")
	return stale, err
}

// LockRun is Lock, then Run of script once the lock is taken, both in one
// round trip: a run's first look at a host costs no round trip of its
// own for the lock. When the lock is not taken, script does not run.
func (c *Client) LockRun(ctx context.Context, holder, script string) (stale string, r Result, err error) {
	return c.lockRun(ctx, holder, script)
}

func (c *Client) lockRun(ctx context.Context, holder, script string) (stale string, r Result, err error) {
	if err := c.checkScript(script); err != nil {
		return "", Result{}, err
	}
	c.mu.Lock()
	locked := c.locked
	c.mu.Unlock()
	if locked {
		if script == "" {
			return "", Result{}, nil
		}
		s, err := c.Shell(ctx)
		if err != nil {
			return "", Result{}, err
		}
		r, err := s.Run(ctx, script)
		return "", r, err
	}
	lockPath := c.cfg.LockPath
	// A failed redirection on the special built-in exec would end the
	// shell; through command, exec is not special (POSIX), and the check
	// costs no subshell. On a run after the first the directory is there
	// and the file empty (Unlock empties it): then neither mkdir nor cat
	// runs, an exec each.
	// omc_locked, the shell's own, says whether script may run.
	dir, file := shell.Quote(path.Dir(lockPath)), shell.Quote(lockPath)
	lock := `omc_locked=
[ -d ` + dir + ` ] || mkdir -p ` + dir + ` 2>/dev/null
if ! command -v flock >/dev/null 2>&1; then echo noflock
elif ! { command exec 9>>` + file + `; } 2>/dev/null; then echo nofile
else
  if flock -n 9; then omc_locked=1; echo acquired; [ ! -s ` + file + ` ] || cat ` + file + `; printf '%s\n' ` + shell.Quote(holder) + ` >` + file + `
  else
    exec 9>&-; echo held
    # The holder writes its text right after taking the lock: give it a moment.
    [ -s ` + file + ` ] || sleep 0.2 2>/dev/null || sleep 1
    cat ` + file + `
  fi
fi`
	cmds := []string{withStatus(lock)}
	if script != "" {
		cmds = append(cmds, "if [ -n \"$omc_locked\" ]; then\n"+subshell(script)+"\nelse omc_rc="+skipped+"; fi")
	}
	rs, err := c.runFirst(ctx, cmds)
	if err != nil {
		return "", Result{}, err
	}
	if stale, err = c.lockResult(rs[0], lockPath); err != nil {
		return "", Result{}, err
	}
	if script != "" {
		r = rs[1]
	}
	return stale, r, nil
}

// RunFirst is Shell(ctx).Run(ctx, script), except that a shell not
// started yet gets script in its exec request, as LockRun does: a run's
// first look at a host then costs no round trip of its own.
func (c *Client) RunFirst(ctx context.Context, script string) (Result, error) {
	if err := c.checkScript(script); err != nil {
		return Result{}, err
	}
	rs, err := c.runFirst(ctx, []string{subshell(script)})
	if err != nil {
		return Result{}, err
	}
	return rs[0], nil
}

// runFirst runs cmds in the shell; one that this starts gets them in its
// exec.
func (c *Client) runFirst(ctx context.Context, cmds []string) ([]Result, error) {
	var in input
	s, started, err := c.shellWith(ctx, func(s *Shell) string { in = s.compose(cmds, false); return in.text })
	if err != nil {
		return nil, err
	}
	if !started {
		return s.run(ctx, cmds)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exchange(ctx, in, nil)
}

// lockResult reads the lock script's answer.
func (c *Client) lockResult(r Result, lockPath string) (stale string, err error) {
	status, content, _ := strings.Cut(string(r.Stdout), "\n")
	content = strings.TrimRight(content, "\n")
	switch status {
	case "acquired":
		c.mu.Lock()
		c.locked = true
		c.mu.Unlock()
		return content, nil
	case "held":
		return "", &LockedError{Host: c.name, Holder: content}
	case "noflock":
		return "", fmt.Errorf("%s: cannot lock: flock(1) is missing on the host (Debian: apt-get install util-linux)", c.name)
	case "nofile":
		return "", fmt.Errorf("%s: cannot lock: cannot write %s as %s (use root or ssh sudo)", c.name, lockPath, c.cfg.User)
	}
	return "", fmt.Errorf("%s: cannot lock: unexpected output %q %s", c.name, r.Stdout, strings.TrimSpace(string(r.Stderr)))
}

// Unlock empties the lock file and releases the lock. Without a lock held
// by this client it does nothing.
func (c *Client) Unlock(ctx context.Context) error { return c.unlock(ctx, false) }

// UnlockClose is Unlock, then Close, with the shell told to exit in the
// same write as the unlock: the run's last round trip. The unlock
// releases the lock itself, so Close then need not wait for the shell
// to exit.
func (c *Client) UnlockClose(ctx context.Context) error {
	err := c.unlock(ctx, true)
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

func (c *Client) unlock(ctx context.Context, exit bool) error {
	c.mu.Lock()
	s, locked := c.shell, c.locked
	c.mu.Unlock()
	if !locked {
		return nil
	}
	// printf, a regular built-in: a failed redirection on ":" would end the shell.
	lockPath := c.cfg.LockPath
	rs, err := s.send(ctx, []string{"printf '' >" + shell.Quote(lockPath) + "; omc_rc=$?; exec 9>&-"}, exit)
	if err != nil {
		return err
	}
	r := rs[0]
	c.mu.Lock()
	c.locked = false
	c.mu.Unlock()
	if r.ExitCode != 0 {
		return fmt.Errorf("%s: unlock: cannot empty %s: %s", c.name, lockPath, strings.TrimSpace(string(r.Stderr)))
	}
	return nil
}
