package provision

import (
	"fmt"
	"strings"

	"github.com/aymanbagabas/go-udiff"
)

// A plan shows each changed file as a unified diff, which is kept (with
// every other host's) until the plan is printed. A 19 MB change printed
// a 40 MB diff, and diffing it took 600 MB. So a diff shows at most
// maxDiffLines lines and maxDiffBytes bytes, then says how many lines it
// left out; files larger than maxDiffInput are not diffed at all.
const (
	maxDiffLines = 200
	maxDiffBytes = 32 << 10
	maxDiffInput = 4 << 20
)

// fileDiff is the diff of a file from old to data, secrets masked.
func fileDiff(path string, old, data []byte, redact func(string) string) string {
	if len(old) > maxDiffInput || len(data) > maxDiffInput {
		return fmt.Sprintf("--- %s\n+++ %s\ncontent differs (%s → %s); a file over %d MiB is not diffed\n",
			path, path, sizeString(len(old)), sizeString(len(data)), maxDiffInput>>20)
	}
	return capDiff(hideOldSecrets(udiff.Unified(path, path, redact(string(old)), redact(string(data)))))
}

// capDiff keeps the head of a long diff and says how much it left out.
func capDiff(d string) string {
	if len(d) <= maxDiffBytes && strings.Count(d, "\n") <= maxDiffLines {
		return d
	}
	lines := strings.SplitAfter(strings.TrimSuffix(d, "\n"), "\n")
	n, size := 0, 0
	for n < len(lines) && n < maxDiffLines && size+len(lines[n]) <= maxDiffBytes {
		size += len(lines[n])
		n++
	}
	var b strings.Builder
	for _, l := range lines[:n] {
		b.WriteString(l)
	}
	fmt.Fprintf(&b, "… %d more lines not shown\n", len(lines)-n)
	return b.String()
}

func sizeString(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
