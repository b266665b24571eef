package cmd

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
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
	deps    *fleet.PoolDeps
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

// exactArgs requires n arguments, with a usage error naming the form.
func exactArgs(n int, form string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("usage: %s", form)
		}
		return nil
	}
}

// openNodePool opens the pool of one node.
func openNodePool(ctx context.Context, s *ui.Streams, g *globalOptions, node string, deps *fleet.PoolDeps) (*fleet.Pool, pool.Member, *redact.Redactor, error) {
	inv, err := loadInventory(s, g)
	if err != nil {
		return nil, pool.Member{}, nil, err
	}
	_, grp, err := fleet.NodeGroup(inv, node)
	if err != nil {
		return nil, pool.Member{}, nil, err
	}
	red := fleet.Redactor(ctx, fleet.PoolSecrets(inv)...)
	fp, err := fleet.OpenPool(ctx, inv, grp, deps, red)
	if err != nil {
		return nil, pool.Member{}, nil, err
	}
	m, _ := fp.Member(node)
	return fp, m, red, nil
}

func drainOpts(s *ui.Streams, red *redact.Redactor, o *drainOptions, m pool.Member) pool.DrainOptions {
	last := ""
	return pool.DrainOptions{Timeout: o.Timeout, Poll: o.deps.PollEvery(), Force: o.Force, Member: &m, HTTP: o.deps.Client(), EndWait: o.deps.EndWaitFor(), Progress: func(sv pool.Server) {
		line := fmt.Sprintf("%s: %s, load %s", o.Node, sv.State, sv.LoadText())
		if line != last {
			fmt.Fprintln(s.Err, red.String(line))
			last = line
		}
	}}
}

