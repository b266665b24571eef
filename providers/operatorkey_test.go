package providers

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/sshtest"
)

func TestOperatorKeyFromAgent(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	ag := sshtest.StartAgent(t)
	want := AuthorizedKey(ag.Key)

	// No key file anywhere: the agent's key.
	if pub, from, err := OperatorKey(""); err != nil || pub != want || !strings.HasPrefix(from, "ssh-agent") {
		t.Errorf("no key file: %q from %q, %v; want the agent's %q", pub, from, err, want)
	}
	// ssh.key configured but absent (agent-only setup): the agent's key.
	absent := filepath.Join(home, "keys", "id_fleet")
	if pub, _, err := OperatorKey(absent); err != nil || pub != want {
		t.Errorf("absent ssh.key: %q %v", pub, err)
	}

	// A key file, even passphrase-protected, wins over the agent.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKeyWithPassphrase(priv, "c", []byte("pw"))
	kf := filepath.Join(home, "id_protected")
	os.WriteFile(kf, pem.EncodeToMemory(block), 0o600)
	signer, _ := ssh.NewSignerFromKey(priv)
	if pub, from, err := OperatorKey(kf); err != nil || pub != AuthorizedKey(signer.PublicKey()) || from != kf {
		t.Errorf("protected key file: %q from %q, %v", pub, from, err)
	}
	// So does ~/.ssh/id_ed25519.pub when no ssh.key is set.
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519.pub"), ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644)
	if pub, _, err := OperatorKey(""); err != nil || pub != AuthorizedKey(signer.PublicKey()) {
		t.Errorf("default key file: %q %v", pub, err)
	}

	// Without the agent an absent ssh.key is an error naming it.
	t.Setenv("SSH_AUTH_SOCK", "")
	if _, _, err := OperatorKey(absent); err == nil || !strings.Contains(err.Error(), absent) {
		t.Errorf("absent ssh.key, no agent: %v", err)
	}
	os.Remove(filepath.Join(home, ".ssh", "id_ed25519.pub"))
	if _, _, err := OperatorKey(""); err == nil || !strings.Contains(err.Error(), "ssh-agent") {
		t.Errorf("nothing at all: %v", err)
	}
}
