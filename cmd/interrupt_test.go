package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/sshtest"
)

// TestStoppedDuringACommand: omc up stopped while a command step runs
// (Ctrl-C, SIGKILL, --timeout) leaves neither the command nor the host's
// lock behind, and says which step on which host it stopped, and why.
func TestStoppedDuringACommand(t *testing.T) {
	srv := sshtest.Start(t)
	for _, tc := range []struct {
		name string
		args []string
		stop func(p *os.Process)
		code int    // -1: killed by a signal
		says string // on stderr
	}{
		{"ctrl-c", nil, func(p *os.Process) { p.Signal(os.Interrupt) }, ExitInterrupt,
			"h0: step \"command long\": interrupted (Ctrl-C)\nomc: interrupted (Ctrl-C): 1 of 1 hosts did not finish; full log: "},
		{"sigterm", nil, func(p *os.Process) { p.Signal(syscall.SIGTERM) }, ExitInterrupt,
			"h0: step \"command long\": interrupted (SIGTERM)\n"},
		{"sigkill", nil, func(p *os.Process) { p.Kill() }, -1, ""},
		{"--timeout", []string{"--timeout", "4s"}, func(*os.Process) {}, ExitError,
			"h0: step \"command long\": timed out after --timeout 4s\nomc: timed out after --timeout 4s: 1 of 1 hosts did not finish; full log: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := isolate(t)
			lockPathFor(t, filepath.Join(d, "{node}.lock"))
			pidFile := filepath.Join(d, "pid")
			inv := filepath.Join(d, "omc.yaml")
			os.WriteFile(inv, []byte(fmt.Sprintf(`apiVersion: omc/v1
name: t
groups:
  g:
    provider: static
    nodes:
      - name: h0
        address: 127.0.0.1
        ssh: {port: %d, key: %s, user: %s}
        steps:
          - name: long
            command:
              run: sh -c 'echo $$ >%[4]s.tmp; mv %[4]s.tmp %[4]s; exec sleep 600'
              creates: %[4]s.never
`, srv.Port, srv.KeyFile, srv.User, pidFile)), 0o644)

			c, errb := omcProcess(t, nil, append([]string{"up", "-i", inv}, tc.args...)...)
			pid := waitPidFile(t, pidFile)
			tc.stop(c.Process)
			code, signaled := waitExit(t, c)
			if signaled {
				code = -1
			}
			if code != tc.code || !strings.Contains(errb.String(), tc.says) {
				t.Fatalf("exit %d, want %d; stderr:\n%s\nwant it to say:\n%s", code, tc.code, errb.String(), tc.says)
			}
			lock := filepath.Join(d, "h0.lock")
			for deadline := time.Now().Add(30 * time.Second); !lockFree(t, lock); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the host's lock is still held 30s after omc stopped")
				}
			}
			for deadline := time.Now().Add(10 * time.Second); running(pid); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the interrupted command (pid %d) still runs on the host", pid)
				}
			}
		})
	}
}

// waitPidFile waits (at most 20s) for a command to write its pid.
func waitPidFile(t *testing.T, path string) int {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatalf("pid file: %v", err)
			}
			return pid
		}
	}
	t.Fatal("the command did not start within 20s")
	return 0
}

// lockFree reports whether the lock file can be flocked now.
func lockFree(t *testing.T, path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("lock file: %v", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true
}

// running reports whether pid is a live process (a zombie is not: in a
// container nobody may reap it).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	return !strings.HasPrefix(s[strings.LastIndexByte(s, ')')+1:], " Z ")
}
