package cmd

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers/robot"
	"github.com/omc-coop/omc/remote"
)

type downOptions struct {
	Targets []string
	Limit   []string
	Yes     bool
	Cancel  bool // robot: cancel the dedicated servers omc ordered
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
	c.Flags().BoolVar(&o.Cancel, "cancel", false, "also cancel the Hetzner dedicated servers (robot) omc ordered, at the earliest date; needs --yes")
	return c
}

func runDown(ctx context.Context, s *ui.Streams, g *globalOptions, o *downOptions) error {
	inv, nodes, err := selectNodes(s, g, o.Targets, o.Limit)
	if err != nil {
		return err
	}
	if o.Cancel && !o.Yes {
		return usageError("--cancel ends server rentals: give --yes as well")
	}
	if o.Cancel {
		ctx = robot.AllowCancels(ctx)
	}
	byGroup, order := groupNodes(nodes)
	var names, rented []string
	for _, n := range nodes {
		if n.Provider == "robot" && !o.Cancel {
			rented = append(rented, n.Name)
		} else if n.Provider != "static" {
			names = append(names, n.Name)
		}
	}
	if len(rented) > 0 {
		fmt.Fprintf(s.Err, "not cancelling %s: dedicated servers (robot) are cancelled only with --cancel --yes\n", strings.Join(rented, ", "))
	}
	if len(names) == 0 && len(rented) > 0 {
		return fmt.Errorf("nothing to take down: nothing was cancelled")
	}
	if len(names) == 0 {
		return fmt.Errorf("nothing to take down: the selected nodes are claimed (static) servers, which omc never deletes")
	}
	if err := confirm(s, o.Yes, fmt.Sprintf("Delete %d machine(s): %s?", len(names), strings.Join(names, ", "))); err != nil {
		return err
	}
	kh := &remote.KnownHosts{Path: knownHostsPath()}
	for _, gname := range order {
		grp := inv.Group(gname)
		if grp.Provider == "static" || (grp.Provider == "robot" && !o.Cancel) {
			continue
		}
		p, err := providerFor(grp.Provider, s)
		if err != nil {
			return fmt.Errorf("group %s: %w", gname, err)
		}
		have, err := p.List(ctx, inv, grp)
		if err != nil {
			return fmt.Errorf("group %s: listing machines: %w", gname, err)
		}
		var del []string
		for _, n := range byGroup[gname] {
			del = append(del, n.Name)
		}
		if err := p.Delete(ctx, inv, grp, del); err != nil {
			return fmt.Errorf("group %s: %w", gname, err)
		}
		// A deleted machine's address may be handed to someone else:
		// never let it inherit the old key.
		for _, m := range have {
			if slices.Contains(del, m.Name) && m.Address != "" {
				port := m.Port
				if port == 0 {
					port = 22
				}
				_ = kh.Forget(m.Address, port)
			}
		}
		fmt.Fprintf(s.Err, "%s: deleted %s\n", gname, strings.Join(del, ", "))
	}
	return nil
}

// confirm asks on a terminal; elsewhere it requires --yes.
func confirm(s *ui.Streams, yes bool, question string) error {
	if yes {
		return nil
	}
	if !s.Interactive() {
		return usageError("refusing to delete without --yes when not on a terminal")
	}
	fmt.Fprintf(s.Err, "%s [y/N] ", question)
	line, _ := bufio.NewReader(s.In).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		return &exitError{Code: ExitError, Err: fmt.Errorf("cancelled")}
	}
	return nil
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
