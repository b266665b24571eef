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

// providerFor returns the provider named in a group, its lines printed
// on stderr as they come.
func providerFor(name string, s *ui.Streams) (providers.Provider, error) {
	return providerWith(name, s, nil)
}

// providerWith is providerFor with the providers' lines and waits going
// to pe (nil: only their lines, straight to stderr).
func providerWith(name string, s *ui.Streams, pe *providerEvents) (providers.Provider, error) {
	o := fleet.ProviderOptions{Version: version, Events: printProviderLines(s)}
	if pe != nil {
		o.Events, o.ProgressEvery = pe.event, pe.every
	}
	return fleet.NewProvider(name, o)
}

// machinesFor finds (and in Apply mode, creates) the machines of the
// selected nodes (fleet.Machines), reporting the providers' progress.
func machinesFor(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, nodes []*inventory.Node, mode provision.Mode) (map[string]providers.Machine, []*inventory.Node, error) {
	return machinesWith(ctx, s, inv, nodes, mode, func(name string, pe *providerEvents) (providers.Provider, error) {
		return providerWith(name, s, pe)
	})
}

// machinesWith is machinesFor with the providers from newProvider (tests
// point it at fakes).
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
