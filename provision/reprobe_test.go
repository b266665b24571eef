package provision

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/omc-coop/omc/internal/shell"
)

// probeCounter is a localConn that counts the probes (the engine's
// checking scripts start with "set +e") and records every round trip:
// the scripts of a batch, a write there as "write PATH".
type probeCounter struct {
	*localConn
	mu      sync.Mutex
	probes  int
	scripts []string
	trips   [][]string
}

func (c *probeCounter) Run(ctx context.Context, script string) (RunResult, error) {
	c.mu.Lock()
	c.scripts = append(c.scripts, script)
	c.trips = append(c.trips, []string{script})
	if strings.HasPrefix(script, "set +e\n") {
		c.probes++
	}
	c.mu.Unlock()
	return c.localConn.Run(ctx, script)
}

func (c *probeCounter) Batch(ctx context.Context, ops []Op) ([]RunResult, error) {
	var trip []string
	for _, op := range ops {
		if op.Write != nil {
			trip = append(trip, "write "+op.Write.Path)
		} else {
			trip = append(trip, op.Script)
		}
	}
	c.mu.Lock()
	c.scripts = append(c.scripts, trip...)
	c.trips = append(c.trips, trip)
	c.mu.Unlock()
	return c.localConn.Batch(ctx, ops)
}

func convergeCounting(t *testing.T, steps ...Step) (Result, int) {
	r, c := convergeRecording(t, steps...)
	return r, c.probes
}

func convergeRecording(t *testing.T, steps ...Step) (Result, *probeCounter) {
	t.Helper()
	c := &probeCounter{localConn: &localConn{}}
	rs := Run(context.Background(), []Host{{Name: "local", Steps: steps, Dial: func(context.Context) (Conn, error) { return c, nil }}}, Options{Mode: Apply})
	return rs[0], c
}

