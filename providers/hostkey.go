package providers

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
)

// HostKey is a machine's SSH identity made by omc before the machine first
// boots (written into its disk, or handed over in cloud-init), so the key
// the first connection sees is known, never learned by trust.
type HostKey struct {
	Private []byte // OpenSSH PEM
	Public  string // authorized_keys form, no comment, no newline
}

// NewHostKey makes an ed25519 host key.
func NewHostKey(comment string) (HostKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return HostKey{}, err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return HostKey{}, err
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		return HostKey{}, err
	}
	return HostKey{Private: pem.EncodeToMemory(block), Public: AuthorizedKey(pub)}, nil
}

// LoadHostKey reads a private key written from a HostKey.
func LoadHostKey(path string) (HostKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return HostKey{}, err
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return HostKey{}, fmt.Errorf("host key %s: %w", path, err)
	}
	return HostKey{Private: b, Public: AuthorizedKey(s.PublicKey())}, nil
}

// AuthorizedKey is k in authorized_keys form without a newline.
func AuthorizedKey(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}
