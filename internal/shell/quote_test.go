package shell

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// words a script must get back unchanged: quotes, expansions, globs,
// separators, newlines, and bytes that are not UTF-8.
var words = []string{"", "plain", "it's", "'", "''", `"$HOME"`, "$(id -u)", "`id`", "*", "a b", "a\nb", "; rm -rf /", `\`, "-n", "\xff\x01", "--"}

func TestQuoteRoundTripsThroughSh(t *testing.T) {
	for _, w := range words {
		out, err := exec.Command("sh", "-c", "printf %s "+Quote(w)).Output()
		if err != nil {
			t.Fatalf("%q: %v", w, err)
		}
		if string(out) != w {
			t.Errorf("sh printed %q for %q (quoted %s)", out, w, Quote(w))
		}
	}
}

func TestQuoteAllKeepsWordsApart(t *testing.T) {
	script := `for w in ` + strings.Join(QuoteAll(words), " ") + `; do printf '%s\0' "$w"; done`
	out, err := exec.Command("sh", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !slices.Equal(got, words) {
		t.Fatalf("got %q, want %q", got, words)
	}
}
