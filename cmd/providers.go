package cmd

import (
	"context"
	"fmt"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
)

// machinesFor finds (and in Apply mode, creates) the machines of the
// selected nodes (fleet.Machines), reporting the providers' progress.
func machinesFor(ctx context.Context, s *ui.Streams, g *globalOptions, inv *inventory.Inventory, nodes []*inventory.Node, mode provision.Mode) (map[string]providers.Machine, []*inventory.Node, error) {
	return machinesWith(ctx, s, inv, nodes, mode, func(name string, pe *providerEvents) (providers.Provider, error) {
		return g.deps().provider(s, pe, name)
	})
}

// machinesWith is machinesFor with the providers from newProvider.
func machinesWith(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, nodes []*inventory.Node, mode provision.Mode,
	newProvider func(name string, pe *providerEvents) (providers.Provider, error)) (map[string]providers.Machine, []*inventory.Node, error) {
	pe := newProviderEvents(ctx, s)
	defer pe.close()
	return fleet.Machines(ctx, inv, nodes, mode, func(name string) (providers.Provider, error) { return newProvider(name, pe) })
}

// printProviderLines prints the providers' lines on stderr as they come.
func printProviderLines(s *ui.Streams) func(providers.Event) {
	return func(e providers.Event) {
		if e.Phase == "log" {
			fmt.Fprintln(s.Err, e.Message)
		}
	}
}
