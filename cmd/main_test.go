package cmd

import (
	"context"
	"os"
	"testing"

	"github.com/omc-coop/omc/internal/ui"
)

// TestMain lets a test run this test binary as omc itself (with
// OMC_TEST_AS_OMC=1), for tests that need a real process: a terminal
// from script(1), signals.
func TestMain(m *testing.M) {
	// Nor does the developer's ~/.ssh/config change how tests connect.
	os.Setenv("OMC_SSH_CONFIG", "none")
	if os.Getenv("OMC_TEST_AS_OMC") == "1" {
		os.Exit(mainWith(ui.System(), os.Args[1:], testSeams))
	}
	os.Exit(m.Run())
}

// testSeams are the dependencies every test's omc runs with: no test
// asks a real DNS server, every name points at TEST-NET-1 (never this
// machine), in process and in omc subprocesses alike; each "host" has
// the lock file the test's lockPathFor gave it (handed to omc
// subprocesses in the environment, which omcProcess passes on).
func testSeams(f *factory) {
	f.Lookup = func(context.Context, string) ([]string, error) { return []string{"192.0.2.99"}, nil }
	f.Transport.LockPath = os.Getenv(testLockPathEnv)
}

// testLockPathEnv carries lockPathFor's pattern; only test code reads it.
const testLockPathEnv = "OMC_TEST_LOCK_PATH"

// testFactory is the factory of a test that calls a run function
// itself: the real world but for testSeams.
func testFactory() *factory {
	f := newFactory()
	testSeams(f)
	return f
}
