package roles

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/omc-coop/omc/inventory"
)

// Per-node secrets are derived from one seed secret, as the ebbba Ansible
// role does, so nothing but the seed needs storing: sha256 of purpose,
// node name and seed (NUL-separated, so "turn"+"x1" and "turnx"+"1"
// differ), hex-encoded. Changing the seed rotates every derived secret.
const (
	purposeAPI        = "bbb-api"
	purposeTURN       = "turn"
	purposeFreeSWITCH = "freeswitch"
)

func derive(purpose, node, seed string) string {
	h := sha256.Sum256([]byte(purpose + "\x00" + node + "\x00" + seed))
	return hex.EncodeToString(h[:])
}

// secrets resolves the secrets of one node.
type secrets struct {
	inv *inventory.Inventory
}

func (x secrets) seed(n *inventory.Node, s *inventory.Settings) (string, error) {
	v, ok := x.inv.Secret(s.SeedSecret)
	if _, declared := x.inv.Secrets[s.SeedSecret]; !ok && declared {
		return "", fmt.Errorf("node %s: %w: the bbb and turn roles derive their secrets from it", n.Name, x.inv.SecretError(s.SeedSecret))
	}
	if !ok {
		return "", atSetting("seed_secret", "node %s: no secret named %q in the inventory: the bbb and turn roles derive their secrets from it (settings.seed_secret names another)", n.Name, s.SeedSecret)
	}
	return v, nil
}

// api is the node's BBB API secret: the inventory secret that
// settings.api_secret names, else derived from the seed.
func (x secrets) api(n *inventory.Node, s *inventory.Settings) (string, error) {
	if s.APISecret != "" {
		v, ok := x.inv.Secret(s.APISecret)
		if !ok {
			return "", atSetting("api_secret", "node %s: settings.api_secret: no secret named %q in the inventory", n.Name, s.APISecret)
		}
		return v, nil
	}
	seed, err := x.seed(n, s)
	if err != nil {
		return "", err
	}
	return derive(purposeAPI, n.Name, seed), nil
}

// turn is the shared secret of TURN server t (known to t and its BBB nodes).
func (x secrets) turn(t *inventory.Node, s *inventory.Settings) (string, error) {
	seed, err := x.seed(t, s)
	if err != nil {
		return "", err
	}
	return derive(purposeTURN, t.Name, seed), nil
}

func (x secrets) freeswitch(n *inventory.Node, s *inventory.Settings) (string, error) {
	seed, err := x.seed(n, s)
	if err != nil {
		return "", err
	}
	return derive(purposeFreeSWITCH, n.Name, seed)[:32], nil
}

// APISecret returns node n's BBB API secret, for registering it with a
// front end (Scalelite) and for health checks.
func APISecret(inv *inventory.Inventory, n *inventory.Node) (string, error) {
	s := settingsOf(n)
	return secrets{inv}.api(n, s)
}

// SecretValues returns every secret the roles derive for the fleet, so
// that output, plan diffs and logs can mask them like the inventory's own
// (inventory.SecretValues knows only the stored ones). Nodes whose
// settings do not parse, or that have no seed, contribute nothing.
func SecretValues(inv *inventory.Inventory, fleet []*inventory.Node) []string {
	var out []string
	x := secrets{inv}
	for _, n := range fleet {
		s := settingsOf(n)
		for _, f := range []func(*inventory.Node, *inventory.Settings) (string, error){x.api, x.turn, x.freeswitch} {
			if v, err := f(n, s); err == nil {
				out = append(out, v)
			}
		}
		if s.Greenlight != nil {
			if key, pg, err := x.greenlight(n, s); err == nil {
				out = append(out, key, pg)
			}
		}
		if has(n, RoleBBB) && scaleliteTarget(n, fleet) != nil {
			if private, _, err := x.transferKeys(n, s); err == nil {
				out = append(out, pemLines(private)...) // each line of the key's body
			}
		}
		if has(n, RoleScalelite) {
			if key, pg, err := x.scalelite(n, s); err == nil {
				out = append(out, key, pg)
			}
		}
		if s.LTI != nil {
			if l, err := x.lti(n, s); err == nil {
				out = append(out, l.values()...)
			}
		}
		out = append(out, x.backupSecrets(n, s)...) // the restic password, backend credentials
	}
	return out
}

// pemLines are the base64 lines of a PEM block: what a diff of the file
// would show of the key.
func pemLines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}
