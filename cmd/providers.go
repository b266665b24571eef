package cmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/providers/hcloud"
	"github.com/omc-coop/omc/providers/local"
	"github.com/omc-coop/omc/providers/robot"
	"github.com/omc-coop/omc/providers/static"
	"github.com/omc-coop/omc/provision"
)

// providerFor returns the provider named in a group.
func providerFor(name string, s *ui.Streams) (providers.Provider, error) {
	return providerWith(name, s, nil)
}

// providerWith is providerFor with the cloud providers' progress and
// log lines going to pe (nil: their lines straight to stderr).
func providerWith(name string, s *ui.Streams, pe *providerEvents) (providers.Provider, error) {
	stderr, events, every := s.Err, func(providers.Event) {}, time.Duration(0)
	if pe != nil {
		stderr, events, every = pe.stderr(), pe.event, pe.every
	}
	switch name {
	case "static", "":
		return static.New(), nil
	case "local":
		return local.New(local.Options{Dir: localDir(), Stderr: s.Err})
	case "hcloud":
		// Token: the group's token secret, else $HCLOUD_TOKEN; endpoint:
		// $HCLOUD_ENDPOINT (as the hcloud CLI), else the public API.
		return hcloud.New(hcloud.Options{StateDir: fleet.StateDir(), Stderr: stderr, Version: version, Events: events, ProgressEvery: every}), nil
	case "robot":
		// Credentials: the group's robot_user/robot_password, else
		// $ROBOT_USER/$ROBOT_PASSWORD; endpoint: $ROBOT_ENDPOINT. Orders
		// and cancellations only where the command allows them
		// (robot.AllowOrders, robot.AllowCancels on the context).
		return robot.New(robot.Options{StateDir: fleet.StateDir(), Stderr: stderr, Version: version, Events: events, ProgressEvery: every}), nil
	}
	return nil, fmt.Errorf("provider %q is not available in this build", name)
}

// machinesFor finds (and in Apply mode, creates) the machines of the
// selected nodes, group by group. In Plan mode, nodes whose machine does
// not exist yet are returned as missing: the plan says they will be made.
func machinesFor(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, nodes []*inventory.Node, mode provision.Mode) (map[string]providers.Machine, []*inventory.Node, error) {
	return machinesWith(ctx, s, inv, nodes, mode, func(name string, pe *providerEvents) (providers.Provider, error) {
		return providerWith(name, s, pe)
	})
}

// machinesWith is machinesFor with the providers from newProvider (tests
// point it at fakes).
func machinesWith(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, nodes []*inventory.Node, mode provision.Mode,
	newProvider func(name string, pe *providerEvents) (providers.Provider, error)) (map[string]providers.Machine, []*inventory.Node, error) {
	byGroup, order := fleet.GroupNodes(nodes)
	machines := map[string]providers.Machine{}
	var missing []*inventory.Node
	pe := newProviderEvents(ctx, s)
	defer pe.close()
	for _, name := range order {
		g := inv.Group(name)
		p, err := newProvider(g.Provider, pe)
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

// localDir is where the local provider keeps images and hosts:
// $OMC_LOCAL_DIR, else the provider's default ($XDG_CACHE_HOME/omc).
func localDir() string { return os.Getenv("OMC_LOCAL_DIR") }

// defaultKey is the key used when a node names none: the first of the
// usual ~/.ssh keys, else (for local hosts) the key the local provider made
// and authorized. ssh-agent keys are offered as well either way.
func defaultKey(n *inventory.Node) string {
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
		if p, err := local.New(local.Options{Dir: localDir()}); err == nil {
			if _, err := os.Stat(p.DefaultKey()); err == nil {
				return p.DefaultKey()
			}
		}
	}
	return ""
}
