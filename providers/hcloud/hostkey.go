package hcloud

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

// hostKey is a node's SSH identity, made by omc so that the key the first
// connection sees is already known.
type hostKey = providers.HostKey

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
	if k, err := providers.LoadHostKey(path); err == nil {
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return hostKey{}, err
	}
	k, err := providers.NewHostKey("omc host key " + inv + "/" + node)
	if err != nil {
		return hostKey{}, err
	}
	pemBytes := k.Private
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
	return providers.LoadHostKey(path)
}

// readHostKey returns the public half of a kept host key.
func (p *Provider) readHostKey(inv, node string) (string, error) {
	if p.opts.StateDir == "" {
		return "", os.ErrNotExist
	}
	k, err := providers.LoadHostKey(p.hostKeyPath(inv, node))
	return k.Public, err
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

// cloudConfig is the part of cloud-init's #cloud-config omc writes.
type cloudConfig struct {
	// ssh_deletekeys drops the image's keys, so the host offers exactly the
	// key omc made. cloud-init generates keys only when ssh_keys is absent
	// (cc_ssh, 22.4 to 26.x), and then skips a type whose key exists; its
	// schema wants ssh_genkeytypes non-empty, so [ed25519] names the one
	// type omc installs and nothing else is ever made.
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
		SSHGenKeyTypes: []string{"ed25519"},
		SSHKeys: map[string]string{
			"ed25519_private": string(hk.Private),
			"ed25519_public":  hk.Public,
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
