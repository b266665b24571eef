package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/remote"
)

// homeSSHConfig makes a $HOME whose ~/.ssh/config is text, as omc finds
// it when OMC_SSH_CONFIG is unset.
func homeSSHConfig(t *testing.T, text string) {
	t.Helper()
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("OMC_SSH_CONFIG", "")
}

func TestSSHConfigInventoryWins(t *testing.T) {
	homeSSHConfig(t, `
Host school
  HostName 192.0.2.10
  User deploy
  Port 2222
  IdentityFile /keys/school
Host 192.0.2.*
  User cloud
  Port 2200
  IdentityFile /keys/cloud
  ProxyJump jump
Host jump
  HostName 192.0.2.1
  User jumper
`)
	inv, err := inventory.LoadReader(filepath.Join(t.TempDir(), "omc.yaml"), strings.NewReader(`apiVersion: omc/v1
name: t
groups:
  s:
    provider: static
    nodes:
      - {name: bare, address: school}
      - {name: set, address: school, ssh: {user: admin, port: 22, key: /inv/key, sudo: false, bastion: "ops@b.example.org"}}
  c:
    provider: hcloud
    location: fsn1
    server_type: cx22
    image: ubuntu-22.04
    nodes:
      - {name: cloud}
`))
	if err != nil {
		t.Fatal(err)
	}
	kh := &remote.KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	got := map[string]remote.Config{}
	for _, n := range inv.Nodes() {
		m := providers.Machine{Name: n.Name, Address: n.Address, Port: n.SSH.Port}
		if n.Provider == "hcloud" {
			m = providers.Machine{Name: n.Name, Address: "192.0.2.50"}
		}
		cfg, err := sshConfig(n, m, kh)
		if err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
		got[n.Name] = cfg
	}
	hop := func(c remote.Config) string {
		if c.Bastion == nil {
			return ""
		}
		return fmt.Sprintf("%s@%s:%d", c.Bastion.User, c.Bastion.Address, c.Bastion.Port)
	}
	// The alias alone: everything from ~/.ssh/config; sudo follows its
	// user, as it would the inventory's.
	if c := got["bare"]; c.Address != "192.0.2.10" || c.User != "deploy" || c.Port != 2222 || c.KeyFile != "" ||
		fmt.Sprint(c.IdentityFiles) != "[/keys/school]" || !c.Sudo || c.Bastion != nil {
		t.Errorf("bare: %+v", c)
	}
	// Set in the inventory: the inventory's, the address still resolved.
	if c := got["set"]; c.Address != "192.0.2.10" || c.User != "admin" || c.Port != 22 || c.KeyFile != "/inv/key" ||
		c.IdentityFiles != nil || c.Sudo || hop(c) != "ops@b.example.org:0" {
		t.Errorf("set: %+v, hop %s", c, hop(c))
	}
	// A machine hcloud made: its login (root, 22) stays; keys and jump
	// hosts come from the file. The jump host matches by its alias, as
	// in ssh: Host 192.0.2.* does not give it port 2200.
	if c := got["cloud"]; c.Address != "192.0.2.50" || c.User != "root" || c.Port != 22 || c.Sudo ||
		fmt.Sprint(c.IdentityFiles) != "[/keys/cloud]" || hop(c) != "jumper@192.0.2.1:0" || c.Bastion.KnownHosts != kh {
		t.Errorf("cloud: %+v, hop %s", c, hop(c))
	}

	// A file omc cannot read as ssh would: an error naming it, saying
	// how to go on without it.
	homeSSHConfig(t, "Match user x\n  Port 1\n")
	if _, err := sshConfig(inv.Nodes()[0], providers.Machine{Address: "school"}, kh); err == nil ||
		!strings.Contains(err.Error(), filepath.Join(os.Getenv("HOME"), ".ssh", "config")+":1:") || !strings.Contains(err.Error(), "OMC_SSH_CONFIG=none") {
		t.Errorf("unsupported Match: %v", err)
	}
	t.Setenv("OMC_SSH_CONFIG", "none")
	if c, err := sshConfig(inv.Nodes()[0], providers.Machine{Address: "school", Port: 22}, kh); err != nil || c.Address != "school" || c.User != "root" {
		t.Errorf("OMC_SSH_CONFIG=none: %+v %v", c, err)
	}
}

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
	homeSSHConfig(t, fmt.Sprintf(`Host school
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
