package remote

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/internal/testenv"
)

func TestHostKeyFirstContactThenChanged(t *testing.T) {
	srv := sshtest.Start(t)
	kh := testKnownHosts(t)
	cfg := configFor(srv, kh)

	c := mustDial(t, cfg)
	c.Close()
	data, err := os.ReadFile(kh.Path)
	if err != nil {
		t.Fatalf("first contact recorded nothing: %v", err)
	}
	want := fmt.Sprintf("[127.0.0.1]:%d %s", srv.Port, ssh.MarshalAuthorizedKey(srv.HostKey))
	if string(data) != want {
		t.Errorf("known_hosts = %q, want %q", data, want)
	}
	for p, mode := range map[string]os.FileMode{kh.Path: 0o600, filepath.Dir(kh.Path): 0o700 | os.ModeDir} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v (%v)", p, fi.Mode(), mode, err)
		}
	}

	// Same key: accepted, nothing written.
	mustDial(t, cfg).Close()
	if again, _ := os.ReadFile(kh.Path); !bytes.Equal(again, data) {
		t.Errorf("known_hosts changed on a matching key: %q", again)
	}

	// Rebuilt server: refused, and nothing changes.
	srv.Restart(sshtest.WithNewHostKey())
	_, err = Dial(ctxT(t), cfg)
	var he *HostKeyError
	if !errors.As(err, &he) {
		t.Fatalf("Dial after key change: %v, want *HostKeyError", err)
	}
	if he.Host != "127.0.0.1" || he.Port != srv.Port || he.Got != ssh.FingerprintSHA256(srv.HostKey) || he.Path != kh.Path || he.Line != 1 {
		t.Errorf("HostKeyError = %+v", he)
	}
	msg := err.Error()
	for _, s := range []string{"node1", "CHANGED", "attack", "rebuilt", fmt.Sprintf("omc known-hosts forget 127.0.0.1:%d", srv.Port), he.Got} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q: %s", s, msg)
		}
	}
	if again, _ := os.ReadFile(kh.Path); !bytes.Equal(again, data) {
		t.Errorf("known_hosts changed on a refused key: %q", again)
	}

	// Forget, then the new key is recorded.
	if err := kh.Forget("127.0.0.1", srv.Port); err != nil {
		t.Fatal(err)
	}
	mustDial(t, cfg).Close()
	if again, _ := os.ReadFile(kh.Path); !bytes.Contains(again, ssh.MarshalAuthorizedKey(srv.HostKey)) || bytes.Count(again, []byte("\n")) != 1 {
		t.Errorf("after forget: %q", again)
	}
}

func TestHostKeyPinned(t *testing.T) {
	srv := sshtest.Start(t)
	cfg := configFor(srv, nil)
	cfg.HostKeys = []string{string(ssh.MarshalAuthorizedKey(srv.HostKey))}
	mustDial(t, cfg).Close()

	other, _, _ := ed25519.GenerateKey(rand.Reader)
	otherKey, _ := ssh.NewPublicKey(other)
	cfg.HostKeys = []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(otherKey))) + " some comment"}
	_, err := Dial(ctxT(t), cfg)
	var he *HostKeyError
	if !errors.As(err, &he) || !he.Pinned || he.Got != ssh.FingerprintSHA256(srv.HostKey) {
		t.Fatalf("wrong pin: %v", err)
	}

	// A pin also wins over known_hosts, which stays untouched.
	kh := testKnownHosts(t)
	cfg.KnownHosts = kh
	cfg.HostKeys = []string{string(ssh.MarshalAuthorizedKey(srv.HostKey))}
	mustDial(t, cfg).Close()
	if _, err := os.Stat(kh.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pinned dial wrote known_hosts: %v", err)
	}

	cfg.HostKeys, cfg.KnownHosts = nil, nil
	if _, err := Dial(ctxT(t), cfg); err == nil || !strings.Contains(err.Error(), "host key") {
		t.Errorf("no way to verify: %v", err)
	}
}

func TestDialRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	start := time.Now()
	_, err = Dial(ctxT(t), Config{Name: "gone", Address: "127.0.0.1", Port: port, KeyFile: writeTestKey(t, ""), KnownHosts: testKnownHosts(t)})
	var de *DialError
	if !errors.As(err, &de) || de.Address != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Fatalf("err = %v, want *DialError", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refused dial took %s", d)
	}
	if msg := err.Error(); !strings.Contains(msg, "gone") || !strings.Contains(msg, "refused") {
		t.Errorf("message: %s", msg)
	}
}

