package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/remote"
)

func TestSSHConfigInventoryWins(t *testing.T) {
	sshtest.HomeConfig(t, `
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
		cfg, err := SSHConfig(n, m, kh)
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
	sshtest.HomeConfig(t, "Match user x\n  Port 1\n")
	if _, err := SSHConfig(inv.Nodes()[0], providers.Machine{Address: "school"}, kh); err == nil ||
		!strings.Contains(err.Error(), filepath.Join(os.Getenv("HOME"), ".ssh", "config")+":1:") || !strings.Contains(err.Error(), "OMC_SSH_CONFIG=none") {
		t.Errorf("unsupported Match: %v", err)
	}
	t.Setenv("OMC_SSH_CONFIG", "none")
	if c, err := SSHConfig(inv.Nodes()[0], providers.Machine{Address: "school", Port: 22}, kh); err != nil || c.Address != "school" || c.User != "root" {
		t.Errorf("OMC_SSH_CONFIG=none: %+v %v", c, err)
	}
}
