// Package provision is omc's engine: it turns a node's declared steps into
// the fewest round trips that converge the host.
//
// Each step says what it wants. Its probe is shell code that only reads
// state; the engine sends the probes of all a host's steps in ONE exec,
// compares what they print with what is wanted, and applies only what
// differs, in as few round trips as it can: the changes go in batches
// (files written atomically through the same shell, see batch.go).
// Handlers (service restarts) run once, at the end, and only when a step
// that notifies them changed something.
package provision

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// Step is one desired piece of host state.
type Step interface {
	// ID names the step uniquely on a host, e.g. "file /etc/motd".
	ID() string
	// Probe is shell code that prints the step's current state on stdout
	// and changes nothing. It runs under `set +e` in a shared script.
	Probe() string
	// Plan compares the probe's output lines with the wanted state and
	// returns the change to make, or nil when the host is in sync.
	Plan(obs []string) (*Change, error)
}

// Change is what one step would do on one host.
type Change struct {
	Step    Step   `json:"-"`
	Summary string `json:"summary"`
	// Diff is a unified diff for file content, filled in by the engine
	// (secrets masked) when Write is set and content differs.
	Diff string `json:"diff,omitempty"`

	// Before runs first (e.g. making a user's missing groups).
	Before string `json:"-"`
	// MakeDir is a missing parent directory to make before Write
	// (mkdir -p), unless this run already made it.
	MakeDir string `json:"-"`
	// Write, when set, is a file written atomically (see batch.go).
	Write *FileWrite `json:"-"`
	// Script runs after Write.
	Script string `json:"-"`
	// Commit, when set, makes the change guarded: Script must arm an
	// automatic revert of itself (a firewall ruleset that might cut omc
	// off), the engine then proves that a fresh connection still gets in,
	// and only then runs Commit (cancel the revert, persist). If the fresh
	// connection fails, the step fails and the armed revert restores access.
	Commit string `json:"-"`
	// Notify names services to restart once at the end of the run.
	Notify []string `json:"-"`
	// Starts names services this change starts from stopped: a restart
	// notified before it is then done already (the fresh start reads the
	// changed files), so the engine drops it rather than start twice.
	Starts []string `json:"-"`
	// Check turns a finished Script's result into an error, for steps
	// that must tell an unusual outcome apart (sysctl "not permitted").
	Check func(stdout, stderr string, code int) error `json:"-"`
}

// FileWrite is a whole-file write. Content may be derived from the current
// content (line steps), so it is a function of what the host has.
type FileWrite struct {
	Path  string
	Mode  os.FileMode
	Owner string
	Group string
	// ContentChanged is false for mode/owner-only changes: no write then,
	// just chmod/chown in Script.
	ContentChanged bool
	// NeedOld: Content needs the current content (line edits). HaveOld:
	// the probe brought it, in Old; otherwise the engine reads it.
	NeedOld, HaveOld bool
	Old              []byte
	// Exists: the target is there, so a plan can show its diff.
	Exists bool
	// Content computes the new content from the old (nil when absent).
	Content func(old []byte) ([]byte, error)
	// Binary content is never shown as a diff.
	Binary bool
}

// Conn is what the engine needs from a host connection. *remote.Client
// provides it through sshConn; tests may run it against a local shell.
type Conn interface {
	Run(ctx context.Context, script string) (RunResult, error)
	// Batch runs ops in order in one round trip. After the first that
	// exits non-zero the rest are not run: their results have Skipped.
	Batch(ctx context.Context, ops []Op) ([]RunResult, error)
	ReadFile(ctx context.Context, path string) ([]byte, error)
	WriteFile(ctx context.Context, path string, data []byte, mode os.FileMode, uid, gid int) error
	Lock(ctx context.Context, holder string) (stale string, err error)
	Unlock(ctx context.Context) error
	Close() error
}

// lockRunner is a Conn that can take the lock and run the first script
// in one round trip (remote.Client.LockRun); the script does not run when
// the lock is not taken.
type lockRunner interface {
	LockRun(ctx context.Context, holder, script string) (stale string, r RunResult, err error)
}

// unlockCloser is a Conn that can unlock and end its session in one
// round trip (remote.Client.UnlockClose).
type unlockCloser interface {
	UnlockClose(ctx context.Context) error
}

// RunResult is the outcome of one shell script.
type RunResult struct {
	Stdout, Stderr []byte
	ExitCode       int
	Skipped        bool          // in a Batch: not run, an earlier op failed
	Took           time.Duration // in a Batch: since the previous op's answer
}

// scriptError describes a failed script for the user: exit code and the
// last lines of stderr (stdout when stderr is empty).
func scriptError(what string, r RunResult) error {
	out := strings.TrimSpace(string(r.Stderr))
	if out == "" {
		out = strings.TrimSpace(string(r.Stdout))
	}
	lines := strings.Split(out, "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	out = strings.Join(lines, "\n")
	if out == "" {
		return fmt.Errorf("%s: exit status %d", what, r.ExitCode)
	}
	return fmt.Errorf("%s: exit status %d: %s", what, r.ExitCode, out)
}

// field returns the value of "key=value" in obs, and whether it was there.
func field(obs []string, key string) (string, bool) {
	p := key + "="
	for _, l := range obs {
		if strings.HasPrefix(l, p) {
			return l[len(p):], true
		}
	}
	return "", false
}
