package fleet

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/provision/roles"
	"github.com/omc-coop/omc/remote"
)

// RestorePlan is a node and the backup targets a restore puts back.
type RestorePlan struct {
	Node    *inventory.Node
	Targets []roles.BackupTarget

	inv   *inventory.Inventory
	where string // FILE:LINE:COL of the node
}

// PlanRestore checks that nodes (selected by name) is the one node name
// and that it has backup targets; nothing is contacted. A group is an
// *UsageError, a node without backup settings an *InventoryError.
func PlanRestore(inv *inventory.Inventory, nodes []*inventory.Node, name string) (*RestorePlan, error) {
	if len(nodes) != 1 || nodes[0].Name != name {
		return nil, usageErrorf("omc restore works on one node at a time: %q is a group (name one of its nodes)", name)
	}
	n := nodes[0]
	where := fmt.Sprintf("%s:%d:%d", inv.Path, n.Pos.Line, n.Pos.Col)
	targets, err := roles.BackupTargets(n, inv.Nodes())
	if err != nil {
		return nil, &InventoryError{Err: fmt.Errorf("%s: %w", where, err)}
	}
	if targets == nil {
		return nil, &InventoryError{Err: fmt.Errorf("%s: node %s has no backup settings (settings.backup), so there is nothing to restore from", where, n.Name)}
	}
	return &RestorePlan{Node: n, Targets: targets, inv: inv, where: where}, nil
}

// RestoreOptions are restore's. Snapshot names the one snapshot to put
// back ("": the newest of each target); Force restores while meetings
// are live. Provider opens a group's provider (by its name); Confirm is
// asked once the machine is found, before anything changes, and false
// stops there (a dry run, or the user said no); Dial opens the node's
// connection (default: SSH).
type RestoreOptions struct {
	Snapshot string
	Force    bool
	Provider func(name string) (providers.Provider, error)
	Confirm  func(*RestorePlan) (bool, error)
	// Transport reaches the node.
	Transport Transport
	Observer  provision.Observer
	Redact    func(string) string
	Log       *slog.Logger
}

// RestoreResult is what a restore did.
type RestoreResult struct {
	Node    string
	Targets []roles.BackupTarget
	// Ran is false when Confirm stopped the restore: nothing changed.
	Ran bool
	// Results are the engine's, for the one node.
	Results []provision.Result
}

// Err is the node's failure, if it failed.
func (r *RestoreResult) Err() error {
	for _, res := range r.Results {
		if res.Err != nil {
			return res.Err
		}
	}
	return nil
}

// MissingMachineError is a node whose machine does not exist yet.
type MissingMachineError struct{ Node, Provider string }

func (e *MissingMachineError) Error() string {
	return fmt.Sprintf("node %s has no machine yet (provider %s): create it with omc up or omc rebuild first", e.Node, e.Provider)
}

// Restore finds the node's machine, asks Confirm, then installs restic
// and the repository's credentials (the backup role's own steps, for a
// rebuilt node) and restores the targets over what is on the node. The
// node refuses while meetings are live unless Force: that is a failed
// result, not an error. Afterwards omc up converges the node again.
func Restore(ctx context.Context, p *RestorePlan, o RestoreOptions) (*RestoreResult, error) {
	n := p.Node
	open := o.Provider
	if open == nil {
		open = func(name string) (providers.Provider, error) { return NewProvider(name, ProviderOptions{}) }
	}
	machines, missing, err := Machines(ctx, p.inv, []*inventory.Node{n}, provision.Plan, open)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, &MissingMachineError{Node: n.Name, Provider: n.Provider}
	}
	res := &RestoreResult{Node: n.Name, Targets: p.Targets}
	if o.Confirm != nil {
		if ok, err := o.Confirm(p); !ok || err != nil {
			return res, err
		}
	}
	all, own := FleetWith(p.inv, []*inventory.Node{n}, machines)
	steps, err := roles.BackupAccessSteps(p.inv, own[0], all)
	if err != nil {
		return nil, &InventoryError{Err: fmt.Errorf("%s: %w", p.where, err)}
	}
	steps = append(steps, &roles.RestoreStep{Node: n.Name, Targets: p.Targets, Snapshot: o.Snapshot, Force: o.Force})
	cfg, err := o.Transport.Config(n, machines[n.Name], &remote.KnownHosts{Path: KnownHostsPath()})
	if err != nil {
		return nil, &InventoryError{Err: fmt.Errorf("%s: node %s: %w", p.where, n.Name, err)}
	}
	host := provision.Host{Name: n.Name, Steps: steps, Dial: func(ctx context.Context) (provision.Conn, error) { return o.Transport.Dial(ctx, cfg) }}
	res.Ran = true
	res.Results = provision.Run(ctx, []provision.Host{host}, provision.Options{
		Mode:     provision.Apply,
		Parallel: 1,
		Holder:   LockHolder("restore", []*inventory.Node{n}),
		Observer: o.Observer,
		Redact:   o.Redact,
		Log:      o.Log,
	})
	return res, nil
}
