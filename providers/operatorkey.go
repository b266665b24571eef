package providers

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// OperatorKey is the public key (authorized_keys form, no comment) a new
// server gets so that the operator can log in, and where it came from:
//
//   - keyFile (a node's ssh.key): its .pub, else the public half of the
//     private key (read even when passphrase-protected);
//   - no keyFile: the first of ~/.ssh/id_{ed25519,ecdsa,rsa}.pub;
//   - else, or when keyFile does not exist, the first key of the
//     ssh-agent at $SSH_AUTH_SOCK: an agent-only setup, whose keys omc's
//     own logins use too.
//
// None of these: an error saying what to set.
func OperatorKey(keyFile string) (pub, from string, err error) {
	if keyFile != "" {
		if b, err := os.ReadFile(keyFile + ".pub"); err == nil {
			pub, err := parseAuthorized(b, keyFile+".pub")
			return pub, keyFile + ".pub", err
		}
		b, err := os.ReadFile(keyFile)
		switch {
		case errors.Is(err, fs.ErrNotExist) && os.Getenv("SSH_AUTH_SOCK") != "":
			pub, from, aerr := agentKey()
			if aerr != nil {
				return "", "", fmt.Errorf("ssh.key %s does not exist, and the ssh-agent offers no key: %w", keyFile, aerr)
			}
			return pub, from, nil
		case err != nil:
			return "", "", fmt.Errorf("ssh.key: %w", err)
		}
		s, err := ssh.ParsePrivateKey(b)
		var pm *ssh.PassphraseMissingError
		if errors.As(err, &pm) && pm.PublicKey != nil {
			return AuthorizedKey(pm.PublicKey), keyFile, nil
		}
		if err != nil {
			return "", "", fmt.Errorf("ssh.key %s: no .pub beside it and the key cannot be read (%v)", keyFile, err)
		}
		return AuthorizedKey(s.PublicKey()), keyFile, nil
	}
	home, _ := os.UserHomeDir()
	for _, name := range []string{"id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"} {
		path := filepath.Join(home, ".ssh", name)
		if b, err := os.ReadFile(path); err == nil {
			pub, err := parseAuthorized(b, path)
			return pub, path, err
		}
	}
	if os.Getenv("SSH_AUTH_SOCK") != "" {
		pub, from, err := agentKey()
		if err == nil {
			return pub, from, nil
		}
		return "", "", fmt.Errorf("no ssh.key, no ~/.ssh/id_ed25519.pub, and the ssh-agent offers no key: %w", err)
	}
	return "", "", errors.New("no SSH public key: set ssh.key in the inventory, make ~/.ssh/id_ed25519, or load a key into ssh-agent (SSH_AUTH_SOCK)")
}

// agentKey is the first key the agent at $SSH_AUTH_SOCK holds.
func agentKey() (pub, from string, err error) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	conn, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return "", "", fmt.Errorf("ssh-agent unreachable: %w", err)
	}
	defer conn.Close()
	keys, err := agent.NewClient(conn).List()
	if err != nil {
		return "", "", fmt.Errorf("ssh-agent: %w", err)
	}
	if len(keys) == 0 {
		return "", "", errors.New("ssh-agent holds no keys (ssh-add one)")
	}
	k, err := ssh.ParsePublicKey(keys[0].Marshal())
	if err != nil {
		return "", "", fmt.Errorf("ssh-agent key: %w", err)
	}
	from = "ssh-agent"
	if c := strings.TrimSpace(keys[0].Comment); c != "" {
		from += " (" + c + ")"
	}
	return AuthorizedKey(k), from, nil
}

func parseAuthorized(b []byte, from string) (string, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return "", fmt.Errorf("%s is not an SSH public key: %w", from, err)
	}
	return AuthorizedKey(k), nil
}
