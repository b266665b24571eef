package fleet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/providers/hcloud"
	"github.com/omc-coop/omc/providers/local"
	"github.com/omc-coop/omc/providers/robot"
	"github.com/omc-coop/omc/providers/static"
	"github.com/omc-coop/omc/provision"
)

// ProviderOptions say how the providers fleet opens report: every line
// they would print and every wait for SSH arrive as events, which the
// command line renders (and logs).
type ProviderOptions struct {
	// Events gets each provider line (phase "log") and each node's wait
	// for SSH; nil drops them.
	Events func(providers.Event)
	// ProgressEvery is how often a wait reports that it still waits
	// (0: providers.DefaultProgressEvery).
	ProgressEvery time.Duration
	// Version is omc's, which the cloud providers send as user agent.
	Version string
}

// NewProvider returns the provider named in a group.
func NewProvider(name string, o ProviderOptions) (providers.Provider, error) {
	switch name {
	case "static", "":
		return static.New(), nil
	case "local":
		return local.New(local.Options{Dir: LocalDir(), Events: o.Events})
	case "hcloud":
		// Token: the group's token secret, else $HCLOUD_TOKEN; endpoint:
		// $HCLOUD_ENDPOINT (as the hcloud CLI), else the public API.
		return hcloud.New(hcloud.Options{StateDir: StateDir(), Version: o.Version, Events: o.Events, ProgressEvery: o.ProgressEvery}), nil
	case "robot":
		// Credentials: the group's robot_user/robot_password, else
		// $ROBOT_USER/$ROBOT_PASSWORD; endpoint: $ROBOT_ENDPOINT. Orders
		// and cancellations only where the command allows them
		// (robot.AllowOrders, robot.AllowCancels on the context).
		return robot.New(robot.Options{StateDir: StateDir(), Version: o.Version, Events: o.Events, ProgressEvery: o.ProgressEvery}), nil
	}
	return nil, fmt.Errorf("provider %q is not available in this build", name)
}

// Machines finds (and in Apply mode, creates) the machines of the
// selected nodes, group by group, with the providers open returns. In
// Plan mode, nodes whose machine does not exist yet are returned as
// missing: the plan says they will be made.
func Machines(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, mode provision.Mode,
	open func(name string) (providers.Provider, error)) (map[string]providers.Machine, []*inventory.Node, error) {
	byGroup, order := GroupNodes(nodes)
	machines := map[string]providers.Machine{}
	var missing []*inventory.Node
	for _, name := range order {
		g := inv.Group(name)
		p, err := open(g.Provider)
		if err != nil {
			return nil, nil, fmt.Errorf("group %s: %w", name, err)
		}
		have, err := p.List(ctx, inv, g)
		if err != nil {
			return nil, nil, fmt.Errorf("group %s: listing machines: %w", name, err)
		}
		for _, m := range have {
			if m.Status == "stopped" || m.Status == "off" {
				continue // Create starts it again
			}
			machines[m.Name] = m
		}
		var absent []*inventory.Node
		for _, n := range byGroup[name] {
			if _, ok := machines[n.Name]; !ok {
				absent = append(absent, n)
			}
		}
		if len(absent) == 0 {
			continue
		}
		if mode == provision.Plan {
			missing = append(missing, absent...)
			continue
		}
		made, err := p.Create(ctx, inv, g, absent)
		if err != nil {
			return nil, nil, fmt.Errorf("group %s: creating machines: %w", name, err)
		}
		for _, m := range made {
			machines[m.Name] = m
		}
	}
	return machines, missing, nil
}

// LocalDir is where the local provider keeps images and hosts:
// $OMC_LOCAL_DIR (a user's knob, in the README), else the provider's
// default ($XDG_CACHE_HOME/omc).
func LocalDir() string { return os.Getenv("OMC_LOCAL_DIR") }

// DefaultKey is the key used when a node names none: the first of the
// usual ~/.ssh keys, else (for local hosts) the key the local provider made
// and authorized. ssh-agent keys are offered as well either way.
func DefaultKey(n *inventory.Node) string {
	if n.SSH.Key != "" {
		return n.SSH.Key
	}
	if home, err := os.UserHomeDir(); err == nil {
		for _, k := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			p := filepath.Join(home, ".ssh", k)
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if n.Provider == "local" {
		if p, err := local.New(local.Options{Dir: LocalDir()}); err == nil {
			if _, err := os.Stat(p.DefaultKey()); err == nil {
				return p.DefaultKey()
			}
		}
	}
	return ""
}
