package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
)

type rebuildOptions struct {
	convergeOptions // its Yes: --yes, for the rebuild and --force alike
}

func newRebuildCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &rebuildOptions{}
	c := &cobra.Command{
		Use:   "rebuild GROUP|NODE...",
		Short: "Return machines to a fresh image, then converge them",
		Long: `Rebuild the selected machines from their image, keeping name, address and
host key, then run the steps on them as "omc up" does. For CI's dev
machines; everything on the machines' disks is lost.`,
		Example: `  omc rebuild dev
  omc rebuild dev-1 --yes`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("name the groups or nodes to rebuild")
			}
			o.Targets = args
			return runRebuild(c.Context(), s, g, o)
		},
	}
	o.addFlags(c)
	c.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	return c
}

// runRebuild asks, then converges as up does with the machines rebuilt
// first (fleet.Rebuild): the provider's lines, and one per group
// rebuilt, arrive as provider events.
func runRebuild(ctx context.Context, s *ui.Streams, g *globalOptions, o *rebuildOptions) error {
	inv, nodes, err := selectNodes(s, g, o.Targets, o.Limit)
	if err != nil {
		return err
	}
	if err := confirm(s, o.Yes, fmt.Sprintf("Rebuild %d machine(s) from their image, erasing their disks?", len(nodes))); err != nil {
		return err
	}
	o.rebuild = true
	return convergeNodes(ctx, s, g, &o.convergeOptions, provision.Apply, inv, nodes)
}

// rebuildFirst is fleet.Rebuild in the shape of fleet.PrepareConverge,
// its line per group rebuilt going to pe.
func rebuildFirst(pe *providerEvents) func(context.Context, *inventory.Inventory, []*inventory.Node, fleet.ConvergeOptions) (*fleet.Convergence, error) {
	return func(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, co fleet.ConvergeOptions) (*fleet.Convergence, error) {
		return fleet.Rebuild(ctx, inv, nodes, fleet.RebuildOptions{ConvergeOptions: co, Events: pe.event})
	}
}
