package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
)

type upgradeOptions struct {
	Group   string
	To      string
	Batch   int
	Timeout time.Duration
	Force   bool
	Yes     bool
	DryRun  bool
}

func newUpgradeCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &upgradeOptions{}
	c := &cobra.Command{
		Use:   "upgrade GROUP --to VERSION",
		Short: "Upgrade a pool's BBB nodes one batch at a time, without dropping a meeting",
		Long: `A rolling upgrade of the group's bbb nodes, --batch at a time (default 1),
least loaded first: drain (cordon, wait until Scalelite reports the batch
disabled), converge each node with settings.bbb_version set to the line of
VERSION (3.0 for 3.0.5) and its BBB packages moved to the repository's
latest (bigbluebutton and the installed bbb-* packages, with
--force-confold, as a re-run of bbb-install does), check it against
VERSION with the health gate, enable it. Nodes already at VERSION and
healthy are skipped; with a line as VERSION (4.1: the line's latest),
only those whose repository has nothing newer for them.

It stops at the first batch with a failure: the nodes that failed stay
out of the pool with the reason, later nodes are not touched, and the rest
keep serving. Fix and run it again to continue.

Versions pinned in settings.bbb_packages (bigbluebutton=...) stay as
pinned: pin an older release there to go back. omc up never moves an
installed BBB, and unattended-upgrades leave BBB's packages alone.
Afterwards set settings.bbb_version in the inventory to the line, so
that omc up keeps it.`,
		Example: `  omc upgrade eu-1 --to 4.1
  omc upgrade eu-1 --to 4.1.3 --batch 2 --timeout 1h`,
		Args: exactArgs(1, "omc upgrade GROUP --to VERSION"),
		RunE: func(c *cobra.Command, args []string) error {
			o.Group = args[0]
			return runUpgrade(c.Context(), s, g, o)
		},
	}
	c.Flags().StringVar(&o.To, "to", "", "the BBB version every node must report afterwards (e.g. 4.1.3, or 4.1 for the line's latest)")
	c.Flags().IntVar(&o.Batch, "batch", 1, "nodes out of service at once")
	c.Flags().DurationVar(&o.Timeout, "timeout", 2*time.Hour, "how long to wait for a batch's meetings to end")
	c.Flags().BoolVar(&o.Force, "force", false, "end the meetings still running when the timeout passes")
	c.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	c.Flags().BoolVar(&o.DryRun, "dry-run", false, "show which nodes would be upgraded, in which batches, and change nothing")
	return c
}

// upgradeReportV1 is omc upgrade -o json's last line.
type upgradeReportV1 struct {
	V         int               `json:"v"`
	Type      string            `json:"type"` // "upgrade"
	Group     string            `json:"group"`
	To        string            `json:"to"`
	Upgraded  []string          `json:"upgraded"`
	Skipped   []string          `json:"skipped"`
	Failed    map[string]string `json:"failed"`
	Untouched []string          `json:"untouched"`
}

func runUpgrade(ctx context.Context, s *ui.Streams, g *globalOptions, o *upgradeOptions) error {
	deps := poolEnv(s, g)
	fo := fleet.UpgradeOptions{Group: o.Group, To: o.To, Batch: o.Batch, Timeout: o.Timeout, Force: o.Force, Deps: deps}
	if err := fo.Check(); err != nil {
		return err
	}
	inv, err := loadInventory(s, g)
	if err != nil {
		return err
	}
	grp, err := fleet.GroupWithPool(inv, o.Group)
	if err != nil {
		return err
	}
	red := fleet.Redactor(ctx, fleet.PoolSecrets(inv)...)
	ctx = fleet.WithRedactor(ctx, red)
	log, logPath, closeLog := openRunLog(s, red, "upgrade")
	defer closeLog()
	log.Info("start", "command", "upgrade", "group", grp.Name, "to", o.To, "batch", o.Batch)
	fo.Log = log
	plan, err := fleet.PlanUpgrade(ctx, inv, fo)
	if err != nil {
		return err
	}
	defer plan.Close()
	if len(plan.Todo) > 0 {
		if stop, err := confirmUpgrade(s, g, o, plan); stop || err != nil {
			return err
		}
	}
	res, err := plan.Apply(ctx)
	out := upgradeReportV1{V: 1, Type: "upgrade", Group: grp.Name, To: o.To,
		Upgraded: nonNil(res.Upgraded), Skipped: nonNil(res.Skipped), Failed: res.Failed, Untouched: nonNil(res.Untouched)}
	if g.json() {
		g.jsonOut(s).Write(out)
	} else {
		fmt.Fprintf(s.Out, "upgraded\t%s\nskipped\t%s\nfailed\t%s\nuntouched\t%s\n", list(out.Upgraded), list(out.Skipped), list(res.FailedNodes()), list(out.Untouched))
	}
	if err != nil {
		return &exitError{Code: ExitError, Err: fmt.Errorf("%s (full log: %s)", err, logPath)}
	}
	if res.Behind && !g.json() {
		fmt.Fprintf(s.Err, "%s: every bbb node reports %s; set settings.bbb_version: %q in the inventory so that omc up keeps it\n", grp.Name, o.To, plan.Line)
	}
	return nil
}

// confirmUpgrade says what the upgrade of the plan's nodes will do,
// with the meetings each node has now (from the gate's check), and
// asks; with --dry-run it only says it, and stop is true.
func confirmUpgrade(s *ui.Streams, g *globalOptions, o *upgradeOptions, plan *fleet.UpgradePlan) (stop bool, err error) {
	var live []string
	for _, n := range plan.Todo {
		switch h := plan.Now[n]; {
		case !h.Answered:
			live = append(live, n+": meetings unknown (its BBB API did not answer)")
		case h.Meetings == 0:
			live = append(live, n+": no meetings")
		default:
			live = append(live, fmt.Sprintf("%s: %d meeting(s), %d user(s)", n, h.Meetings, h.Users))
		}
	}
	wait := fmt.Sprintf("their meetings are waited for up to %s", shortDuration(o.Timeout))
	if o.Force {
		wait = "meetings still running are ended " + endsWhen(o.Timeout)
	}
	what := fmt.Sprintf("Upgrade %d node(s) of %s to %s, %d at a time: %s; each batch is drained first (%s; now %s)",
		len(plan.Todo), plan.Group.Name, o.To, o.Batch, strings.Join(plan.Todo, ", "), wait, strings.Join(live, "; "))
	if o.DryRun {
		for _, batch := range plan.Batches() {
			if g.json() {
				if err := g.jsonOut(s).Write(dryRunV1{V: 1, Type: "dry-run", Action: "would-upgrade", Targets: batch}); err != nil {
					return true, err
				}
				continue
			}
			fmt.Fprintf(s.Out, "would upgrade\t%s\n", strings.Join(batch, ","))
		}
		fmt.Fprintf(s.Err, "dry run: %s; nothing was changed\n", lowerFirst(what))
		return true, nil
	}
	return false, confirm(s, o.Yes, what+"?")
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func list(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ",")
}
