// Package golden is omc's one golden-file helper for tests: it compares
// output with a file under the test package's testdata/ and rewrites the
// file when the tests run with -update (then review the diff). Line
// endings of the file are normalised, so a checkout with CRLF still
// compares equal.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/ from the current output")

// Updating reports whether the tests run with -update, for files a test
// refreshes beside its goldens (a screenshot).
func Updating() bool { return *update }

// Assert compares got with testdata/name, which -update rewrites (its
// directory made as needed). A difference is reported with t.Errorf,
// naming the file and showing both texts.
func Assert(t testing.TB, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, bytes.ReplaceAll(want, []byte("\r\n"), []byte("\n"))) {
		t.Errorf("%s differs (go test -update rewrites it; review the diff):\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

// AssertString is Assert for text.
func AssertString(t testing.TB, name, got string) {
	t.Helper()
	Assert(t, name, []byte(got))
}
