// Package shell quotes words for the POSIX shell that runs omc's scripts
// on hosts (and the bench's and tests' scripts): one implementation, so a
// fix to quoting reaches every script at once.
package shell

import "strings"

// Quote returns s as one single-quoted sh word: every byte stands for
// itself, a ' is closed, escaped and reopened.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// QuoteAll quotes each of l.
func QuoteAll(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = Quote(s)
	}
	return out
}
