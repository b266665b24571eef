package fleet

import (
	"context"
	"log/slog"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
)

// ConvergeOptions are up's and plan's.
type ConvergeOptions struct {
	// Mode is provision.Apply (up: missing machines are made) or
	// provision.Plan (plan: they are reported as Missing).
	Mode     provision.Mode
	Parallel int
	// Command names the run in each host's lock ("up", "plan", …).
	Command string
	// Keys is what to do on first contact with a host.
	Keys KeyPolicy
	// Provider opens a group's provider (by its name).
	Provider func(name string) (providers.Provider, error)
	Redact   func(string) string
	Log      *slog.Logger
	// Transport reaches the hosts.
	Transport Transport
}

// Convergence is a run of the engine over nodes whose machines exist:
// found (or made) and turned into the engine's hosts, not yet run.
type Convergence struct {
	Hosts []provision.Host
	// Missing are the nodes a plan found no machine for: a provider
	// will make them.
	Missing []*inventory.Node
	nodes   []*inventory.Node
	o       ConvergeOptions
}

// PrepareConverge finds the selected nodes' machines (up makes those
// missing, and the records of their pools' tenants) and builds their hosts. An inventory the roles refuse is an
// *InventoryError, before any host is contacted.
func PrepareConverge(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, o ConvergeOptions) (*Convergence, error) {
	machines, missing, err := Machines(ctx, inv, nodes, o.Mode, o.Provider)
	if err != nil {
		return nil, err
	}
	// Tenants' sub-domains (tenant.go) resolve before the scalelite node
	// asks for their certificate.
	if o.Mode == provision.Apply {
		if err := syncTenantDNS(ctx, inv, nodes, o.Provider); err != nil {
			return nil, err
		}
	}
	hosts, err := Hosts(inv, without(nodes, missing), machines, o.Keys, o.Transport)
	if err != nil {
		return nil, &InventoryError{Err: err}
	}
	return &Convergence{Hosts: hosts, Missing: missing, nodes: nodes, o: o}, nil
}

// Names are the hosts' names, in run order.
func (c *Convergence) Names() []string {
	names := make([]string, len(c.Hosts))
	for i, h := range c.Hosts {
		names[i] = h.Name
	}
	return names
}

// Run runs the engine over the hosts, its events to obs.
func (c *Convergence) Run(ctx context.Context, obs provision.Observer) []provision.Result {
	return provision.Run(ctx, c.Hosts, provision.Options{
		Mode:     c.o.Mode,
		Parallel: c.o.Parallel,
		Holder:   LockHolder(c.o.Command, c.nodes),
		Observer: obs,
		Redact:   c.o.Redact,
		Log:      c.o.Log,
	})
}

// without returns nodes minus drop.
func without(nodes, drop []*inventory.Node) []*inventory.Node {
	if len(drop) == 0 {
		return nodes
	}
	skip := map[*inventory.Node]bool{}
	for _, n := range drop {
		skip[n] = true
	}
	var out []*inventory.Node
	for _, n := range nodes {
		if !skip[n] {
			out = append(out, n)
		}
	}
	return out
}
