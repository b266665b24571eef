package provision

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"

	"github.com/omc-coop/omc/internal/testenv"
	"github.com/omc-coop/omc/remote"
)

// localConn runs the engine's scripts with the real /bin/sh on this
// machine and writes files atomically in the same way remote does. It lets
// step tests exercise the real probe and apply scripts on a real
// filesystem (a temp dir) in milliseconds; the SSH path is covered by the
// integration tests against real sshd.
type localConn struct {
	// path, when set, goes before the standard PATH (stand-in tools).
	path    string
	mu      sync.Mutex
	runs    int // round trips: scripts and batches
	batches int
	reads   int
	writes  []string
	locked  bool
}

func (c *localConn) Run(ctx context.Context, script string) (RunResult, error) {
	c.mu.Lock()
	c.runs++
	c.mu.Unlock()
	return c.exec(ctx, script)
}

func (c *localConn) exec(ctx context.Context, script string) (RunResult, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	if c.path != "" {
		path = c.path + ":" + path
	}
	cmd.Env = []string{"PATH=" + path, "LC_ALL=C"}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code, err = ee.ExitCode(), nil
	}
	return RunResult{Stdout: out.Bytes(), Stderr: errb.Bytes(), ExitCode: code}, err
}

// Batch runs ops one by one and counts as one run: one round trip.
func (c *localConn) Batch(ctx context.Context, ops []Op) ([]RunResult, error) {
	c.mu.Lock()
	c.runs++
	c.batches++
	c.mu.Unlock()
	out := make([]RunResult, len(ops))
	failed := false
	for i, op := range ops {
		if failed {
			out[i].Skipped = true
			continue
		}
		if w := op.Write; w != nil {
			if err := c.WriteFile(ctx, w.Path, w.Data, w.Mode, w.UID, w.GID); err != nil {
				out[i], failed = RunResult{ExitCode: 1, Stderr: []byte(err.Error())}, true
			}
			continue
		}
		r, err := c.exec(ctx, op.Script)
		if err != nil {
			return nil, err
		}
		out[i], failed = r, r.ExitCode != 0
	}
	return out, nil
}

func (c *localConn) ReadFile(_ context.Context, p string) ([]byte, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return os.ReadFile(p)
}

func (c *localConn) WriteFile(_ context.Context, p string, data []byte, mode os.FileMode, uid, gid int) error {
	c.mu.Lock()
	c.writes = append(c.writes, p)
	c.mu.Unlock()
	tmp := remote.TempName(p)
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	if err := os.Chown(tmp, uid, gid); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func (c *localConn) Lock(context.Context, string) (string, error) { c.locked = true; return "", nil }
func (c *localConn) Unlock(context.Context) error                 { c.locked = false; return nil }
func (c *localConn) Close() error                                 { return nil }

// converge runs the engine on one local host and returns its result and events.
func converge(t *testing.T, mode Mode, c *localConn, steps ...Step) (Result, []Event) {
	t.Helper()
	var mu sync.Mutex
	var events []Event
	rs := Run(context.Background(), []Host{{Name: "local", Steps: steps, Dial: func(context.Context) (Conn, error) { return c, nil }}},
		Options{Mode: mode, Observer: ObserverFunc(func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() })})
	return rs[0], events
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root (chown of test files); run the tests as root")
	}
}

func tempDir(t *testing.T) string {
	d := t.TempDir()
	d, _ = filepath.EvalSymlinks(d)
	return d
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustRe(s string) *regexp.Regexp { return regexp.MustCompile(s) }
