package cmd

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe to read while a process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// omcProcess starts this test binary as omc (TestMain) with args.
func omcProcess(t *testing.T, stdin io.Reader, args ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	c := exec.Command(os.Args[0], args...)
	c.Env = append(os.Environ(), "OMC_TEST_AS_OMC=1", "CI=true", "NO_COLOR=1", testLockPathEnv+"="+os.Getenv(testLockPathEnv))
	errb := &lockedBuffer{}
	c.Stdin, c.Stderr = stdin, errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	return c, errb
}

// waitFor polls until stderr says want (at most 20 s).
func waitFor(t *testing.T, errb *lockedBuffer, want string) {
	t.Helper()
	for i := 0; i < 400 && !strings.Contains(errb.String(), want); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(errb.String(), want) {
		t.Fatalf("omc never said %q; stderr %q", want, errb.String())
	}
}

// waitExit waits (at most 20 s, so a hang fails instead of blocking the
// suite) and returns the exit status.
func waitExit(t *testing.T, c *exec.Cmd) (code int, signaled bool) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			ws := ee.Sys().(syscall.WaitStatus)
			return ws.ExitStatus(), ws.Signaled()
		}
		return 0, false
	case <-time.After(20 * time.Second):
		t.Fatal("omc did not exit")
		return 0, false
	}
}

// -i on a named pipe nobody writes to waits in open(2), -i - on a silent
// stdin in read(2): omc says it is waiting, and the first SIGTERM or
// SIGINT ends it with 130, naming what it waited for.
func TestWaitingForTheInventoryHonoursTheFirstSignal(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "inv.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe() // stays open and silent
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	for _, tc := range []struct {
		name  string
		stdin io.Reader
		args  []string
		sig   syscall.Signal
		what  string
	}{
		{"fifo", nil, []string{"validate", "-i", fifo}, syscall.SIGTERM, fifo},
		{"stdin", r, []string{"status", "-i", "-"}, syscall.SIGINT, "standard input (-i -)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, errb := omcProcess(t, tc.stdin, tc.args...)
			waitFor(t, errb, "still waiting to read the inventory from "+tc.what)
			c.Process.Signal(tc.sig)
			code, signaled := waitExit(t, c)
			if signaled || code != ExitInterrupt || !strings.Contains(errb.String(), "interrupted while waiting to read the inventory from "+tc.what) {
				t.Fatalf("exit %d (signaled %v), stderr %q", code, signaled, errb.String())
			}
		})
	}
}
