package hcloud

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

// operatorKey returns the public key that may log in to node n as root:
// Options.PublicKey, else providers.OperatorKey of the node's ssh.key
// (its .pub or private key, ~/.ssh/id_*.pub, or the ssh-agent's first key).
func (p *Provider) operatorKey(n *inventory.Node) (string, error) {
	if k := strings.TrimSpace(p.opts.PublicKey); k != "" {
		return normalKey(k, "Options.PublicKey")
	}
	pub, _, err := providers.OperatorKey(expandHome(n.SSH.Key))
	if err != nil {
		return "", fmt.Errorf("node %s: no SSH public key to put on the server: %w", n.Name, err)
	}
	return pub, nil
}

// normalKey parses an authorized_keys line and drops its comment.
func normalKey(s, from string) (string, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return "", fmt.Errorf("%s is not an SSH public key: %w", from, err)
	}
	return providers.AuthorizedKey(k), nil
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// sshKey finds the operator's key in the project by fingerprint, or
// uploads it once, labelled with the inventory that needed it first. A
// key uploaded by hand is used as it is.
func (a *api) sshKey(ctx context.Context, inv *inventory.Inventory, pub string) (*hcloud.SSHKey, bool, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
	if err != nil {
		return nil, false, err
	}
	fp := ssh.FingerprintLegacyMD5(k)
	found, _, err := a.c.SSHKey.GetByFingerprint(ctx, fp)
	if err != nil {
		return nil, false, a.wrap(err, "looking up SSH key %s", fp)
	}
	if found != nil {
		return found, false, nil
	}
	sum := sha256.Sum256(k.Marshal())
	name := "omc-" + hex.EncodeToString(sum[:6])
	made, _, err := a.c.SSHKey.Create(ctx, hcloud.SSHKeyCreateOpts{
		Name: name, PublicKey: pub, Labels: map[string]string{LabelInventory: inv.Name},
	})
	if hcloud.IsError(err, hcloud.ErrorCodeUniquenessError) {
		// Another omc run uploaded it meanwhile.
		found, _, err2 := a.c.SSHKey.GetByFingerprint(ctx, fp)
		if err2 == nil && found != nil {
			return found, false, nil
		}
		return nil, false, a.wrap(errors.Join(err, err2), "uploading SSH key %s as %s (a key of that name exists with another fingerprint?)", fp, name)
	}
	if err != nil {
		return nil, false, a.wrap(err, "uploading SSH key %s", fp)
	}
	return made, true, nil
}
