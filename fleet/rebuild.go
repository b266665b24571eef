package fleet

import (
	"context"
	"fmt"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
)

// RebuildOptions are rebuild's: those of the converge that follows
// (its Mode is provision.Apply whatever it says), and where the
// rebuild's own progress goes.
type RebuildOptions struct {
	ConvergeOptions
	// Events is told, as a provider line (phase "log"), each group
	// whose machines were rebuilt; nil drops it.
	Events func(providers.Event)
}

// Rebuild returns the nodes' machines to a fresh image, group by group,
// keeping name, address and host key (providers.Provider.Rebuild), then
// prepares their converge as omc up does: run the Convergence it
// returns. Everything on the machines' disks is lost. It stops at the
// first group that fails.
func Rebuild(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, o RebuildOptions) (*Convergence, error) {
	byGroup, order := GroupNodes(nodes)
	for _, gname := range order {
		grp := inv.Group(gname)
		p, err := o.Provider(grp.Provider)
		if err != nil {
			return nil, fmt.Errorf("group %s: %w", gname, err)
		}
		if _, err := p.Rebuild(ctx, inv, grp, byGroup[gname]); err != nil {
			return nil, fmt.Errorf("group %s: rebuild: %w", gname, err)
		}
		if o.Events != nil {
			o.Events(providers.Event{Provider: grp.Provider, Phase: "log",
				Message: fmt.Sprintf("%s: rebuilt %d machine(s)", gname, len(byGroup[gname]))})
		}
	}
	co := o.ConvergeOptions
	co.Mode = provision.Apply
	return PrepareConverge(ctx, inv, nodes, co)
}
