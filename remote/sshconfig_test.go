package remote

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/sshtest"
)

func writeSSHConfig(t *testing.T, text string) *SSHConfig {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSSHConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSSHConfigApply(t *testing.T) {
	sc := writeSSHConfig(t, `
Host web
    HostName %h.example.org
    User deploy
    Port 2222
    IdentityFile ~/.ssh/web_key
    IdentityFile /keys/%r@%h

Host db db.internal
    HostName 10.0.0.5
    ProxyJump ops@j1:2200,ssh://j2:2201

Host j1
    HostName 192.0.2.1
    User jumper
    IdentityFile /keys/j1
    ProxyJump j0

Host j2
    HostName 192.0.2.2
    ProxyJump ignored-for-later-hops

Host *
    User everyone
    Port 2020
`)
	home, _ := os.UserHomeDir()

	got, err := sc.Apply(Config{Address: "web"})
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{filepath.Join(home, ".ssh/web_key"), "/keys/deploy@web.example.org"}
	if got.Address != "web.example.org" || got.User != "deploy" || got.Port != 2222 || fmt.Sprint(got.IdentityFiles) != fmt.Sprint(wantKeys) || got.Bastion != nil {
		t.Errorf("alias web: %+v", got)
	}

	// What the caller (the inventory) set wins.
	got, _ = sc.Apply(Config{Address: "web", User: "admin", Port: 22, KeyFile: "/inv/key"})
	if got.Address != "web.example.org" || got.User != "admin" || got.Port != 22 || got.KeyFile != "/inv/key" || got.IdentityFiles != nil {
		t.Errorf("inventory values: %+v", got)
	}
	inv := Config{Address: "b.example.org", Port: 22}
	got, _ = sc.Apply(Config{Address: "db", Bastion: &inv})
	if got.Bastion.Address != "b.example.org" || got.Bastion.Bastion != nil || got.Bastion.User != "everyone" {
		t.Errorf("inventory bastion: %+v", got.Bastion)
	}

	// ProxyJump j1,j2: db through j2, j2 through j1, j1 through its own
	// ProxyJump j0; j2's own ProxyJump is not used.
	kh := testKnownHosts(t)
	got, err = sc.Apply(Config{Address: "db.internal", KnownHosts: kh, RefuseNew: true})
	if err != nil {
		t.Fatal(err)
	}
	var chain []string
	for c := &got; c != nil; c = c.Bastion {
		chain = append(chain, fmt.Sprintf("%s@%s:%d", c.User, c.Address, c.Port))
		if c.KnownHosts != kh || !c.RefuseNew {
			t.Errorf("hop %s does not check host keys as the target does", c.Address)
		}
	}
	want := "[everyone@10.0.0.5:2020 everyone@192.0.2.2:2201 ops@192.0.2.1:2200 everyone@j0:2020]"
	if fmt.Sprint(chain) != want {
		t.Errorf("chain %v, want %s", chain, want)
	}
	if j1 := got.Bastion.Bastion; fmt.Sprint(j1.IdentityFiles) != "[/keys/j1]" {
		t.Errorf("j1 keys %v", j1.IdentityFiles)
	}

	// An alias with no entry keeps its address; Host * still applies.
	got, _ = sc.Apply(Config{Address: "203.0.113.9"})
	if got.Address != "203.0.113.9" || got.User != "everyone" || got.Port != 2020 {
		t.Errorf("no entry: %+v", got)
	}
}

func TestSSHConfigErrors(t *testing.T) {
	empty, err := LoadSSHConfig(filepath.Join(t.TempDir(), "absent"))
	if err != nil {
		t.Fatalf("a missing file is an empty configuration: %v", err)
	}
	if got, err := empty.Apply(Config{Address: "h"}); err != nil || got.Address != "h" || got.User != "" || got.Port != 0 {
		t.Errorf("empty: %+v %v", got, err)
	}

	p := filepath.Join(t.TempDir(), "config")
	os.WriteFile(p, []byte("Host a\n  User x\nMatch exec \"true\"\n  User y\n"), 0o600)
	if _, err := LoadSSHConfig(p); err == nil || !strings.HasPrefix(err.Error(), p+":3:") || !strings.Contains(err.Error(), "Match Exec is not supported") {
		t.Errorf("unsupported Match: %v", err)
	}

	for _, c := range []struct{ conf, alias, want string }{
		{"Host loop\n  ProxyJump loop\n", "loop", "ProxyJump: more than 8 jump hosts"},
		{"Host *\n  ProxyJump jump\n", "x", "does a host's ProxyJump lead back to it?"},
		{"Host p\n  Port ssh\n", "p", `Host p: Port "ssh" is not a port`},
		{"Host j\n  ProxyJump a,,b\n", "j", "empty hop"},
		{"Host j\n  ProxyJump a:99999\n", "j", "bad port"},
		{"Host c\n  ProxyCommand nc %h %p\n", "c", "ProxyCommand is not supported"},
	} {
		sc := writeSSHConfig(t, c.conf)
		_, err := sc.Apply(Config{Address: c.alias})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), sc.Path+": ") {
			t.Errorf("%q: %v, want %q", c.conf, err, c.want)
		}
	}
}

