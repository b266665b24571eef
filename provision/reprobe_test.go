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
// checking scripts start with "set +e").
type probeCounter struct {
	*localConn
	mu      sync.Mutex
	probes  int
	scripts []string
}

func (c *probeCounter) Run(ctx context.Context, script string) (RunResult, error) {
	c.mu.Lock()
	c.scripts = append(c.scripts, script)
	if strings.HasPrefix(script, "set +e\n") {
		c.probes++
	}
	c.mu.Unlock()
	return c.localConn.Run(ctx, script)
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
	if n := len(rec.scripts); n != 3 || !strings.HasPrefix(rec.scripts[1], "install -d ") || rec.scripts[2] != "mkdir -p -- "+shell.Quote(d+"/new") {
		t.Fatalf("dir then files: want the probe, the directory step's install -d, one mkdir for new/; ran %q", rec.scripts)
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
