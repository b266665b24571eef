package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/providers/robot/fake"
)

const (
	robotTestUser     = "#ws+cmdTestUser"
	robotTestPassword = "robot-cmd-pw-2b7d9e4f"
)

// robotInventory is a robot group with a claimed server (reached at a
// real sshd on loopback) and a node to order.
func robotInventory(t *testing.T, d string, srv *sshtest.Server) string {
	inv := fmt.Sprintf(`apiVersion: omc/v1
name: t
groups:
  metal:
    provider: robot
    order: {product: EX44, location: FSN1}
    nodes:
      - name: m1
        server: 321
        ssh: {port: %d, key: %s, user: %s}
        steps:
          - file: {path: %s/m1.conf, content: "hello\n"}
      - name: m2
`, srv.Port, srv.KeyFile, srv.User, d)
	p := filepath.Join(d, "omc.yaml")
	os.WriteFile(p, []byte(inv), 0o644)
	return p
}

func TestRobotUpDownAndCredentials(t *testing.T) {
	d := isolate(t)
	f, endpoint := fake.Serve(t, robotTestUser, robotTestPassword)
	f.AddServer(321, "127.0.0.1", "EX42")
	f.AddProduct("EX44", "Dedicated Server EX44", "39.0000", "0.0000", "FSN1")
	t.Setenv("ROBOT_ENDPOINT", endpoint)
	t.Setenv("ROBOT_USER", robotTestUser)
	t.Setenv("ROBOT_PASSWORD", robotTestPassword)
	srv := sshtest.Start(t)
	inv := robotInventory(t, d, srv)
	var seen strings.Builder

	// The claimed server is found by number and converged; nothing is written to Robot.
	out, errs, code := run(t, "", "up", "m1", "-i", inv)
	seen.WriteString(out + errs)
	if code != 0 {
		t.Fatalf("up m1: code %d\n%s\n%s", code, out, errs)
	}
	if b, err := os.ReadFile(filepath.Join(d, "m1.conf")); err != nil || string(b) != "hello\n" {
		t.Fatalf("m1 not converged: %q %v", b, err)
	}
	if w := f.Writes(); w != 0 {
		t.Fatalf("up of a claimed server wrote %d times to Robot", w)
	}

	// plan shows the missing node as pending; up without --allow-order refuses with the price.
	out, errs, code = run(t, "", "plan", "m2", "-i", inv)
	seen.WriteString(out + errs)
	if code != ExitPending || !strings.Contains(out+errs, "machine will be created by provider robot") {
		t.Fatalf("plan m2: code %d\n%s\n%s", code, out, errs)
	}
	out, errs, code = run(t, "", "up", "m2", "-i", inv)
	seen.WriteString(out + errs)
	if code != ExitError || !strings.Contains(errs, "€39.00/month") || !strings.Contains(errs, "--allow-order") {
		t.Fatalf("up m2: code %d\n%s\n%s", code, out, errs)
	}
	if w := f.Writes(); w != 0 || len(f.Transactions()) != 0 {
		t.Fatalf("ordered without --allow-order (%d writes)", w)
	}

	// down never cancels without --cancel; --cancel needs --yes.
	out, errs, code = run(t, "", "down", "metal", "-i", inv, "--yes")
	seen.WriteString(out + errs)
	if code == 0 || !strings.Contains(errs, "only with --cancel --yes") {
		t.Fatalf("down: code %d\n%s\n%s", code, out, errs)
	}
	out, errs, code = run(t, "", "down", "metal", "-i", inv, "--cancel")
	seen.WriteString(out + errs)
	if code != ExitUsage || !strings.Contains(errs, "give --yes as well") {
		t.Fatalf("down --cancel: code %d\n%s\n%s", code, out, errs)
	}
	if s, _ := f.Server(321); s.Cancelled || f.Writes() != 0 {
		t.Fatal("down cancelled or wrote")
	}
	// --cancel --yes still never cancels a claimed server.
	out, errs, code = run(t, "", "down", "m1", "-i", inv, "--cancel", "--yes")
	seen.WriteString(out + errs)
	if s, _ := f.Server(321); s.Cancelled || code != 0 || !strings.Contains(errs, "never cancelled") {
		t.Fatalf("down m1 --cancel --yes: code %d cancelled %v\n%s", code, s.Cancelled, errs)
	}

	// A wrong password fails at once, with one request, and is never shown.
	t.Setenv("ROBOT_PASSWORD", "wrong-"+robotTestPassword)
	before := len(f.Calls())
	out, errs, code = run(t, "", "up", "metal", "-i", inv, "--allow-order")
	seen.WriteString(out + errs)
	if code != ExitError || !strings.Contains(errs, "401") || !strings.Contains(errs, "does not retry") {
		t.Fatalf("wrong password: code %d\n%s\n%s", code, out, errs)
	}
	if n := len(f.Calls()) - before; n != 1 {
		t.Fatalf("%d requests with a wrong password, want 1", n)
	}

	logs, _ := filepath.Glob(filepath.Join(d, "state", "logs", "*"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		seen.Write(b)
	}
	for _, secret := range []string{robotTestPassword, robotTestUser} {
		if strings.Contains(seen.String(), secret) {
			t.Fatalf("%q shown in output or logs:\n%s", secret, seen.String())
		}
	}
}
