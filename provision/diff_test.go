package provision

import (
	"fmt"
	"strings"
	"testing"
)

// A long change shows its head and says how many lines it left out; a
// file too large to diff says so (a 19 MB change printed a 40 MB diff).
func TestPlanCapsDiffs(t *testing.T) {
	d := tempDir(t)
	var old, want strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&old, "old %d\n", i)
		fmt.Fprintf(&want, "new %d\n", i)
	}
	writeFile(t, d+"/long", old.String())
	big := strings.Repeat("x\n", maxDiffInput/2+1)
	writeFile(t, d+"/big", "y\n")
	st := func(p, content string) Step {
		return &FileStep{Path: d + "/" + p, Content: []byte(content), Mode: 0o644, Owner: "root", Group: "root"}
	}
	_, events := converge(t, Plan, &localConn{}, st("long", want.String()), st("big", big))
	diffs := map[string]string{}
	for _, e := range events {
		diffs[e.Step] = e.Diff
	}
	long := diffs["file "+d+"/long"]
	lines := strings.Split(strings.TrimSuffix(long, "\n"), "\n")
	if len(lines) != maxDiffLines+1 || lines[len(lines)-1] != fmt.Sprintf("… %d more lines not shown", 2003-maxDiffLines) {
		t.Errorf("long diff: %d lines, last %q", len(lines), lines[len(lines)-1])
	}
	if !strings.HasPrefix(long, "--- "+d+"/long\n+++ "+d+"/long\n@@ -1,1000 +1,1000 @@\n-old 0\n") {
		t.Errorf("long diff starts %q", long[:min(len(long), 200)])
	}
	if want := "--- " + d + "/big\n+++ " + d + "/big\ncontent differs (2 bytes → 4.0 MiB); a file over 4 MiB is not diffed\n"; diffs["file "+d+"/big"] != want {
		t.Errorf("big diff %q, want %q", diffs["file "+d+"/big"], want)
	}
}
