package provision

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/remote"
)

// TestSSHCommandTimeout: a command step that runs past its time limit is
// ended on the host with what it started, the step fails saying so, and
// the host's lock is released as after any failed step.
func TestSSHCommandTimeout(t *testing.T) {
	srv := sshtest.Start(t)
	kh := &remote.KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	d := tempDir(t)
	pid := d + "/pid"
	stuck := &CommandStep{Label: "stuck", Creates: d + "/never", Timeout: time.Second,
		Run: "sh -c 'echo $$ >" + shell.Quote(pid) + "; exec sleep 600'"}
	after := &DirStep{Path: d + "/after", Mode: 0o755, Owner: "root", Group: "root"}
	h := sshHost(t, "h", srv, kh, stuck, after)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	r := Run(ctx, []Host{h}, Options{Mode: Apply})[0]
	if r.Err == nil || !strings.Contains(r.Err.Error(), `step "command stuck": timed out after 1s and was ended`) {
		t.Fatalf("err = %v", r.Err)
	}
	if _, err := os.Stat(d + "/after"); !os.IsNotExist(err) {
		t.Error("the steps after the one that timed out ran")
	}
	b, err := os.ReadFile(pid)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for deadline := time.Now().Add(15 * time.Second); live(p); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the timed-out command (pid %d) still runs", p)
		}
	}
	// Unlocked: the next run gets in (and times out again).
	r = Run(ctx, []Host{h}, Options{Mode: Apply})[0]
	if r.Err == nil || !strings.Contains(r.Err.Error(), "timed out after 1s") {
		t.Fatalf("next run: %v", r.Err)
	}
}

// TestCommandExit124 tells a command that exits 124 itself from one that
// timed out.
func TestCommandExit124(t *testing.T) {
	d := tempDir(t)
	r, _ := converge(t, Apply, &localConn{}, &CommandStep{Run: "echo own >&2; exit 124", Creates: d + "/never"})
	if r.Err == nil || !strings.Contains(r.Err.Error(), "command failed: exit status 124: own") {
		t.Fatalf("err = %v", r.Err)
	}
}

// live reports whether pid runs (a zombie does not).
func live(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	return !strings.HasPrefix(s[strings.LastIndexByte(s, ')')+1:], " Z ")
}

// TestCommandTimeoutFromInventory: timeout: on a command step is its
// limit; without one, the default applies.
func TestCommandTimeoutFromInventory(t *testing.T) {
	inv := loadInv(t, `apiVersion: omc/v1
name: t
groups:
  g:
    provider: static
    nodes:
      - name: n1
        address: 192.0.2.10
        steps:
          - command: {run: make, creates: /a, timeout: 3h}
          - command: {run: make again, creates: /b}
`)
	steps, err := Steps(inv, inv.Nodes()[0])
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"timeout -v -k 10 10800'", "timeout -v -k 10 3600'"} {
		c, err := steps[i].Plan([]string{"done=no"})
		if err != nil || c == nil {
			t.Fatalf("step %d: %v, %v", i, c, err)
		}
		if !strings.Contains(c.Script, want) {
			t.Errorf("step %d: script %q lacks %q", i, c.Script, want)
		}
	}
}