func operator(what string) string {
	who := "someone"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	return fmt.Sprintf("%s by %s at %s", what, who, time.Now().UTC().Format(time.RFC3339))
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

func writeNodeResult(s *ui.Streams, g *globalOptions, action string, sv pool.Server, node string) {
	r := drainResultV1{V: 1, Type: "node", Node: node, Action: action, State: sv.State}
	if sv.State != "" {
		l := sv.LoadText()
		r.Load = &l
	}
	if g.json() {
		g.jsonOut(s).Write(r)
		return
	}
	state := sv.State
	if state == "" {
		state = "absent"
	}
	fmt.Fprintf(s.Out, "%s\t%s\n", node, state)
}

func runDrain(ctx context.Context, s *ui.Streams, g *globalOptions, o *drainOptions) error {
	o.deps = poolEnv(s, g, o.deps)
	fp, m, red, err := openNodePool(ctx, s, g, o.Node, o.deps)
	if err != nil {
		return err
	}
	defer fp.Close()
	sv, err := pool.ServerFor(ctx, fp.API, m)
	if err != nil {
		return err
	}
	if o.Force {
		live, _ := liveMeetings(ctx, fp.Gate.HTTP, []pool.Member{m})
		if err := confirm(s, o.Yes, fmt.Sprintf("Drain %s and end the meetings still running %s (now %s)?", o.Node, endsWhen(o.Timeout), live)); err != nil {
			return err
		}
	}
	// Held first, so that an omc up running meanwhile does not enable it.
	if err := fp.Holds.Set(o.Node, operator("omc drain")); err != nil {
		return fmt.Errorf("recording the drain: %w", err)
	}
	sv, err = pool.Drain(ctx, fp.API, sv.ID, drainOpts(s, red, o, m))
	if err != nil {
		var te *pool.DrainTimeoutError
		if errors.As(err, &te) {
			return &exitError{Code: ExitError, Err: fmt.Errorf("%s: %w; it stays cordoned", o.Node, err)}
		}
		return err
	}
	writeNodeResult(s, g, "drain", sv, o.Node)
	return nil
}

func runEnable(ctx context.Context, s *ui.Streams, g *globalOptions, o *drainOptions) error {
	o.deps = poolEnv(s, g, o.deps)
	fp, m, red, err := openNodePool(ctx, s, g, o.Node, o.deps)
	if err != nil {
		return err
	}
	defer fp.Close()
	if err := fp.Holds.Clear(o.Node); err != nil {
		return fmt.Errorf("releasing the drain: %w", err)
	}
	rep, err := pool.Sync(ctx, fp.API, []pool.Member{m}, pool.SyncOptions{Gate: fp.Gate, Holds: fp.Holds})
	if rep != nil {
		for _, c := range rep.Changes {
			reportChange(s, g, red, fp.Group.Name, c)
		}
	}
	if err != nil {
		return err
	}
	if h := rep.Health[o.Node]; !h.OK {
		return &exitError{Code: ExitError, Err: errors.New(red.String((&pool.GateError{Node: o.Node, Health: h}).Error()) + "; left out of the pool")}
	}
	writeNodeResult(s, g, "enable", rep.Servers[o.Node], o.Node)
	return nil
}

func runRemove(ctx context.Context, s *ui.Streams, g *globalOptions, o *drainOptions) error {
	o.deps = poolEnv(s, g, o.deps)
	fp, m, red, err := openNodePool(ctx, s, g, o.Node, o.deps)
	if err != nil {
		return err
	}
	defer fp.Close()
	live, _ := liveMeetings(ctx, fp.Gate.HTTP, []pool.Member{m})
	wait := fmt.Sprintf("its meetings are waited for up to %s", shortDuration(o.Timeout))
	if o.Force {
		wait = "meetings still running are ended " + endsWhen(o.Timeout)
	}
	what := fmt.Sprintf("Remove %s from pool %s: drain it (%s; now %s), then deregister it; the machine stays", o.Node, fp.Group.Name, wait, live)
	if o.DryRun {
		l, err := fp.API.List(ctx)
		if err != nil {
			return err
		}
		state := "absent"
		for _, sv := range pool.FindByURL(l, m.URL) {
			state = sv.State
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
	prev, wasHeld := fp.Holds.Held(o.Node)
	if err := fp.Holds.Set(o.Node, operator("omc remove")); err != nil {
		return fmt.Errorf("recording the removal: %w", err)
	}
	wc := &writeCounter{Pool: fp.API}
	if err := pool.Remove(ctx, wc, m, drainOpts(s, red, o, m)); err != nil {
		return fmt.Errorf("%s: %w; %s", o.Node, err, leftAfterFailedRemove(ctx, fp, m, wc.writes.Load() > 0, prev, wasHeld))
	}
	detail := "drained and deregistered; the machine stays"
	if wc.writes.Load() == 0 {
		detail = "not registered in the pool: nothing to drain or deregister; it stays held (omc enable " + o.Node + " puts it back)"
	}
	reportChange(s, g, red, fp.Group.Name, pool.Change{Node: o.Node, Action: "remove", Detail: detail})
	writeNodeResult(s, g, "remove", pool.Server{}, o.Node)
	return nil
}

// leftAfterFailedRemove says what a failed omc remove leaves. The hold
// it set stays only while the node is out of service (cordoned or
// disabled: omc up must not enable it behind the operator's back);
// when the pool still has it enabled, or never had it, the hold is
// put back as it was, so nothing lasting is left.
func leftAfterFailedRemove(ctx context.Context, fp *fleet.Pool, m pool.Member, wrote bool, prev string, wasHeld bool) string {
	enable := "omc enable " + m.Node + " puts it back"
	if wrote {
		l, err := fp.API.List(context.WithoutCancel(ctx))
		if err != nil {
			return "it stays held by omc remove, as its pool state could not be read (" + enable + ")"
		}
		for _, sv := range pool.FindByURL(l, m.URL) {
			if sv.State != pool.Enabled {
				return fmt.Sprintf("it stays %s in the pool and held by omc remove (%s)", sv.State, enable)
			}
		}
	}
	restore := fp.Holds.Clear(m.Node)
	if wasHeld {
		restore = fp.Holds.Set(m.Node, prev)
	}
	if restore != nil {
		return "releasing the hold omc remove set failed too: " + restore.Error() + " (" + enable + ")"
	}
	return "nothing was changed"
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

// writeCounter counts the calls that change the pool.
type writeCounter struct {
	pool.Pool
	writes atomic.Int64
}

func (w *writeCounter) Update(ctx context.Context, id string, u pool.ServerUpdate) (pool.Server, error) {
	w.writes.Add(1)
	return w.Pool.Update(ctx, id, u)
}

func (w *writeCounter) Delete(ctx context.Context, id string) error {
	w.writes.Add(1)
	return w.Pool.Delete(ctx, id)
}

func (w *writeCounter) Panic(ctx context.Context, id string, keep bool) error {
	w.writes.Add(1)
	return w.Pool.Panic(ctx, id, keep)
}