// The engine looks again only where a change may have altered what a
// later step sees: files in unrelated places need no second probe; a
// directory a later file lives in, or a command (which may read
// anything), do. What each later step then decides is right.
func TestReprobeOnlyWhereAChangeMatters(t *testing.T) {
	needRoot(t)
	d := tempDir(t)
	file := func(p, content string) *FileStep {
		return &FileStep{Path: p, Content: []byte(content), Mode: 0o644, Owner: "root", Group: "root"}
	}

	// Three unrelated files: one probe for the run.
	r, probes := convergeCounting(t, file(d+"/a", "a\n"), file(d+"/b", "b\n"), file(d+"/c", "c\n"))
	if r.Err != nil || r.Changed != 3 || probes != 1 {
		t.Fatalf("unrelated files: err %v, changed %d, probes %d (want 1)", r.Err, r.Changed, probes)
	}

	// A directory, then a file in it: making the directory changes
	// nothing the file step decides (create, after a mkdir -p that is
	// then a no-op), so no second probe; the directory keeps its mode.
	// Nor a mkdir of it: the engine knows it made it. Two files in a new
	// directory no step makes: one mkdir.
	sub := filepath.Join(d, "sub")
	r, rec := convergeRecording(t, &DirStep{Path: sub, Mode: 0o750, Owner: "root", Group: "root"}, file(sub+"/f", "f\n"), file(d+"/g", "g\n"),
		file(d+"/new/x", "x\n"), file(d+"/new/y", "y\n"))
	if r.Err != nil || r.Changed != 5 || rec.probes != 1 {
		t.Fatalf("dir then file: err %v, changed %d, probes %d (want 1)", r.Err, r.Changed, rec.probes)
	}
	// And all of it in one round trip after the probe.
	wantBatch := []string{"install -d -o 'root' -g 'root' -m 0750 -- " + shell.Quote(sub), "write " + sub + "/f", "write " + d + "/g",
		"mkdir -p -- " + shell.Quote(d+"/new"), "write " + d + "/new/x", "write " + d + "/new/y"}
	if len(rec.trips) != 2 || strings.Join(rec.trips[1], "\n") != strings.Join(wantBatch, "\n") {
		t.Fatalf("dir then files: want the probe, then one batch of the directory step's install -d, the writes, one mkdir for new/; ran %q", rec.trips)
	}
	if readFile(t, d+"/new/y") != "y\n" {
		t.Fatal("second file in a new directory not written")
	}
	if st, err := os.Stat(sub); err != nil || st.Mode().Perm() != 0o750 || readFile(t, sub+"/f") != "f\n" {
		t.Fatalf("dir then file: %v %v", st, err)
	}
	// A directory, then a line in a new file in it: a line step refuses a
	// missing directory, so it must see the new one.
	sub2 := filepath.Join(d, "sub2")
	r, probes = convergeCounting(t, &DirStep{Path: sub2, Mode: 0o755, Owner: "root", Group: "root"}, &LineStep{Path: sub2 + "/l", Line: "x=1"})
	if r.Err != nil || r.Changed != 2 || probes != 2 || readFile(t, sub2+"/l") != "x=1\n" {
		t.Fatalf("dir then line: err %v, changed %d, probes %d (want 2)", r.Err, r.Changed, probes)
	}
	// A file written beside an existing file, then a line in that file:
	// the line step found its directory there, and no step removes one,
	// so the file beside it changes nothing it decides: one probe (on a
	// cold BBB host this was a second probe before /etc/hosts, for
	// every file written in /etc).
	if err := os.WriteFile(d+"/hosts", []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, probes = convergeCounting(t, file(d+"/beside", "b\n"), &LineStep{Path: d + "/hosts", Line: "127.0.1.1 x"}, &LineStep{Path: d + "/newline", Line: "n=1"})
	if r.Err != nil || r.Changed != 3 || probes != 1 || readFile(t, d+"/hosts") != "127.0.0.1 localhost\n127.0.1.1 x\n" || readFile(t, d+"/newline") != "n=1\n" {
		t.Fatalf("file then line beside it: err %v, changed %d, probes %d (want 1)", r.Err, r.Changed, probes)
	}
	// A file in a new directory, then a line in a new file there: the
	// line step found the directory missing, so it must look again.
	sub3 := filepath.Join(d, "sub3")
	r, probes = convergeCounting(t, file(sub3+"/f", "f\n"), &LineStep{Path: sub3 + "/l", Line: "y=1"})
	if r.Err != nil || r.Changed != 2 || probes != 2 || readFile(t, sub3+"/l") != "y=1\n" {
		t.Fatalf("file in a new dir then line: err %v, changed %d, probes %d (want 2)", r.Err, r.Changed, probes)
	}

	// A directory made, then a step that reads everything below a parent
	// of it (a user with managed keys reads "/"): looked at again.
	if !(&dirtSet{shallow: []string{sub}}).affects(&UserStep{Name: "x", AuthorizedKeys: []string{}}, nil) {
		t.Fatal("a shallow change below / does not affect a step that reads /")
	}
	if (&dirtSet{shallow: []string{sub}}).affects(&UserStep{Name: "x"}, nil) {
		t.Fatal("a directory's change affects a user step that reads only the account files")
	}

	// A command reads anything: after a change it is checked again, and
	// its guard sees the file the change wrote, so it does not run.
	marker := filepath.Join(d, "ran")
	r, probes = convergeCounting(t, file(d+"/flag", "on\n"),
		&CommandStep{Run: "touch " + shell.Quote(marker), Unless: "grep -q on " + shell.Quote(d+"/flag")})
	if r.Err != nil || r.Changed != 1 || probes != 2 {
		t.Fatalf("file then command: err %v, changed %d, probes %d (want 2)", r.Err, r.Changed, probes)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the command ran although its guard, checked after the change, says done")
	}

	// A second run of everything: nothing changes, one probe.
	r, probes = convergeCounting(t, file(d+"/a", "a\n"), &DirStep{Path: sub, Mode: 0o750, Owner: "root", Group: "root"}, file(sub+"/f", "f\n"))
	if r.Err != nil || r.Changed != 0 || probes != 1 {
		t.Fatalf("converged: err %v, changed %d, probes %d", r.Err, r.Changed, probes)
	}
}

func TestOverlaps(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"/etc/a", "/etc/a", true}, {"/etc", "/etc/a", true}, {"/etc/a/", "/etc/a/b", true},
		{"/etc/a", "/etc/ab", false}, {"/etc/a", "/var/a", false}, {"/proc/sys/net/core/somaxconn", "/proc/sys/net/core/rmem_max", false},
	} {
		if got := overlaps(c.a, c.b); got != c.want {
			t.Errorf("overlaps(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

// standInDpkg writes dpkg-query and apt-get stand-ins into dir/bin that
// keep the installed packages in dir/installed: enough for the engine's
// probes, gate and install script to run for real.
func standInDpkg(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	state := shell.Quote(filepath.Join(dir, "installed"))
	dpkg := `#!/bin/sh
fmt=''
while [ $# -gt 0 ]; do case "$1" in -W) ;; -f=*) fmt=${1#-f=} ;; --) shift; break ;; esac; shift; done
rc=0
for p in "$@"; do
  if grep -qx -- "$p" ` + state + ` 2>/dev/null; then
    printf '%s' "$fmt" | sed -e "s/\${Package}/$p/g" -e 's/\${db:Status-Abbrev}/ii /g' -e 's/\${Version}/1.0/g' -e 's/\\n$//'; echo
  else rc=1; fi
done
exit $rc
`
	apt := `#!/bin/sh
for a in "$@"; do [ "$a" = update ] && exit 0; done
while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done; shift
for p in "$@"; do echo "$p" >> ` + state + `; done
`
	getent := "#!/bin/sh\necho \"$1\" >> " + shell.Quote(filepath.Join(dir, "getent.log")) + "\nexec /usr/bin/getent \"$@\"\n"
	for name, body := range map[string]string{"dpkg-query": dpkg, "apt-get": apt, "getent": getent} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// On a cold host the steps after a package install are checked once,
// after it: the first probe stops at the packages step when they are
// missing. A converged host is still checked in one round trip, and a
// plan checks everything at once.
func TestProbeStopsAtMissingPackages(t *testing.T) {
	needRoot(t)
	d := tempDir(t)
	bin := standInDpkg(t, d)
	steps := func() []Step {
		return []Step{&PackagesStep{Names: []string{"coturn", "nftables"}},
			&FileStep{Path: d + "/a", Content: []byte("a\n"), Mode: 0o644, Owner: "root", Group: "root"},
			&FileStep{Path: d + "/b", Content: []byte("b\n"), Mode: 0o644, Owner: "root", Group: "root"}}
	}
	plan, events := converge(t, Plan, &localConn{path: bin}, steps()...)
	if plan.Err != nil || plan.Changed != 3 {
		t.Fatalf("plan: err %v, pending %d (events %v)", plan.Err, plan.Changed, events)
	}

	os.Remove(d + "/getent.log")
	c := &probeCounter{localConn: &localConn{path: bin}}
	rs := Run(context.Background(), []Host{{Name: "local", Steps: steps(), Dial: func(context.Context) (Conn, error) { return c, nil }}}, Options{Mode: Apply})
	if rs[0].Err != nil || rs[0].Changed != 3 || readFile(t, d+"/b") != "b\n" || readFile(t, d+"/installed") != "coturn\nnftables\n" {
		t.Fatalf("cold: err %v, changed %d", rs[0].Err, rs[0].Changed)
	}
	// The files' checks look up their owner (getent, logged by the
	// stand-in): once, in the second probe.
	if c.probes != 2 || readFile(t, d+"/getent.log") != "passwd\ngroup\n" {
		t.Fatalf("cold: %d probes (want 2), owner lookups %q (want one)", c.probes, readFile(t, d+"/getent.log"))
	}

	c = &probeCounter{localConn: &localConn{path: bin}}
	rs = Run(context.Background(), []Host{{Name: "local", Steps: steps(), Dial: func(context.Context) (Conn, error) { return c, nil }}}, Options{Mode: Apply})
	if rs[0].Err != nil || rs[0].Changed != 0 || len(c.trips) != 1 {
		t.Fatalf("converged: err %v, changed %d, round trips %q", rs[0].Err, rs[0].Changed, c.trips)
	}
	// Drift after the gate on a converged host: still found in that trip.
	writeFile(t, d+"/b", "drift\n")
	c = &probeCounter{localConn: &localConn{path: bin}}
	rs = Run(context.Background(), []Host{{Name: "local", Steps: steps(), Dial: func(context.Context) (Conn, error) { return c, nil }}}, Options{Mode: Apply})
	if rs[0].Err != nil || rs[0].Changed != 1 || c.probes != 1 || readFile(t, d+"/b") != "b\n" {
		t.Fatalf("drift: err %v, changed %d, probes %d", rs[0].Err, rs[0].Changed, c.probes)
	}
}
