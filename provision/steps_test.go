package provision

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/template"

	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/shell"
)

func TestFileStepConvergesThenIsIdempotent(t *testing.T) {
	needRoot(t)
	d := tempDir(t)
	p := filepath.Join(d, "sub", "motd")
	step := &FileStep{Path: p, Content: []byte("hello\n"), Mode: 0o640, Owner: "root", Group: "root"}

	c := &localConn{}
	r, _ := converge(t, Apply, c, step)
	if r.Err != nil || r.Changed != 1 {
		t.Fatalf("first run: changed=%d err=%v", r.Changed, r.Err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "hello\n" {
		t.Fatalf("content %q, %v", b, err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %o", st.Mode().Perm())
	}

	c2 := &localConn{}
	r, _ = converge(t, Apply, c2, step)
	if r.Err != nil || r.Changed != 0 {
		t.Fatalf("second run: changed=%d err=%v", r.Changed, r.Err)
	}
	if len(c2.writes) != 0 || c2.runs != 1 {
		t.Fatalf("second run wrote %v and ran %d scripts; want no writes and one probe", c2.writes, c2.runs)
	}
}

func TestFileStepModeOnlyDriftIsChmodNotWrite(t *testing.T) {
	needRoot(t)
	d := tempDir(t)
	p := filepath.Join(d, "f")
	os.WriteFile(p, []byte("x"), 0o600)
	c := &localConn{}
	r, ev := converge(t, Apply, c, &FileStep{Path: p, Content: []byte("x"), Mode: 0o644, Owner: "root", Group: "root"})
	if r.Err != nil || r.Changed != 1 || len(c.writes) != 0 {
		t.Fatalf("changed=%d writes=%v err=%v", r.Changed, c.writes, r.Err)
	}
	if !hasEvent(ev, "changed", "mode 0600→0644") {
		t.Fatalf("no event describing the mode change: %+v", ev)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %o", st.Mode().Perm())
	}
}

func TestPlanShowsDiffAndChangesNothing(t *testing.T) {
	needRoot(t)
	d := tempDir(t)
	p := filepath.Join(d, "conf")
	os.WriteFile(p, []byte("a=1\nb=2\n"), 0o644)
	c := &localConn{}
	r, ev := converge(t, Plan, c, &FileStep{Path: p, Content: []byte("a=1\nb=3\n"), Mode: 0o644, Owner: "root", Group: "root"})
	if r.Err != nil || r.Changed != 1 {
		t.Fatalf("changed=%d err=%v", r.Changed, r.Err)
	}
	var diff string
	for _, e := range ev {
		if e.Type == "step" {
			diff = e.Diff
		}
	}
	if !strings.Contains(diff, "-b=2") || !strings.Contains(diff, "+b=3") {
		t.Fatalf("diff does not show the change:\n%s", diff)
	}
	if b, _ := os.ReadFile(p); string(b) != "a=1\nb=2\n" || len(c.writes) != 0 || c.locked {
		t.Fatalf("plan changed the host: %q writes=%v", b, c.writes)
	}
}

func TestPlanMasksSecretsInDiffs(t *testing.T) {
	needRoot(t)
	d := tempDir(t)
	p := filepath.Join(d, "secret.conf")
	os.WriteFile(p, []byte("secret=old-s3cret-value\n"), 0o600)
	var events []Event
	mask := func(s string) string {
		return strings.NewReplacer("old-s3cret-value", "***", "new-s3cret-value", "***").Replace(s)
	}
	Run(t.Context(), []Host{{Name: "h",
		Steps: []Step{&FileStep{Path: p, Content: []byte("secret=new-s3cret-value\nx=1\n"), Mode: 0o600, Owner: "root", Group: "root"}},
		Dial:  func(context.Context) (Conn, error) { return &localConn{}, nil }}},
		Options{Mode: Plan, Redact: mask, Observer: ObserverFunc(func(e Event) { events = append(events, e) })})
	seen := false
	for _, e := range events {
		if strings.Contains(e.Diff+e.Summary+e.Error, "s3cret") {
			t.Fatalf("secret in event: %+v", e)
		}
		seen = seen || strings.Contains(e.Diff, "+x=1")
	}
	if !seen {
		t.Fatalf("diff missing: %+v", events)
	}
}

func hasEvent(ev []Event, status, summary string) bool {
	for _, e := range ev {
		if e.Status == status && strings.Contains(e.Summary, summary) {
			return true
		}
	}
	return false
}

func TestLineStepReplacesLastMatchOrAppends(t *testing.T) {
	s := &LineStep{Path: "/x", Line: "PORT=22", Match: regexp.MustCompile(`^#?PORT=`)}
	got, _ := s.edit([]byte("A=1\nPORT=1\n#PORT=2\nB=2"))
	if string(got) != "A=1\nPORT=1\nPORT=22\nB=2" {
		t.Fatalf("replace: %q", got)
	}
	got, _ = (&LineStep{Path: "/x", Line: "Z=9"}).edit([]byte("A=1"))
	if string(got) != "A=1\nZ=9\n" {
		t.Fatalf("append: %q", got)
	}
	if _, err := s.edit([]byte{0, 1, 2}); err == nil {
		t.Fatal("binary file accepted")
	}
}

func TestGuardedChangeCommitsOnlyAfterFreshConnection(t *testing.T) {
	needRoot(t)
	d := tempDir(t)
	guarded := &guardStep{dir: d}
	dials := 0
	ok := Host{Name: "h", Steps: []Step{guarded}, Dial: func(context.Context) (Conn, error) { dials++; return &localConn{}, nil }}
	if r := Run(t.Context(), []Host{ok}, Options{Mode: Apply})[0]; r.Err != nil || dials != 2 {
		t.Fatalf("err=%v dials=%d (want the run's connection plus a fresh one)", r.Err, dials)
	}
	if readFile(t, d+"/committed") != "yes\n" {
		t.Fatal("not committed")
	}

	os.Remove(d + "/committed")
	os.Remove(d + "/armed")
	dials = 0
	lockedOut := Host{Name: "h", Steps: []Step{guarded}, Dial: func(context.Context) (Conn, error) {
		dials++
		if dials > 1 {
			return nil, errors.New("connection refused")
		}
		return &localConn{}, nil
	}}
	r := Run(t.Context(), []Host{lockedOut}, Options{Mode: Apply})[0]
	if r.Err == nil || !strings.Contains(r.Err.Error(), "reverted automatically") {
		t.Fatalf("err = %v", r.Err)
	}
	if _, err := os.Stat(d + "/committed"); !os.IsNotExist(err) {
		t.Fatal("committed although the fresh connection failed")
	}
}

// guardStep arms a change and commits it, as a firewall step does.
type guardStep struct{ dir string }

func (g *guardStep) ID() string { return "guarded" }
func (g *guardStep) Probe() string {
	return "[ -e " + shell.Quote(g.dir+"/armed") + " ] && echo state=armed || echo state=none"
}
func (g *guardStep) Plan(obs []string) (*Change, error) {
	if v, _ := field(obs, "state"); v == "armed" {
		return nil, nil
	}
	return &Change{Step: g, Summary: "arm", Script: "touch " + shell.Quote(g.dir+"/armed"), Commit: "echo yes > " + shell.Quote(g.dir+"/committed")}, nil
}

// After a rotation the old secret is known to nobody: the "-" line of the
// hunk that writes the new (masked) one is hidden too, whatever it holds.
// A secret written HTML-escaped (as into an XML config) is masked in that
// form as well. Lines away from any secret stay visible.
func TestPlanHidesRotatedSecretsAndEscapedForms(t *testing.T) {
	needRoot(t)
	d := tempDir(t)
	p := filepath.Join(d, "vars.xml")
	secret := `n3w<s3cr3t>&"value"`
	escaped := template.HTMLEscapeString(secret)
	middle := strings.Repeat("<z/>\n", 8) // two hunks
	os.WriteFile(p, []byte("<a>1</a>\n<pass>0ld-r0tated-value</pass>\n"+middle+"<b>old</b>\n"), 0o600)
	red := redact.New(secret)
	var events []Event
	Run(t.Context(), []Host{{Name: "h",
		Steps: []Step{&FileStep{Path: p, Content: []byte("<a>1</a>\n<pass>" + escaped + "</pass>\n" + middle + "<b>new</b>\n"), Mode: 0o600, Owner: "root", Group: "root"}},
		Dial:  func(context.Context) (Conn, error) { return &localConn{}, nil }}},
		Options{Mode: Plan, Redact: red.String, Observer: ObserverFunc(func(e Event) { events = append(events, e) })})
	var diff string
	for _, e := range events {
		if e.Type == "step" {
			diff = e.Diff
		}
	}
	for _, leak := range []string{"0ld-r0tated", "n3w", escaped} {
		if strings.Contains(diff, leak) {
			t.Fatalf("%q shown in the diff:\n%s", leak, diff)
		}
	}
	if !strings.Contains(diff, "+<pass>***</pass>") || !strings.Contains(diff, "-*** (old line hidden") ||
		!strings.Contains(diff, "-<b>old</b>") || !strings.Contains(diff, "+<b>new</b>") {
		t.Fatalf("diff:\n%s", diff)
	}
}
