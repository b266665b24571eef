package provision

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"strings"
	"testing"
)

// A failure in a batch stops the host there: what came before it is
// done and reported, what came after is neither done nor reported.
func TestBatchStopsAtTheFailingStep(t *testing.T) {
	needRoot(t)
	d := tempDir(t)
	c := &localConn{}
	r, events := converge(t, Apply, c,
		&FileStep{Path: d + "/a", Content: []byte("a\n"), Mode: 0o644, Owner: "root", Group: "root"},
		&DirStep{Path: d + "/sub", Mode: 0o755, Owner: "omc-no-such-user", Group: "root"},
		&FileStep{Path: d + "/b", Content: []byte("b\n"), Mode: 0o644, Owner: "root", Group: "root"})
	if r.Err == nil || !strings.Contains(r.Err.Error(), `step "dir `+d+`/sub"`) || !strings.Contains(r.Err.Error(), "omc-no-such-user") {
		t.Fatalf("err = %v, want the dir step's failure naming the owner", r.Err)
	}
	if readFile(t, d+"/a") != "a\n" {
		t.Error("the step before the failure was not applied")
	}
	if _, err := os.Stat(d + "/b"); err == nil {
		t.Error("the step after the failure was applied")
	}
	var got []string
	for _, e := range events {
		if e.Type == "step" {
			got = append(got, e.Status+" "+e.Step)
		}
	}
	want := "changed file " + d + "/a|failed dir " + d + "/sub"
	if strings.Join(got, "|") != want {
		t.Errorf("step events %q, want %q", got, want)
	}
	if c.batches != 1 || c.runs != 2 {
		t.Errorf("%d round trips, %d batches; want the probe and one batch", c.runs, c.batches)
	}
}

// okExit5 is a step whose script exits 5, which its Check accepts.
type okExit5 struct{}

func (okExit5) ID() string        { return "command exits 5" }
func (okExit5) Probe() string     { return "echo x=1" }
func (okExit5) Touches() []string { return nil }
func (s okExit5) Plan([]string) (*Change, error) {
	return &Change{Step: s, Summary: "run", Script: "exit 5", Check: func(_, _ string, code int) error {
		if code != 5 {
			return os.ErrInvalid
		}
		return nil
	}}, nil
}

// A non-zero exit that a step's Check accepts does not stop the host:
// the rest of the batch, which the shell did not run, is sent again.
func TestBatchGoesOnAfterAnAcceptedExit(t *testing.T) {
	needRoot(t)
	d := tempDir(t)
	c := &localConn{}
	r, _ := converge(t, Apply, c, okExit5{},
		&FileStep{Path: d + "/b", Content: []byte("b\n"), Mode: 0o600, Owner: "root", Group: "root"})
	if r.Err != nil || r.Changed != 2 {
		t.Fatalf("err %v changed %d", r.Err, r.Changed)
	}
	if readFile(t, d+"/b") != "b\n" {
		t.Error("the step after the accepted exit was not applied")
	}
	if c.batches != 2 {
		t.Errorf("%d batches, want 2 (the second for what the first did not run)", c.batches)
	}
}

// File content goes to the host inside a script, but never to the debug
// log: not as it is, nor base64.
func TestBatchKeepsWrittenDataOutOfTheLog(t *testing.T) {
	needRoot(t)
	d := tempDir(t)
	secret := "turn-secret-0123456789abcdef"
	var log bytes.Buffer
	c := &localConn{}
	rs := Run(context.Background(), []Host{{Name: "local", Dial: func(context.Context) (Conn, error) { return c, nil },
		Steps: []Step{&FileStep{Path: d + "/turn.conf", Content: []byte("static-auth-secret=" + secret + "\n"), Mode: 0o600, Owner: "root", Group: "root"}}}},
		Options{Mode: Apply, Log: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if rs[0].Err != nil || readFile(t, d+"/turn.conf") != "static-auth-secret="+secret+"\n" {
		t.Fatalf("err %v", rs[0].Err)
	}
	enc := base64.StdEncoding.EncodeToString([]byte("static-auth-secret=" + secret + "\n"))
	if s := log.String(); strings.Contains(s, secret) || strings.Contains(s, enc[:40]) || !strings.Contains(s, "msg=wrote") {
		t.Errorf("debug log shows the data or no write:\n%s", s)
	}
}

// A line edit on a small file takes the old content from the probe, so a
// cold host needs no read round trips (nor an SFTP session) for it; a
// big file is read when needed. Both edits keep the rest of the file.
func TestLineEditOldContentFromTheProbe(t *testing.T) {
	needRoot(t)
	d := tempDir(t)
	writeFile(t, d+"/small", "a=1\nENABLED=0\nb=2\n")
	big := strings.Repeat("# filler line\n", maxProbedOld/14+1) + "ENABLED=0\n"
	writeFile(t, d+"/big", big)
	c := &localConn{}
	r, _ := converge(t, Apply, c, &LineStep{Path: d + "/small", Line: "ENABLED=1", Match: mustRe(`^ENABLED=`)})
	if r.Err != nil || readFile(t, d+"/small") != "a=1\nENABLED=1\nb=2\n" || c.reads != 0 {
		t.Fatalf("small file: err %v, reads %d, content %q", r.Err, c.reads, readFile(t, d+"/small"))
	}
	c = &localConn{}
	r, _ = converge(t, Apply, c, &LineStep{Path: d + "/big", Line: "ENABLED=1", Match: mustRe(`^ENABLED=`)})
	if want := strings.TrimSuffix(big, "ENABLED=0\n") + "ENABLED=1\n"; r.Err != nil || readFile(t, d+"/big") != want || c.reads != 1 {
		t.Fatalf("big file: err %v, reads %d", r.Err, c.reads)
	}
}
