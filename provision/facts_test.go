package provision

import (
	"context"
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

// standinIsEnabled is a STAND-IN for systemctl is-enabled as systemd 252
// has it: one line per unit, stopping (exit 1) at the first unit it does
// not know. Units are files in $dir/units holding their state; every call
// is logged to $dir/calls.
const standinIsEnabled = `#!/bin/sh
d=%DIR%
echo "$*" >> "$d/calls"
[ "$1" = is-enabled ] || exit 0
shift; [ "$1" = "--" ] && shift
for u in "$@"; do
  if [ ! -f "$d/units/$u" ]; then echo "Failed to get unit file state for $u.service: No such file or directory" >&2; exit 1; fi
  cat "$d/units/$u"
done
`

// The units' enablement is asked for all of a host's service steps in one
// systemctl call; only when one of them is unknown (is-enabled stops
// there) is each asked alone, and every step still gets its own state.
func TestIsEnabledAskedOnceForAllUnits(t *testing.T) {
	d := tempDir(t)
	os.MkdirAll(filepath.Join(d, "units"), 0o755)
	os.MkdirAll(filepath.Join(d, "bin"), 0o755)
	writeFile(t, filepath.Join(d, "bin", "systemctl"), strings.ReplaceAll(standinIsEnabled, "%DIR%", d))
	os.Chmod(filepath.Join(d, "bin", "systemctl"), 0o755)
	writeFile(t, filepath.Join(d, "units", "a"), "enabled\n")
	writeFile(t, filepath.Join(d, "units", "c"), "static\n")
	steps := []Step{&ServiceStep{Name: "a", Enabled: true}, &ServiceStep{Name: "c", Enabled: true}}
	enabled := func(steps []Step) ([]string, []string) {
		t.Helper()
		os.Remove(filepath.Join(d, "calls"))
		nonce := newNonce()
		script, facts := probeScript(nonce, steps, nil, nil, nil)
		res, err := (&localConn{path: filepath.Join(d, "bin")}).Run(context.Background(), script)
		if err != nil {
			t.Fatal(err)
		}
		obs, _, _, err := parseProbe(nonce, steps, facts, string(res.Stdout))
		if err != nil {
			t.Fatal(err)
		}
		var got, calls []string
		for _, o := range obs {
			v, _ := field(o, "enabled")
			got = append(got, v)
		}
		for _, l := range strings.Split(strings.TrimSpace(readFile(t, filepath.Join(d, "calls"))), "\n") {
			if strings.HasPrefix(l, "is-enabled") {
				calls = append(calls, l)
			}
		}
		return got, calls
	}
	got, calls := enabled(steps)
	if strings.Join(got, ",") != "enabled,static" || len(calls) != 1 {
		t.Fatalf("known units: enabled %q, is-enabled calls %q (want one)", got, calls)
	}
	// b is unknown: is-enabled a b c prints a's line only.
	steps = []Step{steps[0], &ServiceStep{Name: "b", Enabled: true}, steps[1]}
	got, calls = enabled(steps)
	if strings.Join(got, ",") != "enabled,,static" || len(calls) != 4 {
		t.Fatalf("an unknown unit: enabled %q, is-enabled calls %q (want 1 + 3)", got, calls)
	}
	if c, err := steps[1].Plan([]string{"enabled=" + got[1], "active=inactive"}); err != nil || c == nil || !strings.Contains(c.Script, "enable") {
		t.Fatalf("unknown unit: change %+v, err %v", c, err)
	}
}

// The packages gate reads the probe's own dpkg-query output: in sync only
// when every package is installed (status letter "i", also when held).
func TestPackagesGateReadsItsProbe(t *testing.T) {
	d := tempDir(t)
	os.MkdirAll(filepath.Join(d, "bin"), 0o755)
	// STAND-IN for dpkg-query: prints $d/status as it is, logs each call.
	writeFile(t, filepath.Join(d, "bin", "dpkg-query"), "#!/bin/sh\necho x >> "+d+"/calls\ncat "+d+"/status 2>/dev/null\n")
	os.Chmod(filepath.Join(d, "bin", "dpkg-query"), 0o755)
	s := &PackagesStep{Names: []string{"coturn", "nftables"}}
	for _, c := range []struct {
		status string
		sync   bool
	}{
		{"pkg=coturn|ii |4.6.1\npkg=nftables|ii |1.0.6\n", true},
		{"pkg=coturn|hi |4.6.1\npkg=nftables|ii |1.0.6\n", true}, // on hold, installed
		{"pkg=coturn|ii |4.6.1\npkg=nftables|rc |1.0.6\n", false},
		{"pkg=coturn|ii |4.6.1\npkg=nftables|un |\n", false},
		{"pkg=coturn|ii |4.6.1\n", false},
		{"", false},
	} {
		writeFile(t, filepath.Join(d, "status"), c.status)
		os.Remove(filepath.Join(d, "calls"))
		res, err := (&localConn{path: filepath.Join(d, "bin")}).Run(context.Background(),
			s.Probe()+"\nif ( "+s.InSync()+" ) >/dev/null 2>&1; then echo gate=open; fi")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
		_, open := field(lines, "gate")
		if open != c.sync {
			t.Errorf("%q: gate open %v, want %v (output %q)", c.status, open, c.sync, res.Stdout)
		}
		if n := strings.Count(readFile(t, filepath.Join(d, "calls")), "x"); n != 1 {
			t.Errorf("%q: dpkg-query ran %d times, want once", c.status, n)
		}
		change, err := s.Plan(lines)
		if err != nil || (change == nil) != c.sync {
			t.Errorf("%q: plan %+v, err %v; in sync %v", c.status, change, err, c.sync)
		}
	}
}
