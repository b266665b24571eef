package remote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/sshtest"
)

// TestLockGoesWithConnection: a run that holds the host's lock and is
// stopped in the middle of a long command (its context cancelled, as on
// Ctrl-C or --timeout; or its connection cut with no SSH goodbye, as when
// omc is killed) leaves neither the lock nor the command behind.
func TestLockGoesWithConnection(t *testing.T) {
	srv := sshtest.Start(t)
	kh := testKnownHosts(t)
	cancelled := func(_ *Client, cancel context.CancelFunc) { cancel() }
	// Closing the TCP connection under the SSH client: what the kernel
	// does for an omc killed with SIGKILL.
	dropped := func(c *Client, _ context.CancelFunc) { c.conn.Close() }
	_, sudoErr := exec.LookPath("sudo")
	for _, tc := range []struct {
		name string
		sudo bool
		stop func(c *Client, cancel context.CancelFunc)
		trap string // run first by the command
	}{
		{"context cancelled", false, cancelled, ""},
		{"connection dropped", false, dropped, ""},
		{"sudo, context cancelled", true, cancelled, ""},
		{"sudo, connection dropped", true, dropped, ""},
		// Ended with KILL after the grace; the lock is held until then.
		{"command ignores TERM", false, dropped, "trap '' TERM; "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.sudo && sudoErr != nil {
				t.Skip("needs sudo (apt-get install sudo)")
			}
			cfg := configFor(srv, kh)
			cfg.Sudo = tc.sudo
			cfg.LockPath = filepath.Join(t.TempDir(), "lock")
			pidFile := filepath.Join(t.TempDir(), "pid")

			a := mustDial(t, cfg)
			if _, err := a.Lock(ctxT(t), "run A"); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			ran := make(chan error, 1)
			go func() {
				_, err := mustShell(t, a).Run(ctx, tc.trap+"sh -c 'echo $$ >"+pidFile+".tmp; mv "+pidFile+".tmp "+pidFile+"; exec sleep 600'")
				ran <- err
			}()
			pid := waitPid(t, pidFile)
			tc.stop(a, cancel)
			if err := <-ran; err == nil {
				t.Fatal("Run of the stopped command succeeded")
			}

			b := mustDial(t, cfg)
			var stale string
			var err error
			for deadline := time.Now().Add(30 * time.Second); ; {
				stale, err = b.Lock(ctxT(t), "run B")
				var le *LockedError
				if !errors.As(err, &le) || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("the next run cannot lock within 30s: %v", err)
			}
			if stale != "run A" {
				t.Errorf("stale = %q, want run A", stale)
			}
			if !gone(pid, 10*time.Second) {
				t.Errorf("the stopped command (pid %d) still runs on the host", pid)
			}
		})
	}
}

// waitPid waits (at most 10s) for a script to write its pid to path.
func waitPid(t *testing.T, path string) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatalf("pid file: %v", err)
			}
			return pid
		}
	}
	t.Fatal("the command did not start within 10s")
	return 0
}

// gone waits up to d for pid to end; a zombie counts as ended (in a
// container nobody may reap it).
func gone(pid int, d time.Duration) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		if s := string(b); strings.Contains(s[strings.LastIndexByte(s, ')')+1:], " Z ") {
			return true
		}
		if time.Now().After(deadline) {
			return syscall.Kill(pid, 0) != nil
		}
	}
}

// TestCloseLeavesDaemons: a clean Close ends no process a script left
// running; only a client that vanished mid-script has its processes ended.
func TestCloseLeavesDaemons(t *testing.T) {
	srv := sshtest.Start(t)
	cfg := configFor(srv, testKnownHosts(t))
	cfg.LockPath = filepath.Join(t.TempDir(), "lock")
	pidFile := filepath.Join(t.TempDir(), "pid")
	c := mustDial(t, cfg)
	if _, err := c.Lock(ctxT(t), "run"); err != nil {
		t.Fatal(err)
	}
	sh := mustShell(t, c)
	mustRun(t, sh, "sh -c 'echo $$ >"+pidFile+".tmp; mv "+pidFile+".tmp "+pidFile+"; exec sleep 30' </dev/null >/dev/null 2>&1 &")
	pid := waitPid(t, pidFile)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	c.Close()
	select {
	case <-sh.exited:
	default:
		t.Fatal("the shell had not exited when Close returned")
	}
	if gone(pid, 0) {
		t.Error("Close ended a process a script had started in the background")
	}
}
