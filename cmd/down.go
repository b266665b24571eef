package cmd

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

type downOptions struct {
	Targets []string
	Limit   []string
	Yes     bool
	Cancel  bool // robot: cancel the dedicated servers omc ordered
	DryRun  bool
}

func newDownCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &downOptions{}
	c := &cobra.Command{
		Use:   "down GROUP|NODE...",
		Short: "Delete the machines of groups or nodes that a provider made",
		Long: `Delete the machines a provider made for the selected groups or nodes, and
everything omc made with them. Only resources this inventory owns are
touched. Asks for confirmation on a terminal; elsewhere --yes is required.
Claimed (static) servers are never deleted. Hetzner dedicated servers
(robot) are rentals: they are cancelled only with --cancel and --yes, and
only those omc ordered, never claimed ones.`,
		Example: `  omc down dev
  omc down dev-2 dev-3 --yes
  omc down eu-1 --limit 'bbb-eu-1-*'`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("name the groups or nodes to take down (omc down GROUP|NODE...)")
			}
			o.Targets = args
			return runDown(c.Context(), s, g, o)
		},
	}
	c.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	c.Flags().StringSliceVarP(&o.Limit, "limit", "l", nil, "only these nodes (glob patterns)")
	c.Flags().BoolVar(&o.DryRun, "dry-run", false, "show which machines would be deleted, and change nothing")
	c.Flags().BoolVar(&o.Cancel, "cancel", false, "also cancel the Hetzner dedicated servers (robot) omc ordered, at the earliest date; needs --yes")
	return c
}

func runDown(ctx context.Context, s *ui.Streams, g *globalOptions, o *downOptions) error {
	inv, nodes, err := selectNodes(s, g, o.Targets, o.Limit)
	if err != nil {
		return err
	}
	if o.Cancel && !o.Yes && !o.DryRun {
		return usageError("--cancel ends server rentals: give --yes as well")
	}
	plan, err := fleet.PlanDown(ctx, inv, nodes, fleet.DownOptions{Cancel: o.Cancel,
		Provider: func(grp *inventory.Group) (providers.Provider, error) { return g.deps().provider(s, nil, grp.Provider) }})
	if plan == nil {
		return err
	}
	// -o json: one record per node, as its state becomes known.
	report := func(n, grp, state string) error {
		if !g.json() {
			return nil
		}
		return g.jsonOut(s).Write(downV1{V: 1, Type: "down", Node: n, Group: grp, State: state})
	}
	for _, st := range plan.States {
		if st.State == "delete" {
			continue
		}
		if err := report(st.Node, st.Group, st.State); err != nil {
			return err
		}
	}
	if len(plan.Rented) > 0 {
		fmt.Fprintf(s.Err, "not cancelling %s: dedicated servers (robot) are cancelled only with --cancel --yes\n", strings.Join(plan.Rented, ", "))
	}
	if absent := plan.Absent; len(absent) > 0 {
		fmt.Fprintf(s.Err, "no machine to delete for %s: %s\n", strings.Join(absent, ", "), plural(len(absent), "it does not exist", "they do not exist"))
	}
	if err != nil {
		return err
	}
	names := plan.Names()
	if len(names) == 0 {
		fmt.Fprintln(s.Err, "nothing to take down")
		return nil
	}
	what := fmt.Sprintf("Delete %d machine(s): %s", len(names), strings.Join(names, ", "))
	if o.DryRun {
		for _, gd := range plan.Groups {
			for _, n := range gd.Nodes {
				if err := report(n, gd.Group.Name, "would-delete"); err != nil {
					return err
				}
			}
		}
		if !g.json() {
			fmt.Fprintf(s.Out, "would delete\t%s\n", strings.Join(names, ","))
		}
		fmt.Fprintf(s.Err, "dry run: %s; nothing was changed\n", lowerFirst(what))
		return nil
	}
	if err := confirm(s, o.Yes, what+"?"); err != nil {
		return err
	}
	var werr error
	err = plan.Apply(ctx, func(gd fleet.DownGroup) {
		fmt.Fprintf(s.Err, "%s: deleted %s\n", gd.Group.Name, strings.Join(gd.Nodes, ", "))
		for _, n := range gd.Nodes {
			if err := report(n, gd.Group.Name, "deleted"); err != nil && werr == nil {
				werr = err
			}
		}
	})
	return cmp.Or(err, werr)
}

// downV1 is one node of `omc down -o json`. State is "deleted",
// "would-delete" (--dry-run), "absent" (no machine to delete),
// "not-cancelled" (robot without --cancel) or "claimed" (static: never
// deleted).
type downV1 struct {
	V     int    `json:"v"`
	Type  string `json:"type"` // "down"
	Node  string `json:"node"`
	Group string `json:"group"`
	State string `json:"state"`
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
