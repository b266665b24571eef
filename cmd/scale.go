package cmd

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
)

type scaleOptions struct {
	Group    string
	N        int // -1: from --for-users
	ForUsers int
	Yes      bool
	DryRun   bool
	Timeout  time.Duration
	Force    bool
}

func newScaleCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &scaleOptions{}
	c := &cobra.Command{
		Use:   "scale GROUP N | scale GROUP --for-users U",
		Short: "Grow or shrink a pool: make, converge and enable nodes, or drain and delete them",
		Long: `Change the number of nodes of a counted group (count and a name pattern)
that has a pool, to N or to what --for-users U needs by the pool's
capacity model:

  nodes = ceil(U × (100 + headroom_percent) / 100 / users_per_node),
  then at least min_nodes and at most max_nodes

(defaults: 200 users per node, BBB's figure for its minimum server; 20%
headroom; at least 1 node). The plan, with this reasoning, is printed
first; --dry-run stops there.

Growing makes the new machines through the provider, converges them with
the group's steps, registers them and enables each once it passes the
health gate. Shrinking removes the highest-numbered nodes, so the rest
keep their names: all are cordoned at once, drained least loaded first
until Scalelite reports each disabled (its meetings ended by themselves;
--force ends them after --timeout), deregistered, then deleted. A node is
never deleted while it may hold a meeting. Deleting asks for confirmation
on a terminal; elsewhere --yes is required.

Afterwards the group's count in the inventory file is set to the new size
(only that number is rewritten), so that omc up keeps it.`,
		Example: `  omc scale eu-1 5
  omc scale eu-1 --for-users 1200 --dry-run
  omc scale eu-1 2 --yes --timeout 1h`,
		RunE: func(c *cobra.Command, args []string) error {
			o.N = -1
			switch {
			case len(args) == 2 && !c.Flags().Changed("for-users"):
				n, err := strconv.Atoi(args[1])
				if err != nil || n < 0 {
					return usageError("N must be a number of nodes, got %q", args[1])
				}
				o.N = n
			case len(args) == 1 && c.Flags().Changed("for-users"):
				if o.ForUsers < 0 {
					return usageError("--for-users must not be negative")
				}
			default:
				return usageError("usage: omc scale GROUP N, or omc scale GROUP --for-users U")
			}
			o.Group = args[0]
			return runScale(c.Context(), s, g, o)
		},
	}
	c.Flags().IntVar(&o.ForUsers, "for-users", 0, "size the pool for this many concurrent users (the pool's capacity model)")
	c.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask before deleting machines")
	c.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the plan and change nothing")
	c.Flags().DurationVar(&o.Timeout, "timeout", 2*time.Hour, "how long to wait for a removed node's meetings to end")
	c.Flags().BoolVar(&o.Force, "force", false, "end the meetings still running on removed nodes when the timeout passes")
	return c
}

// scalePlanV1 is omc scale -o json's plan line.
type scalePlanV1 struct {
	V      int      `json:"v"`
	Type   string   `json:"type"` // "scale-plan"
	Group  string   `json:"group"`
	From   int      `json:"from"`
	To     int      `json:"to"`
	Reason string   `json:"reason"`
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
}

func runScale(ctx context.Context, s *ui.Streams, g *globalOptions, o *scaleOptions) error {
	deps := poolEnv(s, g)
	inv, err := loadInventory(s, g)
	if err != nil {
		return err
	}
	plan, err := fleet.PlanScale(ctx, inv, fleet.ScaleOptions{Group: o.Group, N: o.N, ForUsers: o.ForUsers, Timeout: o.Timeout, Force: o.Force, Deps: deps})
	if err != nil {
		return err
	}
	defer plan.Close()
	grp, from, to := plan.Group, plan.From, plan.To
	if g.json() {
		g.jsonOut(s).Write(scalePlanV1{V: 1, Type: "scale-plan", Group: grp.Name, From: from, To: to, Reason: plan.Reason, Add: plan.Add, Remove: plan.Remove})
	} else {
		fmt.Fprintf(s.Err, "%s: %d → %d nodes (%s)\n", grp.Name, from, to, plan.Reason)
		if len(plan.Add) > 0 {
			fmt.Fprintf(s.Err, "  add: %s (made by %s, converged, enabled once healthy)\n", strings.Join(plan.Add, ", "), grp.Provider)
		}
		if len(plan.Remove) > 0 {
			fmt.Fprintf(s.Err, "  remove, least loaded first: %s (drained, deregistered, deleted)\n", strings.Join(plan.Remove, ", "))
		}
	}
	if from == to || o.DryRun {
		return nil
	}
	if len(plan.Remove) > 0 {
		if err := confirm(s, o.Yes, fmt.Sprintf("Drain and delete %d machine(s): %s?", len(plan.Remove), strings.Join(plan.Remove, ", "))); err != nil {
			return err
		}
	}
	prov, err := deps.ProviderFor(grp)
	if err != nil {
		return err
	}
	log, logPath, closeLog := openRunLog(s, plan.Pool.Red, "scale")
	defer closeLog()
	log.Info("start", "command", "scale", "group", grp.Name, "from", from, "to", to)
	res, err := plan.Apply(ctx, prov, log)
	if res.Count != from {
		if res.CountErr != nil {
			fmt.Fprintf(s.Err, "%s: set count: %d in groups.%s of %s yourself (%v), or omc up will not match the pool\n", grp.Name, res.Count, grp.Name, inv.Path, res.CountErr)
		} else if !g.json() {
			fmt.Fprintf(s.Err, "%s: count set to %d in %s\n", grp.Name, res.Count, inv.Path)
		}
	}
	if err != nil {
		return &exitError{Code: ExitError, Err: fmt.Errorf("%s (full log: %s)", err, logPath)}
	}
	return nil
}
