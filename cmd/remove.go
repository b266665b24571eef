package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/pool"
)

func newRemoveCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &drainOptions{}
	c := &cobra.Command{
		Use:   "remove NODE",
		Short: "Drain a node and deregister it from its pool (the machine stays)",
		Long: `Drain the node (as omc drain) and then remove it from Scalelite. The
machine is not touched; the node stays held, so omc up registers it again
but leaves it disabled until omc enable NODE. To retire it for good, take
it out of the inventory, or use omc scale.`,
		Example: `  omc remove bbb-eu-1-2
  omc remove bbb-eu-1-2 --timeout 30m`,
		Args: exactArgs(1, "omc remove NODE"),
		RunE: func(c *cobra.Command, args []string) error {
			o.Node = args[0]
			return logRun(c.Context(), s, "remove", func(ctx context.Context) error { return runRemove(ctx, s, g, o) })
		},
	}
	c.Flags().BoolVar(&o.Force, "force", false, "end the meetings still running when the timeout passes")
	c.Flags().DurationVar(&o.Timeout, "timeout", 2*time.Hour, "how long to wait for the meetings to end")
	c.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	c.Flags().BoolVar(&o.DryRun, "dry-run", false, "show what would be drained and deregistered, and change nothing")
	return c
}

func runRemove(ctx context.Context, s *ui.Streams, g *globalOptions, o *drainOptions) error {
	pn, err := openNode(ctx, s, g, o)
	if err != nil {
		return err
	}
	defer pn.Close()
	red := pn.Pool.Red
	live, _ := liveMeetings(ctx, pn.Pool.Gate.HTTP, []pool.Member{pn.Member})
	wait := fmt.Sprintf("its meetings are waited for up to %s", shortDuration(o.Timeout))
	if o.Force {
		wait = "meetings still running are ended " + endsWhen(o.Timeout)
	}
	what := fmt.Sprintf("Remove %s from pool %s: drain it (%s; now %s), then deregister it; the machine stays", o.Node, pn.Pool.Group.Name, wait, live)
	if o.DryRun {
		state, err := pn.State(ctx)
		if err != nil {
			return err
		}
		if g.json() {
			if err := g.jsonOut(s).Write(dryRunV1{V: 1, Type: "dry-run", Action: "would-remove", Node: o.Node, State: state, Targets: []string{o.Node}}); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(s.Out, "would remove\t%s\t%s\n", o.Node, state)
		}
		fmt.Fprintf(s.Err, "dry run: %s (pool state: %s); nothing was changed\n", lowerFirst(red.String(what)), state)
		return nil
	}
	if err := confirm(s, o.Yes, red.String(what)+"?"); err != nil {
		return err
	}
	res, err := pn.Remove(ctx)
	if err != nil {
		return err
	}
	writeNodeResult(s, g, res)
	return nil
}