func TestDialTimeout(t *testing.T) {
	// A server that accepts and never speaks.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	_, err = Dial(ctxT(t), Config{Name: "mute", Address: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port,
		KeyFile: writeTestKey(t, ""), KnownHosts: testKnownHosts(t), Timeout: 300 * time.Millisecond})
	var de *DialError
	if !errors.As(err, &de) || de.Timeout != 300*time.Millisecond || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want a timeout *DialError", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %s", d)
	}

	// ctx cancellation ends the handshake too.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = Dial(ctx, Config{Name: "mute", Address: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port,
		KeyFile: writeTestKey(t, ""), KnownHosts: testKnownHosts(t)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled dial: %v", err)
	}
}

func TestAuthWrongKey(t *testing.T) {
	srv := sshtest.Start(t)
	cfg := configFor(srv, testKnownHosts(t))
	cfg.KeyFile = writeTestKey(t, "")
	_, err := Dial(ctxT(t), cfg)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.User != srv.User || len(ae.Methods) != 1 {
		t.Fatalf("err = %v, want *AuthError", err)
	}
	msg := err.Error()
	for _, s := range []string{"node1", srv.User, "publickey", cfg.KeyFile} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q: %s", s, msg)
		}
	}
	noSecrets(t, msg, cfg.KeyFile, "")
}

func TestAuthPassphraseKey(t *testing.T) {
	srv := sshtest.Start(t)
	const pass = "correct horse battery staple"
	cfg := configFor(srv, testKnownHosts(t))
	cfg.KeyFile = writeTestKey(t, pass)
	_, err := Dial(ctxT(t), cfg)
	var ae *AuthError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "passphrase-protected") || !strings.Contains(err.Error(), "ssh-add") {
		t.Fatalf("err = %v, want *AuthError about the passphrase", err)
	}
	noSecrets(t, err.Error(), cfg.KeyFile, pass)

	if _, err := Dial(ctxT(t), Config{Name: "x", Address: "127.0.0.1", Port: srv.Port, KeyFile: "/nonexistent/key", KnownHosts: testKnownHosts(t)}); !errors.As(err, &ae) || !strings.Contains(err.Error(), "/nonexistent/key") {
		t.Errorf("missing key file: %v", err)
	}
	if _, err := Dial(ctxT(t), Config{Name: "x", Address: "127.0.0.1", Port: srv.Port, KnownHosts: testKnownHosts(t)}); !errors.As(err, &ae) || !strings.Contains(err.Error(), "SSH_AUTH_SOCK") {
		t.Errorf("no key at all: %v", err)
	}
}

func TestAuthAgent(t *testing.T) {
	if _, err := exec.LookPath("ssh-agent"); err != nil {
		testenv.Missing(t, "needs ssh-agent and ssh-add (apt-get install openssh-client)")
	}
	srv := sshtest.Start(t)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ag := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := ag.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ag.Process.Kill(); ag.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 200 {
			t.Fatal("ssh-agent did not create its socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
	add := exec.Command("ssh-add", srv.KeyFile)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v: %s", err, out)
	}
	t.Setenv("SSH_AUTH_SOCK", sock)

	// The agent alone.
	cfg := configFor(srv, testKnownHosts(t))
	cfg.KeyFile = ""
	c := mustDial(t, cfg)
	if r := mustRun(t, mustShell(t, c), "echo via agent"); string(r.Stdout) != "via agent\n" {
		t.Errorf("stdout %q", r.Stdout)
	}
	c.Close()

	// An agent-only setup: the configured key file is absent.
	cfg.KeyFile = filepath.Join(t.TempDir(), "id_absent")
	mustDial(t, cfg).Close()
	t.Setenv("SSH_AUTH_SOCK", "")
	var ae *AuthError
	if _, err := Dial(ctxT(t), cfg); !errors.As(err, &ae) || !strings.Contains(err.Error(), "id_absent") {
		t.Errorf("absent key file and no agent: %v", err)
	}
	t.Setenv("SSH_AUTH_SOCK", sock)

	// A passphrase-protected key file whose key the agent holds.
	const pass = "s3cret"
	cfg.KeyFile = writeTestKey(t, pass)
	raw, _ := os.ReadFile(cfg.KeyFile)
	priv, err := ssh.ParseRawPrivateKeyWithPassphrase(raw, []byte(pass))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := agent.NewClient(conn).Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(priv)
	srv.AuthorizeKey(signer.PublicKey())
	mustDial(t, cfg).Close()
	if !strings.Contains(srv.Log(), ssh.FingerprintSHA256(signer.PublicKey())) {
		t.Error("the agent's copy of the protected key was not the one used")
	}
}

func TestBastion(t *testing.T) {
	jump := sshtest.Start(t)
	target := sshtest.Start(t)
	kh := testKnownHosts(t)
	key, _ := os.ReadFile(jump.KeyFile + ".pub")
	pub, _, _, _, _ := ssh.ParseAuthorizedKey(key)
	target.AuthorizeKey(pub)

	cfg := configFor(target, kh)
	cfg.KeyFile = jump.KeyFile
	b := configFor(jump, kh)
	b.Name = "bastion"
	cfg.Bastion = &b
	c := mustDial(t, cfg)
	r := mustRun(t, mustShell(t, c), "echo $SSH_CONNECTION")
	if string(r.Stdout) != "\n" {
		t.Errorf("env leaked: %q", r.Stdout)
	}
	if got := c.Stats(); got != (Stats{Dials: 2, Execs: 1}) {
		t.Errorf("Stats = %+v", got)
	}
	if accepted(jump, 1) != 1 || accepted(target, 1) != 1 {
		t.Errorf("logins: bastion %d, target %d", accepted(jump, 1), accepted(target, 1))
	}
	data, _ := os.ReadFile(kh.Path)
	if bytes.Count(data, []byte("\n")) != 2 {
		t.Errorf("known_hosts should hold both hosts:\n%s", data)
	}
	c.Close()

	// A target the bastion cannot reach: a *DialError naming the bastion.
	target.Stop()
	_, err := Dial(ctxT(t), cfg)
	var de *DialError
	if !errors.As(err, &de) || de.Via != "bastion" {
		t.Fatalf("unreachable target: %v", err)
	}
}

// writeTestKey writes a new ed25519 key, encrypted when pass is set.
func writeTestKey(t testing.TB, pass string) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if pass == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(pass))
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id_test")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noSecrets fails when msg holds key material or the passphrase.
func noSecrets(t *testing.T, msg, keyFile, pass string) {
	t.Helper()
	data, _ := os.ReadFile(keyFile)
	for _, l := range strings.Split(string(data), "\n") {
		if len(l) > 8 && strings.Contains(msg, l) {
			t.Errorf("error shows key file content %q", l)
		}
	}
	if pass != "" && strings.Contains(msg, pass) {
		t.Error("error shows the passphrase")
	}
	if strings.Contains(msg, "PRIVATE KEY") {
		t.Error("error shows a private key")
	}
}

