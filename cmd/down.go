package cmd

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/providers/robot"
	"github.com/omc-coop/omc/remote"
)

type downOptions struct {
	Targets []string
	Limit   []string
	Yes     bool
	Cancel  bool // robot: cancel the dedicated servers omc ordered
	DryRun  bool
	// providerFn replaces providerFor in tests.
	providerFn func(*ui.Streams, *inventory.Group) (providers.Provider, error)
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
	if o.Cancel {
		ctx = robot.AllowCancels(ctx)
	}
	byGroup, order := groupNodes(nodes)
	var rented []string
	for _, n := range nodes {
		if n.Provider == "robot" && !o.Cancel {
			rented = append(rented, n.Name)
		}
	}
	// -o json: one record per node, as its state becomes known.
	report := func(n, grp, state string) error {
		if !g.json() {
			return nil
		}
		return g.jsonOut(s).Write(downV1{V: 1, Type: "down", Node: n, Group: grp, State: state})
	}
	for _, n := range nodes {
		switch {
		case n.Provider == "static":
			err = report(n.Name, n.Group, "claimed")
		case n.Provider == "robot" && !o.Cancel:
			err = report(n.Name, n.Group, "not-cancelled")
		}
		if err != nil {
			return err
		}
	}
	if len(rented) > 0 {
		fmt.Fprintf(s.Err, "not cancelling %s: dedicated servers (robot) are cancelled only with --cancel --yes\n", strings.Join(rented, ", "))
	}
	// What exists, group by group: only those are confirmed, deleted and
	// reported; a node whose machine was never made (or is gone) is
	// said to be absent.
	type groupDown struct {
		grp  *inventory.Group
		p    providers.Provider
		have []providers.Machine
		del  []string
	}
	var todo []groupDown
	var names, absent []string
	for _, gname := range order {
		grp := inv.Group(gname)
		if grp.Provider == "static" || (grp.Provider == "robot" && !o.Cancel) {
			continue
		}
		p, err := o.provider(s, grp)
		if err != nil {
			return fmt.Errorf("group %s: %w", gname, err)
		}
		have, err := p.List(ctx, inv, grp)
		if err != nil {
			return fmt.Errorf("group %s: listing machines: %w", gname, err)
		}
		gd := groupDown{grp: grp, p: p, have: have}
		for _, n := range byGroup[gname] {
			if slices.ContainsFunc(have, func(m providers.Machine) bool { return m.Name == n.Name }) {
				gd.del = append(gd.del, n.Name)
			} else {
				absent = append(absent, n.Name)
				if err := report(n.Name, gname, "absent"); err != nil {
					return err
				}
			}
		}
		if len(gd.del) > 0 {
			todo = append(todo, gd)
			names = append(names, gd.del...)
		}
	}
	if len(absent) > 0 {
		fmt.Fprintf(s.Err, "no machine to delete for %s: %s\n", strings.Join(absent, ", "), plural(len(absent), "it does not exist", "they do not exist"))
	}
	if len(names) == 0 {
		switch {
		case len(absent) > 0:
			fmt.Fprintln(s.Err, "nothing to take down")
			return nil
		case len(rented) > 0:
			return fmt.Errorf("nothing to take down: nothing was cancelled")
		}
		return fmt.Errorf("nothing to take down: the selected nodes are claimed (static) servers, which omc never deletes")
	}
	what := fmt.Sprintf("Delete %d machine(s): %s", len(names), strings.Join(names, ", "))
	if o.DryRun {
		for _, gd := range todo {
			for _, n := range gd.del {
				if err := report(n, gd.grp.Name, "would-delete"); err != nil {
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
	kh := &remote.KnownHosts{Path: fleet.KnownHostsPath()}
	for _, gd := range todo {
		if err := gd.p.Delete(ctx, inv, gd.grp, gd.del); err != nil {
			return fmt.Errorf("group %s: %w", gd.grp.Name, err)
		}
		// A deleted machine's address may be handed to someone else:
		// never let it inherit the old key.
		for _, m := range gd.have {
			if slices.Contains(gd.del, m.Name) && m.Address != "" {
				port := m.Port
				if port == 0 {
					port = 22
				}
				_ = kh.Forget(m.Address, port)
			}
		}
		fmt.Fprintf(s.Err, "%s: deleted %s\n", gd.grp.Name, strings.Join(gd.del, ", "))
		for _, n := range gd.del {
			if err := report(n, gd.grp.Name, "deleted"); err != nil {
				return err
			}
		}
	}
	return nil
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

// provider is the group's provider (a test's stand-in when set).
func (o *downOptions) provider(s *ui.Streams, grp *inventory.Group) (providers.Provider, error) {
	if o.providerFn != nil {
		return o.providerFn(s, grp)
	}
	return providerFor(grp.Provider, s)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func groupNodes(nodes []*inventory.Node) (map[string][]*inventory.Node, []string) {
	byGroup := map[string][]*inventory.Node{}
	var order []string
	for _, n := range nodes {
		if _, ok := byGroup[n.Group]; !ok {
			order = append(order, n.Group)
		}
		byGroup[n.Group] = append(byGroup[n.Group], n)
	}
	return byGroup, order
}
