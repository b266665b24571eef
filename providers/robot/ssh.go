package robot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

// waitSSH dials addr until an SSH server answers; with hostKeys, until
// the server proves it holds one of them (the key exchange succeeds; the
// login that follows is expected to fail), so that the rescue system or
// the old system still answering just after a reset does not count.
func waitSSH(ctx context.Context, addr string, hostKeys []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var want []ssh.PublicKey
	for _, k := range hostKeys {
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k))
		if err != nil {
			return fmt.Errorf("host key %q: %w", k, err)
		}
		want = append(want, pk)
	}
	var last error
	for {
		last = probe(ctx, addr, want)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("SSH at %s did not answer as expected within %s: %v", addr, timeout, last)
		case <-time.After(3 * time.Second):
		}
	}
}

var errWrongKey = errors.New("the server offers another host key (not yet the installed system)")

func probe(ctx context.Context, addr string, want []ssh.PublicKey) error {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if len(want) == 0 {
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err == nil && strings.HasPrefix(line, "SSH-") {
			return nil
		}
		return fmt.Errorf("no SSH banner (%v)", err)
	}
	var algos []string
	for _, k := range want {
		algos = append(algos, k.Type())
	}
	matched := false
	cfg := &ssh.ClientConfig{
		User:              "omc-probe",
		HostKeyAlgorithms: algos,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			for _, k := range want {
				if string(k.Marshal()) == string(key.Marshal()) {
					matched = true
					return nil
				}
			}
			return errWrongKey
		},
		Timeout: 15 * time.Second,
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err == nil {
		go ssh.DiscardRequests(reqs)
		go func() {
			for ch := range chans {
				_ = ch.Reject(ssh.Prohibited, "")
			}
		}()
		c.Close()
	}
	if matched {
		return nil
	}
	if err == nil {
		err = errWrongKey
	}
	return err
}

// operatorKey is the public key that may log in as root to rescue and to
// the installed system: Options.PublicKey, else providers.OperatorKey of
// the node's ssh.key (its .pub or private key, ~/.ssh/id_*.pub, or the
// ssh-agent's first key, which then logs in to rescue too).
func (p *Provider) operatorKey(n *inventory.Node) (string, error) {
	if k := strings.TrimSpace(p.opts.PublicKey); k != "" {
		return normalKey(k, "Options.PublicKey")
	}
	pub, _, err := providers.OperatorKey(n.SSH.Key)
	if err != nil {
		return "", fmt.Errorf("node %s: no SSH public key to log in to rescue with: %w", n.Name, err)
	}
	return pub, nil
}

// operatorKeyFile is the private key omc logs in to rescue with: the
// node's ssh.key, else the first of ~/.ssh/id_{ed25519,ecdsa,rsa}.
func operatorKeyFile(n *inventory.Node) string {
	if n.SSH.Key != "" {
		return n.SSH.Key
	}
	home, _ := os.UserHomeDir()
	for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		path := filepath.Join(home, ".ssh", name)
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	return ""
}

func normalKey(s, from string) (string, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return "", fmt.Errorf("%s is not an SSH public key: %w", from, err)
	}
	return providers.AuthorizedKey(k), nil
}

// fingerprint is a key's fingerprint as Robot writes it (MD5, hex pairs).
func fingerprint(pub string) (string, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
	if err != nil {
		return "", err
	}
	return ssh.FingerprintLegacyMD5(k), nil
}

// storedKey makes sure pub is among Robot's stored keys (rescue and
// orders take fingerprints of stored keys) and returns its fingerprint.
func storedKey(ctx context.Context, c *Client, name, pub string) (string, bool, error) {
	fp, err := fingerprint(pub)
	if err != nil {
		return "", false, err
	}
	keys, err := c.Keys(ctx)
	if err != nil {
		return "", false, err
	}
	for _, k := range keys {
		if k.Fingerprint == fp {
			return fp, false, nil
		}
	}
	if _, err := c.AddKey(ctx, name, pub); err != nil {
		if IsCode(err, "KEY_ALREADY_EXISTS") {
			return fp, false, nil
		}
		return "", false, err
	}
	return fp, true, nil
}