func TestHostKeyTypeGone(t *testing.T) {
	srv := sshtest.Start(t)
	kh := testKnownHosts(t)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := ssh.NewPublicKey(&priv.PublicKey)
	if err := kh.Add("127.0.0.1", srv.Port, old); err != nil {
		t.Fatal(err)
	}
	_, err = Dial(ctxT(t), configFor(srv, kh))
	var he *HostKeyError
	if !errors.As(err, &he) || !he.NoCommonType || he.Line != 1 || !strings.Contains(err.Error(), "known-hosts forget") {
		t.Fatalf("err = %v, want *HostKeyError for a key type the server no longer has", err)
	}
}

// First contact reports the key it recorded (once: the next contact
// matches); with RefuseNew it records nothing and says how to proceed.
// ForgetKnown of a host never recorded is ErrNotKnown.
func TestHostKeyFirstContactReportedOrRefused(t *testing.T) {
	srv := sshtest.Start(t)
	kh := testKnownHosts(t)
	cfg := configFor(srv, kh)

	cfg.RefuseNew = true
	_, err := Dial(ctxT(t), cfg)
	var he *HostKeyError
	if !errors.As(err, &he) || !he.Unknown || !strings.Contains(err.Error(), "--accept-new=false") ||
		!strings.Contains(err.Error(), ssh.FingerprintSHA256(srv.HostKey)) || !strings.Contains(err.Error(), "host_key:") {
		t.Fatalf("refused first contact: %v", err)
	}
	if _, err := os.Stat(kh.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused first contact wrote %s: %v", kh.Path, err)
	}

	cfg.RefuseNew = false
	var told []string
	cfg.OnNewKey = func(name, typ, fp, path string) { told = append(told, name+" "+typ+" "+fp+" "+path) }
	mustDial(t, cfg).Close()
	mustDial(t, cfg).Close()
	want := "node1 " + srv.HostKey.Type() + " " + ssh.FingerprintSHA256(srv.HostKey) + " " + kh.Path
	if len(told) != 1 || told[0] != want {
		t.Fatalf("told %q, want once %q", told, want)
	}
	cfg.RefuseNew = true // a recorded key is accepted under RefuseNew
	mustDial(t, cfg).Close()

	if err := kh.ForgetKnown("127.0.0.1", srv.Port+1); !errors.Is(err, ErrNotKnown) {
		t.Fatalf("forgetting an unknown host: %v", err)
	}
	if err := kh.ForgetKnown("127.0.0.1", srv.Port); err != nil {
		t.Fatalf("forgetting a known host: %v", err)
	}
}
