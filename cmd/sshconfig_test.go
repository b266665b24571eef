package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/sshtest"
)

// TestPlanThroughSSHConfig runs omc plan on a static node named by a
// Host alias of ~/.ssh/config that reaches a real sshd through two jump
// hosts (ProxyJump j1,j2); omc records each hop's host key, and with
// --accept-new=false refuses the first unknown one.
func TestPlanThroughSSHConfig(t *testing.T) {
	d := isolate(t)
	j1, j2, target := sshtest.Start(t), sshtest.Start(t), sshtest.Start(t)
	key, _ := os.ReadFile(j1.KeyFile + ".pub")
	pub, _, _, _, _ := ssh.ParseAuthorizedKey(key)
	j2.AuthorizeKey(pub)
	target.AuthorizeKey(pub)
	sshtest.HomeConfig(t, fmt.Sprintf(`Host school
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
  ProxyJump j1,j2
Host j?
  HostName 127.0.0.1
Host j1
  Port %d
Host j2
  Port %d
`, target.Port, target.User, j1.KeyFile, j1.Port, j2.Port))
	inv := filepath.Join(d, "omc.yaml")
	os.WriteFile(inv, []byte(fmt.Sprintf(`apiVersion: omc/v1
name: t
groups:
  g:
    provider: static
    nodes:
      - name: school
        address: school
        steps:
          - dir: {path: %s/data}
`, d)), 0o644)

	out, errs, code := run(t, "", "plan", "-i", inv, "--accept-new=false")
	if code != ExitError || !strings.Contains(errs, "jump host j1") || !strings.Contains(errs, "unknown host key") {
		t.Fatalf("plan --accept-new=false: code %d\n%s\n%s", code, out, errs)
	}
	out, errs, code = run(t, "", "plan", "-i", inv)
	if code != ExitPending || !strings.Contains(out, "school: 1 to change") {
		t.Fatalf("plan: code %d\n%s\n%s", code, out, errs)
	}
	for _, name := range []string{"jump host j1", "jump host j2", "school"} {
		if !strings.Contains(errs, name+": first contact: recorded host key") {
			t.Errorf("no first contact reported for %s:\n%s", name, errs)
		}
	}
	if accepted := strings.Count(target.Log(), "Accepted publickey"); accepted != 1 {
		t.Errorf("target logins %d", accepted)
	}
}
