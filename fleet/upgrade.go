package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision/roles"
)

// UpgradeOptions are a rolling upgrade's. What it asks of the nodes
// reaches the roles as run options (inventory.Run: UpgradeBBB and the
// line as BBBVersion), never as settings.
type UpgradeOptions struct {
	Group string
	// To is the BBB version every node must report afterwards (3.0.5),
	// or a line (3.0) for the line's latest.
	To string
	// Batch is how many nodes are out of service at once.
	Batch int
	// Timeout bounds the wait for a batch's meetings to end; Force ends
	// those still running then.
	Timeout time.Duration
	Force   bool
	Deps    *PoolDeps
	// Log is the run's debug log (nil: none).
	Log *slog.Logger
}

var reVersion = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?([-+~][A-Za-z0-9.+~-]+)?$`)

// Check refuses options no upgrade can run with (a *UsageError).
func (o UpgradeOptions) Check() error {
	switch {
	case o.To == "":
		return usageErrorf("name the version: omc upgrade %s --to VERSION", o.Group)
	case !reVersion.MatchString(o.To):
		return usageErrorf("--to %q is not a BBB version such as 3.0 or 3.0.5", o.To)
	case o.Batch < 1:
		return usageErrorf("--batch must be at least 1")
	}
	return nil
}

// versionLine is the release line of a version: 3.0 for 3.0.5.
func versionLine(v string) string {
	parts := strings.SplitN(v, ".", 3)
	line := parts[0] + "." + parts[1]
	return strings.FieldsFunc(line, func(r rune) bool { return r == '-' || r == '+' || r == '~' })[0]
}

// UpgradePlan is what a rolling upgrade will do: the nodes it upgrades,
// in order, and those it skips. Close it when done.
type UpgradePlan struct {
	Group *inventory.Group
	To    string
	// Line is To's release line (3.0 for 3.0.5): what the nodes are
	// converged with, and what settings.bbb_version should say after.
	Line string
	// Todo are the nodes to upgrade, in the pool's order; Skipped those
	// already at To and healthy (for a line: with nothing newer in their
	// repository), each reported as a pool change "skip".
	Todo, Skipped []string
	// Now is each node's health checked against To while planning: its
	// meetings and users, for the confirmation.
	Now  map[string]pool.Health
	Pool *Pool

	inv      *inventory.Inventory
	todo     []pool.Member
	byName   map[string]*inventory.Node
	machines map[string]providers.Machine
	o        UpgradeOptions
}

// UpgradeResult is how far a rolling upgrade got.
type UpgradeResult struct {
	Upgraded, Skipped []string
	Failed            map[string]string // node: why (masked)
	Untouched         []string          // never drained: it stopped before them
	// Behind is true when some node's settings.bbb_version is not the
	// plan's Line: the inventory should say it, or omc up goes back.
	Behind bool
}

// PlanUpgrade opens the group's pool, checks every bbb node against
// o.To with the health gate and, for a line, asks each node at it
// whether its repository has a newer BBB. It changes nothing.
func PlanUpgrade(ctx context.Context, inv *inventory.Inventory, o UpgradeOptions) (*UpgradePlan, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	grp, err := GroupWithPool(inv, o.Group)
	if err != nil {
		return nil, err
	}
	red := Redactor(ctx, PoolSecrets(inv)...)
	fp, err := OpenPool(ctx, inv, grp, o.Deps, red)
	if err != nil {
		return nil, err
	}
	p := &UpgradePlan{Group: grp, To: o.To, Line: versionLine(o.To), Pool: fp, inv: inv, byName: map[string]*inventory.Node{}, o: o}
	if err := p.plan(ctx); err != nil {
		fp.Close()
		return nil, err
	}
	return p, nil
}

func (p *UpgradePlan) plan(ctx context.Context) error {
	fp, o := p.Pool, p.o
	var err error
	if _, p.machines, err = MachinesOf(ctx, p.inv, p.Group, o.Deps); err != nil {
		return err
	}
	for _, n := range fp.Nodes {
		p.byName[n.Name] = n
	}
	// Nodes already at the version (its line, when To is one) and
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
	p.Now = fp.Gate.CheckAll(ctx, at)
	for _, m := range fp.Members {
		h := p.Now[m.Node]
		regs := pool.FindByURL(servers, m.URL)
		if h.OK && pool.VersionMatches(o.To, h.BBBVersion) && len(regs) == 1 && regs[0].State == pool.Enabled {
			moves := ""
			if o.To == p.Line { // the line's latest: ask the node's repository
				moves, err = p.pending(ctx, p.byName[m.Node])
				if err != nil {
					moves = "unknown: " + err.Error()
				}
			}
			if moves == "" {
				p.Skipped = append(p.Skipped, m.Node)
				o.Deps.ReportChange(fp.Red, p.Group.Name, pool.Change{Node: m.Node, Action: "skip", Detail: fmt.Sprintf("already at %s and healthy", h.BBBVersion)})
				continue
			}
			p.log("pending", "node", m.Node, "moves", fp.Red.String(moves))
		}
		p.todo = append(p.todo, m)
		p.Todo = append(p.Todo, m.Node)
	}
	return nil
}

// Batches are the plan's nodes to upgrade, Batch at a time.
func (p *UpgradePlan) Batches() [][]string {
	var out [][]string
	for i := 0; i < len(p.Todo); i += p.o.Batch {
		out = append(out, p.Todo[i:min(i+p.o.Batch, len(p.Todo))])
	}
	return out
}

// Close releases the pool.
func (p *UpgradePlan) Close() { p.Pool.Close() }

// Apply upgrades the plan's nodes batch by batch (pool.RollingUpgrade):
// drain, converge with the upgrade's run options (Deps.Converge), check
// against To with the health gate, enable. It stops at the first batch
// with a failure. Each pool change goes to Deps.Change and to the log;
// its error is masked.
func (p *UpgradePlan) Apply(ctx context.Context) (*UpgradeResult, error) {
	fp, o := p.Pool, p.o
	rep := &pool.UpgradeReport{Failed: map[string]string{}}
	var err error
	if len(p.todo) > 0 {
		rep, err = pool.RollingUpgrade(ctx, fp.API, p.todo, pool.UpgradeOptions{
			To: o.To, Batch: o.Batch, Gate: fp.Gate, Holds: fp.Holds, Upgrade: p.converge,
			Drain: pool.DrainOptions{Timeout: o.Timeout, Poll: o.Deps.PollEvery(), Force: o.Force, HTTP: o.Deps.Client(), EndWait: o.Deps.EndWaitFor()},
			Progress: func(c pool.Change) {
				p.log("pool", "node", c.Node, "action", c.Action, "detail", fp.Red.String(c.Detail))
				o.Deps.ReportChange(fp.Red, p.Group.Name, c)
			},
		})
		if rep == nil {
			rep = &pool.UpgradeReport{Failed: map[string]string{}}
		}
	}
	res := &UpgradeResult{Upgraded: rep.Upgraded, Skipped: append(p.Skipped, rep.Skipped...), Failed: map[string]string{}, Untouched: rep.Untouched}
	for n, why := range rep.Failed {
		res.Failed[n] = fp.Red.String(why)
	}
	for _, m := range fp.Members {
		res.Behind = res.Behind || m.ExpectVersion != p.Line
	}
	if err != nil {
		return res, &maskedError{msg: fp.Red.String(err.Error()), err: err}
	}
	return res, nil
}

// FailedNodes are the nodes that failed, sorted.
func (r *UpgradeResult) FailedNodes() []string {
	var out []string
	for k := range r.Failed {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// converge upgrades one batch: its nodes converged with the run options
// UpgradeBBB and the line as BBBVersion.
func (p *UpgradePlan) converge(ctx context.Context, batch []pool.Member) map[string]error {
	var nodes []*inventory.Node
	for _, m := range batch {
		n := *p.byName[m.Node]
		n.Run.UpgradeBBB, n.Run.BBBVersion = true, p.Line
		nodes = append(nodes, &n)
	}
	failed := p.o.Deps.ConvergeNodes(ctx, p.inv, nodes, p.machines)
	for n, err := range failed {
		p.log("converge failed", "node", n, "error", err.Error())
	}
	return failed
}

// pending names what moving node n's BBB to its repository's latest
// would change ("" for nothing), asking the node.
func (p *UpgradePlan) pending(ctx context.Context, n *inventory.Node) (string, error) {
	step, err := roles.UpgradeCheck(p.inv, n, p.inv.Nodes())
	if err != nil {
		return "", err
	}
	mc, ok := p.machines[n.Name]
	if !ok {
		return "", fmt.Errorf("node %s has no machine (provider %s)", n.Name, n.Provider)
	}
	r, err := p.o.Deps.Executor()(ctx, n, mc, step.Probe())
	if err != nil {
		return "", err
	}
	if r.ExitCode != 0 {
		return "", fmt.Errorf("probe exited %d: %s", r.ExitCode, strings.TrimSpace(string(r.Stderr)))
	}
	return step.Moves(strings.Split(string(r.Stdout), "\n"))
}

func (p *UpgradePlan) log(msg string, args ...any) {
	if p.o.Log != nil {
		p.o.Log.Info(msg, args...)
	}
}
