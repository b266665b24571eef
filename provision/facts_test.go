package provision

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Files, dirs and lines whose attributes and hashes are asked for in one
// stat and one sha256sum for all, next to paths that cannot be (a tab, a
// backslash) and keep their own probe: each step must still see its own
// path's state, drift in one must be found and fixed in that one only.
func TestFactsSharedAcrossStepsOnRealShell(t *testing.T) {
	needRoot(t)
	d := tempDir(t)
	odd := filepath.Join(d, "tab\there")
	slash := filepath.Join(d, `back\slash`)
	steps := []Step{
		&DirStep{Path: filepath.Join(d, "etc"), Mode: 0o750, Owner: "root", Group: "root"},
		&FileStep{Path: filepath.Join(d, "etc", "a.conf"), Content: []byte("a\n"), Mode: 0o640, Owner: "root", Group: "root"},
		&FileStep{Path: filepath.Join(d, "etc", "b.conf"), Content: []byte("b\n"), Mode: 0o600, Owner: "root", Group: "root"},
		&FileStep{Path: odd, Content: []byte("odd\n"), Mode: 0o644, Owner: "root", Group: "root"},
		&FileStep{Path: slash, Content: []byte("slash\n"), Mode: 0o644, Owner: "root", Group: "root"},
		&LineStep{Path: filepath.Join(d, "etc", "a.conf"), Line: "enabled=1"},
	}
	if !batchable(steps[1].(*FileStep).Path) || batchable(odd) || batchable(slash) {
		t.Fatal("batchable() does not tell the test's paths apart")
	}
	r, _ := converge(t, Apply, &localConn{}, steps...)
	if r.Err != nil || r.Changed != 6 {
		t.Fatalf("first run: changed=%d err=%v", r.Changed, r.Err)
	}
	// The line step appended to a.conf after the file step wrote it, so
	// the file step now sees drift: the two disagree by design. Drop it.
	steps = append(steps[:1], steps[2:]...)
	c := &localConn{}
	if r, _ := converge(t, Apply, c, steps...); r.Err != nil || r.Changed != 0 || c.runs != 1 || len(c.writes) != 0 {
		t.Fatalf("no-op: changed=%d runs=%d writes=%v err=%v", r.Changed, c.runs, c.writes, r.Err)
	}

	// Drift in one batched file's mode, one batched file's content, the
	// odd file's content: exactly those three are changed.
	os.Chmod(filepath.Join(d, "etc", "b.conf"), 0o644)
	os.WriteFile(odd, []byte("changed\n"), 0o644)
	os.Chmod(filepath.Join(d, "etc"), 0o755)
	r, ev := converge(t, Apply, &localConn{}, steps...)
	if r.Err != nil || r.Changed != 3 {
		t.Fatalf("drift: changed=%d err=%v events=%+v", r.Changed, r.Err, ev)
	}
	if !hasEvent(ev, "changed", "mode 0644→0600") || !hasEvent(ev, "changed", "mode 0755→0750") || !hasEvent(ev, "changed", "content") {
		t.Fatalf("drift events: %+v", ev)
	}
	if got := readFile(t, odd); got != "odd\n" {
		t.Fatalf("odd file = %q", got)
	}
}

// A FIFO or a symlink where a file is wanted is "not a regular file":
// the shared sha256sum must never open them (a FIFO would block it).
func TestFactsNeverReadAFifoOrFollowASymlink(t *testing.T) {
	needRoot(t)
	d := tempDir(t)
	fifo := filepath.Join(d, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(d, "target")
	writeFile(t, target, "x\n")
	link := filepath.Join(d, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, link} {
		r, _ := converge(t, Apply, &localConn{}, &FileStep{Path: p, Content: []byte("x\n"), Mode: 0o644, Owner: "root", Group: "root"})
		if r.Err == nil || !strings.Contains(r.Err.Error(), "not a regular file") {
			t.Fatalf("%s: err = %v", p, r.Err)
		}
	}
}

// Units: is-active is asked once for all, one line per unit, unknown ones
// included; a missing systemctl reads as not active.
func TestFactValuesActive(t *testing.T) {
	got := factValues(factActive, []string{"a", "b", "c"}, []string{"active", "inactive", "failed"})
	if got["a"] != "active" || got["b"] != "inactive" || got["c"] != "failed" {
		t.Fatalf("got %v", got)
	}
	got = factValues(factActive, []string{"a", "b"}, nil)
	if v, ok := got["b"]; !ok || v != "" {
		t.Fatalf("no systemctl: got %v", got)
	}
	c, err := (&ServiceStep{Name: "b", Enabled: true, Running: true}).Plan([]string{"enabled=enabled", "active=" + got["b"]})
	if err != nil || c == nil || !strings.Contains(c.Script, "systemctl start") {
		t.Fatalf("c=%+v err=%v", c, err)
	}
}
