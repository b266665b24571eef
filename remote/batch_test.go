package remote

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/omc-coop/omc/internal/sshtest"
)

func TestBatch(t *testing.T) {
	srv := sshtest.Start(t)
	c := mustDial(t, configFor(srv, testKnownHosts(t)))
	sh := mustShell(t, c)
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")

	rs, err := sh.Batch(ctxT(t), []string{
		"echo one; echo err1 >&2",
		"omc_stop=; printf two", // a script cannot clear the batch's stop
		"echo three >&2; exit 4",
		"touch " + ran,
		"echo five",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		out, err string
		code     int
		skipped  bool
	}{{"one\n", "err1\n", 0, false}, {"two", "", 0, false}, {"", "three\n", 4, false}, {"", "", 0, true}, {"", "", 0, true}}
	if len(rs) != len(want) {
		t.Fatalf("%d results, want %d", len(rs), len(want))
	}
	for i, w := range want {
		r := rs[i]
		if string(r.Stdout) != w.out || string(r.Stderr) != w.err || r.ExitCode != w.code || r.Skipped != w.skipped {
			t.Errorf("result %d = %q %q exit %d skipped %v, want %q %q %d %v", i, r.Stdout, r.Stderr, r.ExitCode, r.Skipped, w.out, w.err, w.code, w.skipped)
		}
		if !r.Skipped && r.Took <= 0 {
			t.Errorf("result %d: Took %v", i, r.Took)
		}
	}
	if _, err := os.Stat(ran); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a script after the failed one ran: %v", err)
	}

	// The next batch starts afresh; a syntax error fails only its script.
	rs, err = sh.Batch(ctxT(t), []string{"echo again", "if then fi (", "echo never"})
	if err != nil {
		t.Fatal(err)
	}
	if string(rs[0].Stdout) != "again\n" || rs[1].ExitCode == 0 || rs[1].Skipped || !rs[2].Skipped {
		t.Errorf("second batch: %+v", rs)
	}
	if r := mustRun(t, sh, "echo still"); string(r.Stdout) != "still\n" {
		t.Errorf("shell after batches: %q", r.Stdout)
	}
	if got := c.Stats(); got != (Stats{Dials: 1, Execs: 1}) {
		t.Errorf("Stats = %+v, want the one shell", got)
	}
	if _, err := sh.Batch(ctxT(t), []string{"echo ok", "printf 'a\\000b'\x00"}); err == nil {
		t.Error("a script with a NUL byte was sent")
	}
}
