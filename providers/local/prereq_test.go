package local

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestHelperE2EWithoutATool is run by TestE2EFailsNamingAMissingTool in
// a child process: the E2E entry point on a machine lacking a tool.
func TestHelperE2EWithoutATool(t *testing.T) {
	if os.Getenv("OMC_LOCAL_PREREQ_HELPER") == "" {
		t.Skip("helper process")
	}
	tools = append(tools, struct{ cmd, pkg string }{"omc-no-such-tool", "omc-test-package"})
	e2eProvider(t)
	t.Log("e2eProvider returned")
}

// With OMC_E2E=1 a machine missing one of the local provider's tools
// fails the E2E tests, naming the tool and its package, instead of
// skipping them; without OMC_E2E they skip.
func TestE2EFailsNamingAMissingTool(t *testing.T) {
	run := func(e2e string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperE2EWithoutATool$", "-test.v")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CI=") && !strings.HasPrefix(kv, "OMC_E2E=") && !strings.HasPrefix(kv, "OMC_LOCAL_DIR=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		// Check fails before any host is made; the dir keeps even a
		// mistaken run away from the shared cache.
		cmd.Env = append(cmd.Env, "OMC_LOCAL_PREREQ_HELPER=1", "OMC_LOCAL_DIR="+t.TempDir(), "OMC_E2E="+e2e)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("1")
	if err == nil || !strings.Contains(out, "--- FAIL: TestHelperE2EWithoutATool") || strings.Contains(out, "e2eProvider returned") {
		t.Fatalf("OMC_E2E=1: want a failure, got %v:\n%s", err, out)
	}
	if !strings.Contains(out, "omc-no-such-tool not found (package omc-test-package)") {
		t.Fatalf("OMC_E2E=1: the failure should name the missing tool and its package:\n%s", out)
	}
	out, err = run("")
	if err != nil || !strings.Contains(out, "--- SKIP: TestHelperE2EWithoutATool") {
		t.Fatalf("no OMC_E2E: want a skip, got %v:\n%s", err, out)
	}
}
