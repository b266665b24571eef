package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/event"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/pool"
)

// drainOptions serve drain, enable and remove: one node of a pool.
type drainOptions struct {
	Node    string
	Force   bool
	Timeout time.Duration
	Yes     bool
	DryRun  bool // remove only
}

func newDrainCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &drainOptions{}
	c := &cobra.Command{
		Use:   "drain NODE",
		Short: "Take a node out of its pool: no new meetings, wait until its meetings end",
		Long: `Cordon the node in Scalelite (running meetings go on, new ones go to other
nodes) and wait until Scalelite reports it disabled, which it does once
the node's load is 0. The node stays out (omc up does not put it back)
until omc enable NODE.

After --timeout (default 2h) omc stops waiting and fails, leaving the node
cordoned; with --force it ends the remaining meetings instead: Scalelite's
panic, which ends the meetings Scalelite tracks, then BBB's end for every
meeting the node itself still lists (made on it directly, say), and omc
waits until the node lists none. --force with --timeout 0 ends them at
once.`,
		Example: `  omc drain bbb-eu-1-2
  omc drain bbb-eu-1-2 --timeout 30m --force`,
		Args: exactArgs(1, "omc drain NODE"),
		RunE: func(c *cobra.Command, args []string) error {
			o.Node = args[0]
			return logRun(c.Context(), s, "drain", func(ctx context.Context) error { return runDrain(ctx, s, g, o) })
		},
	}
	c.Flags().BoolVar(&o.Force, "force", false, "end the meetings still running when the timeout passes")
	c.Flags().DurationVar(&o.Timeout, "timeout", 2*time.Hour, "how long to wait for the meetings to end")
	c.Flags().BoolVarP(&o.Yes, "yes", "y", false, "with --force: do not ask for confirmation")
	return c
}

func newEnableCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &drainOptions{}
	return &cobra.Command{
		Use:   "enable NODE",
		Short: "Put a node back into its pool once it passes the health check",
		Long: `Release an operator's drain and enable the node in Scalelite, registering
it first if Scalelite does not have it. The node must pass the health
gate (BBB API root with the expected version, a signed getMeetings, the
pool's TLS and TURN checks); otherwise it stays out and omc says why.`,
		Example: `  omc enable bbb-eu-1-2`,
		Args:    exactArgs(1, "omc enable NODE"),
		RunE: func(c *cobra.Command, args []string) error {
			o.Node = args[0]
			return logRun(c.Context(), s, "enable", func(ctx context.Context) error { return runEnable(ctx, s, g, o) })
		},
	}
}

// exactArgs requires n arguments, with a usage error naming the form.
func exactArgs(n int, form string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("usage: %s", form)
		}
		return nil
	}
}

// openNode loads the inventory and opens the pool of o.Node, its
// drain progress shown on stderr.
func openNode(ctx context.Context, s *ui.Streams, g *globalOptions, o *drainOptions) (*fleet.PoolNode, error) {
	deps := poolEnv(s, g)
	inv, err := loadInventory(s, g)
	if err != nil {
		return nil, err
	}
	return fleet.OpenNode(ctx, inv, fleet.NodeOptions{Node: o.Node, Timeout: o.Timeout, Force: o.Force, Deps: deps,
		Progress: func(e event.Drain) { fmt.Fprintf(s.Err, "%s: %s, load %s\n", e.Node, e.State, e.Load) }})
}

// drainResultV1 is omc drain/enable/remove -o json.
type drainResultV1 struct {
	V      int     `json:"v"`
	Type   string  `json:"type"` // "node"
	Node   string  `json:"node"`
	Action string  `json:"action"` // drain, enable, remove
	State  string  `json:"pool_state"`
	Load   *string `json:"load,omitempty"`
}

// writeNodeResult shows where the node stands: a line NODE<tab>STATE,
// or its JSON record.
func writeNodeResult(s *ui.Streams, g *globalOptions, r fleet.NodeResult) {
	sv := r.Server
	if g.json() {
		out := drainResultV1{V: 1, Type: "node", Node: r.Node, Action: r.Action, State: sv.State}
		if sv.State != "" {
			l := sv.LoadText()
			out.Load = &l
		}
		_ = g.jsonOut(s).Write(out)
		return
	}
	state := sv.State
	if state == "" {
		state = "absent"
	}
	fmt.Fprintf(s.Out, "%s\t%s\n", r.Node, state)
}

func runDrain(ctx context.Context, s *ui.Streams, g *globalOptions, o *drainOptions) error {
	pn, err := openNode(ctx, s, g, o)
	if err != nil {
		return err
	}
	defer pn.Close()
	sv, err := pn.Server(ctx)
	if err != nil {
		return err
	}
	if o.Force {
		live, _ := liveMeetings(ctx, pn.Pool.Gate.HTTP, []pool.Member{pn.Member})
		if err := confirm(s, o.Yes, fmt.Sprintf("Drain %s and end the meetings still running %s (now %s)?", o.Node, endsWhen(o.Timeout), live)); err != nil {
			return err
		}
	}
	res, err := pn.Drain(ctx, sv)
	if err != nil {
		return err
	}
	writeNodeResult(s, g, res)
	return nil
}

func runEnable(ctx context.Context, s *ui.Streams, g *globalOptions, o *drainOptions) error {
	pn, err := openNode(ctx, s, g, o)
	if err != nil {
		return err
	}
	defer pn.Close()
	res, err := pn.Enable(ctx)
	if err != nil {
		return err
	}
	writeNodeResult(s, g, res)
	return nil
}

// endsWhen is when a forced drain ends the meetings left.
func endsWhen(timeout time.Duration) string {
	if timeout <= 0 {
		return "at once"
	}
	return "after --timeout " + shortDuration(timeout)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
