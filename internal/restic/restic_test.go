package restic

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRestic is a "restic" that prints what it was given: its RESTIC_*
// environment, the password file's mode and content, one more variable,
// and its arguments; with "fail" it exits 3 saying the password.
const fakeRestic = `#!/bin/sh
if [ "$1" = fail ]; then echo "Fatal: wrong password $(cat "$RESTIC_PASSWORD_FILE")" >&2; exit 3; fi
env | grep '^RESTIC_' | sort
echo "mode=$(stat -c %a "$RESTIC_PASSWORD_FILE") password=$(cat "$RESTIC_PASSWORD_FILE") extra=$EXTRA args=$*"
`

func TestRunnerGivesRepositoryAndPasswordOnly(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "restic")
	if err := os.WriteFile(bin, []byte(fakeRestic), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RESTIC_PASSWORD", "the-caller-s-own")
	t.Setenv("RESTIC_REPOSITORY", "/elsewhere")
	r, err := New(bin, Repo{Repository: "/srv/repo", Password: "FAKE-pw-1", Env: []string{"EXTRA=yes"}},
		func(s string) string { return strings.ReplaceAll(s, "FAKE-pw-1", "***") })
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := r.Run(context.Background(), "snapshots", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "the-caller-s-own") || strings.Contains(out, "/elsewhere") || !strings.Contains(out, "RESTIC_REPOSITORY=/srv/repo\n") {
		t.Errorf("restic saw the caller's RESTIC_* variables or not the repository:\n%s", out)
	}
	if !strings.Contains(out, "mode=600 password=FAKE-pw-1 extra=yes args=snapshots --json") {
		t.Errorf("password file or arguments:\n%s", out)
	}
	_, _, err = r.Run(context.Background(), "fail")
	if err == nil || err.Error() != "exit 3: Fatal: wrong password ***" {
		t.Errorf("failed run: %v", err)
	}
	dir := r.tmpdir
	r.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the password file's directory is still there: %v", err)
	}
}

func TestRunnerWithoutRestic(t *testing.T) {
	_, err := New("restic-is-not-here", Repo{Password: "x"}, nil)
	if err == nil || !strings.Contains(err.Error(), `restic is not installed on this machine ("restic-is-not-here" not found on PATH)`) ||
		!strings.Contains(err.Error(), "apt-get install restic") {
		t.Fatalf("%v", err)
	}
}
