package hcloud

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"

	"github.com/omc-coop/omc/inventory"
)

// hostKey is a node's SSH identity, made by omc so that the key the first
// connection sees is already known.
type hostKey struct {
	private []byte // OpenSSH PEM
	public  string // authorized_keys form, no comment, no newline
}

func (p *Provider) hostKeyPath(inv, node string) string {
	return filepath.Join(p.opts.StateDir, "hostkeys", inv, node)
}

// hostKey loads the node's host key, making and saving one (0600) the
// first time.
func (p *Provider) hostKey(inv, node string) (hostKey, error) {
	if p.opts.StateDir == "" {
		return hostKey{}, errors.New("hcloud provider: no state dir to keep host keys in")
	}
	path := p.hostKeyPath(inv, node)
	if k, err := loadHostKey(path); err == nil {
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return hostKey{}, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return hostKey{}, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "omc host key "+inv+"/"+node)
	if err != nil {
		return hostKey{}, err
	}
	pemBytes := pem.EncodeToMemory(block)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return hostKey{}, fmt.Errorf("keeping the host key of %s: %w", node, err)
	}
	// Write then rename, so a crash never leaves half a key behind.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pemBytes, 0o600); err != nil {
		return hostKey{}, fmt.Errorf("keeping the host key of %s: %w", node, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return hostKey{}, fmt.Errorf("keeping the host key of %s: %w", node, err)
	}
	return loadHostKey(path)
}

func loadHostKey(path string) (hostKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return hostKey{}, err
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return hostKey{}, fmt.Errorf("host key %s: %w", path, err)
	}
	return hostKey{private: b, public: authorizedKey(s.PublicKey())}, nil
}

// readHostKey returns the public half of a kept host key.
func (p *Provider) readHostKey(inv, node string) (string, error) {
	if p.opts.StateDir == "" {
		return "", os.ErrNotExist
	}
	k, err := loadHostKey(p.hostKeyPath(inv, node))
	return k.public, err
}

func (p *Provider) removeHostKey(inv, node string) error {
	if p.opts.StateDir == "" {
		return nil
	}
	err := os.Remove(p.hostKeyPath(inv, node))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func authorizedKey(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// cloudConfig is the part of cloud-init's #cloud-config omc writes.
type cloudConfig struct {
	// ssh_deletekeys drops the image's keys and ssh_genkeytypes: [] makes
	// no new ones, so the host offers exactly the key omc made.
	SSHDeleteKeys  bool              `yaml:"ssh_deletekeys"`
	SSHGenKeyTypes []string          `yaml:"ssh_genkeytypes"`
	SSHKeys        map[string]string `yaml:"ssh_keys"`
	Users          []any             `yaml:"users,omitempty"`
}

type cloudUser struct {
	Name              string   `yaml:"name"`
	Sudo              string   `yaml:"sudo"`
	Shell             string   `yaml:"shell"`
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys"`
}

// userData is the cloud-init user data for node n: its host key and, when
// n logs in as a user other than root, that user with passwordless sudo
// and the operator's key (root gets the key through the API's ssh_keys).
func userData(hk hostKey, n *inventory.Node, operatorKey string) (string, error) {
	cc := cloudConfig{
		SSHDeleteKeys:  true,
		SSHGenKeyTypes: []string{},
		SSHKeys: map[string]string{
			"ed25519_private": string(hk.private),
			"ed25519_public":  hk.public,
		},
	}
	if u := n.SSH.User; u != "" && u != "root" {
		cc.Users = []any{"default", cloudUser{
			Name: u, Sudo: "ALL=(ALL) NOPASSWD:ALL", Shell: "/bin/bash", SSHAuthorizedKeys: []string{operatorKey},
		}}
	}
	b, err := yaml.Marshal(cc)
	if err != nil {
		return "", err
	}
	return "#cloud-config\n# Written by omc: the host key is omc's, so the first SSH connection is verified.\n" + string(b), nil
}
