package cmd

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision/roles"
)

type upgradeOptions struct {
	Group   string
	To      string
	Batch   int
	Timeout time.Duration
	Force   bool
	Yes     bool
	DryRun  bool
	deps    *fleet.PoolDeps
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

var reVersion = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?([-+~][A-Za-z0-9.+~-]+)?$`)

// versionLine is the release line of a version: 3.0 for 3.0.5.
func versionLine(v string) string {
	parts := strings.SplitN(v, ".", 3)
	line := parts[0] + "." + parts[1]
	return strings.FieldsFunc(line, func(r rune) bool { return r == '-' || r == '+' || r == '~' })[0]
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
	o.deps = poolEnv(s, g, o.deps)
	if o.To == "" {
		return usageError("name the version: omc upgrade %s --to VERSION", o.Group)
	}
	if !reVersion.MatchString(o.To) {
		return usageError("--to %q is not a BBB version such as 3.0 or 3.0.5", o.To)
	}
	if o.Batch < 1 {
		return usageError("--batch must be at least 1")
	}
	inv, err := loadInventory(s, g)
	if err != nil {
		return err
	}
	grp := inv.Group(o.Group)
	if grp == nil {
		return usageError("no group named %q in %s", o.Group, inv.Path)
	}
	if grp.Pool == nil {
		return usageError("group %s has no pool (groups.%s.pool)", grp.Name, grp.Name)
	}
	red := redact.New(fleet.PoolSecrets(inv)...)
	logf, logPath, closeLog := openRunLogFor(s, red, "upgrade")
	defer closeLog()
	logf("start", "command", "upgrade", "group", grp.Name, "to", o.To, "batch", o.Batch)
	fp, err := fleet.OpenPool(ctx, inv, grp, o.deps, red)
	if err != nil {
		return err
	}
	defer fp.Close()
	_, machines, err := fleet.MachinesOf(ctx, inv, grp, o.deps)
	if err != nil {
		return err
	}
	byName := map[string]*inventory.Node{}
	for _, n := range fp.Nodes {
		byName[n.Name] = n
	}
	line := versionLine(o.To)
	hook := func(ctx context.Context, batch []pool.Member) map[string]error {
		var nodes []*inventory.Node
		for _, m := range batch {
			n := *byName[m.Node]
			n.Run.UpgradeBBB, n.Run.BBBVersion = true, line
			nodes = append(nodes, &n)
		}
		failed := o.deps.ConvergeNodes(ctx, inv, nodes, machines)
		for n, err := range failed {
			logf("converge failed", "node", n, "error", err.Error())
		}
		return failed
	}
	// Nodes already at the version (its line, when --to is one) and
	// serving need nothing: RollingUpgrade only skips exact matches.
	servers, err := fp.API.List(ctx)
	if err != nil {
		return err
	}
	at := make([]pool.Member, len(fp.Members))
	for i, m := range fp.Members {
		m.ExpectVersion = o.To
		at[i] = m
	}
	now := fp.Gate.CheckAll(ctx, at)
	var todo []pool.Member
	var skipped []string
	for _, m := range fp.Members {
		h := now[m.Node]
		regs := pool.FindByURL(servers, m.URL)
		if h.OK && pool.VersionMatches(o.To, h.BBBVersion) && len(regs) == 1 && regs[0].State == pool.Enabled {
			moves := ""
			if o.To == line { // the line's latest: ask the node's repository
				moves, err = pendingUpgrade(ctx, o.deps, inv, byName[m.Node], machines)
				if err != nil {
					moves = "unknown: " + err.Error()
				}
			}
			if moves == "" {
				skipped = append(skipped, m.Node)
				reportChange(s, g, red, grp.Name, pool.Change{Node: m.Node, Action: "skip", Detail: fmt.Sprintf("already at %s and healthy", h.BBBVersion)})
				continue
			}
			logf("pending", "node", m.Node, "moves", red.String(moves))
		}
		todo = append(todo, m)
	}
	if len(todo) > 0 {
		if stop, err := confirmUpgrade(s, g, o, grp.Name, todo, now); stop || err != nil {
			return err
		}
	}
	rep := &pool.UpgradeReport{Failed: map[string]string{}}
	if len(todo) > 0 {
		rep, err = pool.RollingUpgrade(ctx, fp.API, todo, pool.UpgradeOptions{
			To: o.To, Batch: o.Batch, Gate: fp.Gate, Holds: fp.Holds, Upgrade: hook,
			Drain: pool.DrainOptions{Timeout: o.Timeout, Poll: o.deps.PollEvery(), Force: o.Force, HTTP: o.deps.Client(), EndWait: o.deps.EndWaitFor()},
			Progress: func(c pool.Change) {
				logf("pool", "node", c.Node, "action", c.Action, "detail", red.String(c.Detail))
				reportChange(s, g, red, grp.Name, c)
			},
		})
		if rep == nil {
			rep = &pool.UpgradeReport{Failed: map[string]string{}}
		}
	}
	out := upgradeReportV1{V: 1, Type: "upgrade", Group: grp.Name, To: o.To,
		Upgraded: nonNil(rep.Upgraded), Skipped: nonNil(append(skipped, rep.Skipped...)), Failed: map[string]string{}, Untouched: nonNil(rep.Untouched)}
	for n, why := range rep.Failed {
		out.Failed[n] = red.String(why)
	}
	if g.json() {
		g.jsonOut(s).Write(out)
	} else {
		fmt.Fprintf(s.Out, "upgraded\t%s\nskipped\t%s\nfailed\t%s\nuntouched\t%s\n", list(out.Upgraded), list(out.Skipped), list(keys(out.Failed)), list(out.Untouched))
	}
	if err != nil {
		return &exitError{Code: ExitError, Err: fmt.Errorf("%s (full log: %s)", red.String(err.Error()), logPath)}
	}
	stale := false
	for _, m := range fp.Members {
		stale = stale || m.ExpectVersion != line
	}
	if stale && !g.json() {
		fmt.Fprintf(s.Err, "%s: every bbb node reports %s; set settings.bbb_version: %q in the inventory so that omc up keeps it\n", grp.Name, o.To, line)
	}
	return nil
}

// confirmUpgrade says what the upgrade of todo will do, with the
// meetings each node has now (from the gate's check), and asks; with
// --dry-run it only says it, and stop is true.
func confirmUpgrade(s *ui.Streams, g *globalOptions, o *upgradeOptions, group string, todo []pool.Member, now map[string]pool.Health) (stop bool, err error) {
	var names, live []string
	for _, m := range todo {
		names = append(names, m.Node)
		switch h := now[m.Node]; {
		case !h.Answered:
			live = append(live, m.Node+": meetings unknown (its BBB API did not answer)")
		case h.Meetings == 0:
			live = append(live, m.Node+": no meetings")
		default:
			live = append(live, fmt.Sprintf("%s: %d meeting(s), %d user(s)", m.Node, h.Meetings, h.Users))
		}
	}
	wait := fmt.Sprintf("their meetings are waited for up to %s", shortDuration(o.Timeout))
	if o.Force {
		wait = "meetings still running are ended " + endsWhen(o.Timeout)
	}
	what := fmt.Sprintf("Upgrade %d node(s) of %s to %s, %d at a time: %s; each batch is drained first (%s; now %s)",
		len(todo), group, o.To, o.Batch, strings.Join(names, ", "), wait, strings.Join(live, "; "))
	if o.DryRun {
		for i := 0; i < len(names); i += o.Batch {
			batch := names[i:min(i+o.Batch, len(names))]
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

// pendingUpgrade names what moving node n's BBB to its repository's
// latest would change ("" for nothing), asking the node.
func pendingUpgrade(ctx context.Context, deps *fleet.PoolDeps, inv *inventory.Inventory, n *inventory.Node, machines map[string]providers.Machine) (string, error) {
	step, err := roles.UpgradeCheck(inv, n, inv.Nodes())
	if err != nil {
		return "", err
	}
	mc, ok := machines[n.Name]
	if !ok {
		return "", fmt.Errorf("node %s has no machine (provider %s)", n.Name, n.Provider)
	}
	r, err := deps.Executor()(ctx, n, mc, step.Probe())
	if err != nil {
		return "", err
	}
	if r.ExitCode != 0 {
		return "", fmt.Errorf("probe exited %d: %s", r.ExitCode, strings.TrimSpace(string(r.Stderr)))
	}
	return step.Moves(strings.Split(string(r.Stdout), "\n"))
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

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
