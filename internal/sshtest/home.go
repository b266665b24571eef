package sshtest

import (
	"os"
	"path/filepath"
	"testing"
)

// HomeConfig gives the test a $HOME whose ~/.ssh/config is text, and
// unsets OMC_SSH_CONFIG, so that omc reads that file as it would a
// user's.
func HomeConfig(t testing.TB, text string) {
	t.Helper()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("OMC_SSH_CONFIG", "")
}
