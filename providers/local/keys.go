package local

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

// hostKey is a host's SSH identity, made by omc (see providers.HostKey).
type hostKey = providers.HostKey

// DefaultKey is the key pair omc makes under the cache dir when a node
// has no ssh.key and ~/.ssh holds no default key: the only way to log in
// to the hosts is then `ssh -i <DefaultKey> root@<address>`, and the
// inventory should say ssh.key: <DefaultKey>.
func (p *Provider) DefaultKey() string { return filepath.Join(p.dir, "id_ed25519") }

// authorizedKeys returns the public keys that may log in to node n:
// the node's ssh.key (its .pub, or derived from the private key), else
// the default keys in ~/.ssh (id_ed25519, id_ecdsa, id_rsa), else
// DefaultKey, made on first use.
func (p *Provider) authorizedKeys(n *inventory.Node) ([]string, error) {
	if k := n.SSH.Key; k != "" {
		k = expandHome(k)
		if b, err := os.ReadFile(k + ".pub"); err == nil {
			return []string{strings.TrimSpace(string(b))}, nil
		}
		b, err := os.ReadFile(k)
		if err != nil {
			return nil, fmt.Errorf("ssh.key %s: %w", n.SSH.Key, err)
		}
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("ssh.key %s: %w (for a key with a passphrase, put its public key in %s.pub)", n.SSH.Key, err, n.SSH.Key)
		}
		return []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))}, nil
	}
	var keys []string
	if home, err := os.UserHomeDir(); err == nil {
		for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			if b, err := os.ReadFile(filepath.Join(home, ".ssh", name+".pub")); err == nil {
				keys = append(keys, strings.TrimSpace(string(b)))
			}
		}
	}
	if len(keys) > 0 {
		return keys, nil
	}
	pub, err := p.defaultKey()
	if err != nil {
		return nil, err
	}
	return []string{pub}, nil
}

// defaultKey returns DefaultKey's public half, making the pair if needed.
func (p *Provider) defaultKey() (string, error) {
	path := p.DefaultKey()
	if b, err := os.ReadFile(path + ".pub"); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	p.keyOnce.Lock()
	defer p.keyOnce.Unlock()
	if b, err := os.ReadFile(path + ".pub"); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	k, err := providers.NewHostKey("omc local hosts")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return "", err
	}
	if err := writeFileAtomic(path, k.Private, 0o600); err != nil {
		return "", err
	}
	if err := writeFileAtomic(path+".pub", []byte(k.Public+" omc local hosts\n"), 0o644); err != nil {
		return "", err
	}
	p.logf("no SSH key in the inventory or ~/.ssh: made %s; set ssh.key: %s in the inventory to use it", path, path)
	return k.Public, nil
}

func expandHome(path string) string {
	if path == "~" || strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, path[1:])
		}
	}
	return path
}
