package golden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps what Assert reports.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, format)
}

// A golden file with CRLF line endings equals the same text with LF; a
// different text is reported with the file's path; -update rewrites it.
func TestAssert(t *testing.T) {
	t.Chdir(t.TempDir())
	os.MkdirAll("testdata", 0o755)
	os.WriteFile(filepath.Join("testdata", "a.golden"), []byte("one\r\ntwo\r\n"), 0o644)
	r := &recorder{TB: t}
	AssertString(r, "a.golden", "one\ntwo\n")
	if len(r.errs) != 0 {
		t.Fatalf("CRLF golden: %v", r.errs)
	}
	AssertString(r, "a.golden", "one\nthree\n")
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "differs") {
		t.Fatalf("a difference was not reported: %v", r.errs)
	}
	*update = true
	defer func() { *update = false }()
	AssertString(r, "sub/b.golden", "new\n")
	if b, err := os.ReadFile(filepath.Join("testdata", "sub", "b.golden")); err != nil || string(b) != "new\n" || len(r.errs) != 1 {
		t.Fatalf("-update: %q %v %v", b, err, r.errs)
	}
}
