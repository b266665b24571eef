package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
)

type poolSyncOptions struct {
	Targets []string
	DryRun  bool
}

func newPoolCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "pool",
		Short: "Work on Scalelite pools without converging hosts",
		Args:  noArgs,
	}
	c.AddCommand(newPoolSyncCmd(s, g))
	return c
}

func newPoolSyncCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &poolSyncOptions{}
	c := &cobra.Command{
		Use:   "sync [GROUP|NODE...]",
		Short: "Make each pool hold the inventory's bbb nodes, without touching the hosts",
		Long: `Do the pool step of omc up alone: every bbb node of the selected groups (or
the named nodes; none = every group with a pool) is registered in its
Scalelite, its secret, load multiplier and tag set to the inventory's,
and enabled once it passes the health gate; a node that fails the gate is
cordoned. Duplicate entries for a node's URL are removed once empty (a
loaded one is cordoned first). Nodes an operator drained stay out, and
servers that are no node's are left alone. No host is converged.

--dry-run shows the changes and makes none. Exits 1 when a pool cannot be
reached or a node is left out for a reason other than an operator's drain.`,
		Example: `  omc pool sync eu-1
  omc pool sync eu-1 --dry-run
  omc pool sync bbb-eu-1-2 -o json`,
		RunE: func(c *cobra.Command, args []string) error {
			o.Targets = args
			return logRun(c.Context(), s, "pool-sync", func(ctx context.Context) error { return runPoolSync(ctx, s, g, o) })
		},
	}
	c.Flags().BoolVar(&o.DryRun, "dry-run", false, "show the changes, make none")
	return c
}

func runPoolSync(ctx context.Context, s *ui.Streams, g *globalOptions, o *poolSyncOptions) error {
	deps := poolEnv(s, g)
	inv, err := loadInventory(s, g)
	if err != nil {
		return err
	}
	groups, err := fleet.PoolGroups(inv, o.Targets)
	if err != nil {
		return err
	}
	targets := o.Targets
	if len(targets) == 0 {
		for _, grp := range groups {
			targets = append(targets, grp.Name)
		}
	}
	nodes, err := inv.Select(targets, nil)
	if err != nil {
		return usageError("%v", err)
	}
	pending, err := fleet.SyncGroups(ctx, inv, nodes, func(*inventory.Node) bool { return true }, deps, o.DryRun)
	if !g.json() {
		switch {
		case o.DryRun:
			fmt.Fprintf(s.Err, "pool sync (dry run): %d change(s) pending\n", pending)
		case err == nil && pending == 0:
			fmt.Fprintln(s.Err, "pool sync: every pool is as the inventory says")
		}
	}
	return err
}
