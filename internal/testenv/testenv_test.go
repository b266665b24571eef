package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestHelperMissing is run by the tests below in a child process: it
// reports a missing prerequisite the way OMC_TESTENV_HELPER says.
func TestHelperMissing(t *testing.T) {
	switch os.Getenv("OMC_TESTENV_HELPER") {
	case "":
		t.Skip("helper process")
	case "missing":
		Missing(t, "needs omc-test-tool (apt-get install omc-test-pkg)")
	case "missing-e2e":
		MissingE2E(t, "needs omc-test-tool (apt-get install omc-test-pkg)")
	}
}

// runHelper runs TestHelperMissing in a child with env added to a
// copy of this environment that has neither CI nor OMC_E2E.
func runHelper(t *testing.T, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMissing$", "-test.v")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CI=") && !strings.HasPrefix(kv, "OMC_E2E=") && !strings.HasPrefix(kv, "OMC_TESTENV_HELPER=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestMissingSkipsOrFails(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		fail bool
		why  string
	}{
		{"developer machine", []string{"OMC_TESTENV_HELPER=missing"}, false, ""},
		{"CI=false", []string{"OMC_TESTENV_HELPER=missing", "CI=false"}, false, ""},
		{"CI=0", []string{"OMC_TESTENV_HELPER=missing", "CI=0"}, false, ""},
		{"CI=true", []string{"OMC_TESTENV_HELPER=missing", "CI=true"}, true, "CI is set"},
		{"OMC_E2E alone does not fail a plain prerequisite", []string{"OMC_TESTENV_HELPER=missing", "OMC_E2E=1"}, false, ""},
		{"e2e on a developer machine", []string{"OMC_TESTENV_HELPER=missing-e2e"}, false, ""},
		{"e2e with OMC_E2E=1", []string{"OMC_TESTENV_HELPER=missing-e2e", "OMC_E2E=1"}, true, "OMC_E2E is set"},
		{"e2e with CI=true", []string{"OMC_TESTENV_HELPER=missing-e2e", "CI=true"}, true, "CI is set"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := runHelper(t, c.env...)
			if c.fail {
				if err == nil || !strings.Contains(out, "--- FAIL: TestHelperMissing") {
					t.Fatalf("want a failure, got %v:\n%s", err, out)
				}
				if !strings.Contains(out, "needs omc-test-tool (apt-get install omc-test-pkg)") || !strings.Contains(out, c.why) {
					t.Fatalf("the failure should name what is missing and why it fails (%q):\n%s", c.why, out)
				}
				return
			}
			if err != nil || !strings.Contains(out, "--- SKIP: TestHelperMissing") || !strings.Contains(out, "needs omc-test-tool") {
				t.Fatalf("want a skip naming what is missing, got %v:\n%s", err, out)
			}
		})
	}
}
