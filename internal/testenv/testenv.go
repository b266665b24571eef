// Package testenv decides what a test does when this machine lacks
// something it needs: a tool, a package, root.
//
// On a developer's machine the test skips and says what to install. Under
// CI (CI set to anything but "", "0" or "false") it fails instead: .ci/run
// installs every prerequisite, so a missing one means a broken machine, and
// skips would let that machine report green. Tests that OMC_E2E=1 asked
// for fail the same way, since whoever set it wants them run.
package testenv

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// CI reports whether the CI variable is set to a true value.
func CI() bool {
	v := strings.TrimSpace(os.Getenv("CI"))
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// E2E reports whether OMC_E2E asks for the end-to-end tests.
func E2E() bool { return os.Getenv("OMC_E2E") != "" }

// Missing skips t saying what is missing, or fails it under CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("%s (CI is set, and .ci/run installs every prerequisite: this machine is broken)", msg)
	}
	t.Skip(msg)
}

// MissingE2E is Missing for tests that also fail when OMC_E2E is set.
func MissingE2E(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	switch {
	case CI():
		t.Fatalf("%s (CI is set, and .ci/run installs every prerequisite: this machine is broken)", msg)
	case E2E():
		t.Fatalf("%s (OMC_E2E is set, so these tests must run: install what is missing or unset OMC_E2E)", msg)
	}
	t.Skip(msg)
}