// TestSSHConfigAliasDial reaches a real sshd by a Host alias alone: the
// file gives its address, port, user and key.
func TestSSHConfigAliasDial(t *testing.T) {
	srv := sshtest.Start(t)
	sc := writeSSHConfig(t, fmt.Sprintf("Host school\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  IdentityFile /nonexistent/key\n  IdentityFile %s\n",
		srv.Port, srv.User, srv.KeyFile))
	kh := testKnownHosts(t)
	cfg, err := sc.Apply(Config{Name: "school", Address: "school", KnownHosts: kh})
	if err != nil {
		t.Fatal(err)
	}
	c := mustDial(t, cfg)
	if r := mustRun(t, mustShell(t, c), "echo hi"); string(r.Stdout) != "hi\n" {
		t.Errorf("stdout %q", r.Stdout)
	}
	data, _ := os.ReadFile(kh.Path)
	if !bytes.Contains(data, []byte(fmt.Sprintf("[127.0.0.1]:%d ", srv.Port))) {
		t.Errorf("known_hosts should name the resolved address:\n%s", data)
	}
}

// TestSSHConfigProxyJumpTwoHops dials a target through two jump hosts
// named in one ProxyJump line, each a real sshd whose host key omc checks
// against its own known_hosts: recorded on first contact, refused when it
// changes.
func TestSSHConfigProxyJumpTwoHops(t *testing.T) {
	j1, j2, target := sshtest.Start(t), sshtest.Start(t), sshtest.Start(t)
	key, _ := os.ReadFile(j1.KeyFile + ".pub")
	pub, _, _, _, _ := ssh.ParseAuthorizedKey(key)
	j2.AuthorizeKey(pub)
	target.AuthorizeKey(pub)
	sc := writeSSHConfig(t, fmt.Sprintf(`Host target
  HostName 127.0.0.1
  Port %d
  ProxyJump j1,j2
Host j1
  HostName 127.0.0.1
  Port %d
Host j2
  HostName 127.0.0.1
  Port %d
Host *
  IdentityFile %s
`, target.Port, j1.Port, j2.Port, j1.KeyFile))
	kh := testKnownHosts(t)
	var recorded []string
	cfg, err := sc.Apply(Config{Name: "target", Address: "target", KnownHosts: kh,
		OnNewKey: func(name, _, _, _ string) { recorded = append(recorded, name) }})
	if err != nil {
		t.Fatal(err)
	}
	c := mustDial(t, cfg)
	if r := mustRun(t, mustShell(t, c), "echo two hops"); string(r.Stdout) != "two hops\n" {
		t.Errorf("stdout %q", r.Stdout)
	}
	if got := c.Stats(); got.Dials != 3 {
		t.Errorf("Stats = %+v, want 3 dials", got)
	}
	c.Close()
	if accepted(j1, 1) != 1 || accepted(j2, 1) != 1 || accepted(target, 1) != 1 {
		t.Errorf("logins: j1 %d, j2 %d, target %d", accepted(j1, 1), accepted(j2, 1), accepted(target, 1))
	}
	if fmt.Sprint(recorded) != "[jump host j1 jump host j2 target]" {
		t.Errorf("first contact recorded %v", recorded)
	}
	data, _ := os.ReadFile(kh.Path)
	for _, s := range []*sshtest.Server{j1, j2, target} {
		line := fmt.Sprintf("[127.0.0.1]:%d %s", s.Port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey))))
		if !bytes.Contains(data, []byte(line)) {
			t.Errorf("known_hosts lacks %q:\n%s", line, data)
		}
	}

	// The middle hop comes back with another key: refused, naming it.
	j2.Restart(sshtest.WithNewHostKey())
	_, err = Dial(ctxT(t), cfg)
	var he *HostKeyError
	if !errors.As(err, &he) || he.Name != "jump host j2" || he.Port != j2.Port {
		t.Fatalf("changed key on the second hop: %v", err)
	}
}
