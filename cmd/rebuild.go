package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
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

func runRebuild(ctx context.Context, s *ui.Streams, g *globalOptions, o *rebuildOptions) error {
	inv, nodes, err := selectNodes(s, g, o.Targets, o.Limit)
	if err != nil {
		return err
	}
	if err := confirm(s, o.Yes, fmt.Sprintf("Rebuild %d machine(s) from their image, erasing their disks?", len(nodes))); err != nil {
		return err
	}
	byGroup, order := fleet.GroupNodes(nodes)
	pe := newProviderEvents(ctx, s)
	defer pe.close()
	for _, gname := range order {
		grp := inv.Group(gname)
		p, err := providerWith(grp.Provider, s, pe)
		if err != nil {
			return fmt.Errorf("group %s: %w", gname, err)
		}
		if _, err := p.Rebuild(ctx, inv, grp, byGroup[gname]); err != nil {
			return fmt.Errorf("group %s: rebuild: %w", gname, err)
		}
		fmt.Fprintf(s.Err, "%s: rebuilt %d machine(s)\n", gname, len(byGroup[gname]))
	}
	return convergeNodes(ctx, s, g, &o.convergeOptions, provision.Apply, inv, nodes)
}
