package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
)

// convergeOptions are the flags shared by plan and up.
type convergeOptions struct {
	Targets  []string
	Limit    []string
	Parallel int
	Timeout  time.Duration
	// Force lets BBB restart or upgrade while meetings are live (as the
	// bbb_force setting does, for this run only: inventory.Run.Force).
	Force bool
	// Yes skips the confirmation --force asks for (up, rebuild).
	Yes bool
	// AcceptNew records the key a host presents on first contact (and
	// says so); false refuses hosts with no recorded or pinned key.
	AcceptNew bool
	// rebuild: the machines are rebuilt first (fleet.Rebuild).
	rebuild bool
}

func (o *convergeOptions) addFlags(c *cobra.Command) {
	c.Flags().StringSliceVarP(&o.Limit, "limit", "l", nil, "only these nodes (glob patterns, comma-separated or repeated)")
	c.Flags().IntVarP(&o.Parallel, "parallel", "p", 20, "hosts making changes at once (up to 128 hosts connect and check at once; those with changes wait for a slot, locked)")
	c.Flags().DurationVar(&o.Timeout, "timeout", 0, "give up after this long (e.g. 30m; default: no limit)")
	c.Flags().BoolVar(&o.Force, "force", false, "restart or upgrade BBB even while meetings are live on a node (they are dropped)")
	c.Flags().BoolVar(&o.AcceptNew, "accept-new", true, "on first contact, record the host key a node presents (and print its fingerprint); false: only recorded or pinned (host_key:) keys")
}

// newKeyReporter prints each host key recorded on first contact, so the
// user sees what omc trusted and can compare it out of band.
func newKeyReporter(s *ui.Streams, log interface{ Info(string, ...any) }) func(name, keyType, fingerprint, path string) {
	return func(name, keyType, fingerprint, path string) {
		fmt.Fprintf(s.Err, "%s: first contact: recorded host key %s %s in %s (to check it from the first connection on, pin it with host_key: on the node)\n",
			name, keyType, fingerprint, path)
		if log != nil {
			log.Info("host key recorded", "host", name, "type", keyType, "fingerprint", fingerprint)
		}
	}
}

// converge runs the engine over the selected nodes and reports the
// outcome in the chosen output form. It is the body of plan and up.
func converge(ctx context.Context, s *ui.Streams, g *globalOptions, o *convergeOptions, mode provision.Mode) error {
	inv, nodes, err := selectNodes(s, g, o.Targets, o.Limit)
	if err != nil {
		return err
	}
	return convergeNodes(ctx, s, g, o, mode, inv, nodes)
}

// convergeNodes is converge for nodes the caller already selected.
func convergeNodes(ctx context.Context, s *ui.Streams, g *globalOptions, o *convergeOptions, mode provision.Mode, inv *inventory.Inventory, nodes []*inventory.Node) error {
	command := "up"
	if mode == provision.Plan {
		command = "plan"
	}
	if o.Parallel < 1 {
		return usageError("--parallel must be at least 1")
	}
	if o.Force && mode == provision.Apply {
		if err := confirmForce(ctx, s, o, inv, nodes); err != nil {
			return err
		}
	}
	if o.Force {
		nodes = fleet.Forced(nodes)
	}
	ctx, cancel := withTimeout(ctx, o.Timeout)
	defer cancel()
	red := redact.New(fleet.SecretValues(inv)...)
	log, logPath, closeLog := openRunLog(s, red, command)
	defer closeLog()
	log.Info("start", "command", command, "inventory", inv.Path, "nodes", len(nodes), "version", version)
	ctx = fleet.WithLog(ctx, log) // the provider phase logs there too

	start := time.Now()
	pe := newProviderEvents(ctx, s)
	co := fleet.ConvergeOptions{
		Mode: mode, Parallel: o.Parallel, Command: command, Redact: red.String, Log: log,
		Keys:      fleet.KeyPolicy{RefuseNew: !o.AcceptNew, OnNew: newKeyReporter(s, log)},
		Provider:  func(name string) (providers.Provider, error) { return g.deps().provider(s, pe, name) },
		Transport: g.deps().Transport,
	}
	prepare := fleet.PrepareConverge
	if o.rebuild {
		prepare = rebuildFirst(pe)
	}
	run, err := prepare(ctx, inv, nodes, co)
	pe.close()
	var ie *fleet.InventoryError
	switch {
	case errors.As(err, &ie):
		return err
	case err != nil:
		return withLog(err, logPath)
	}
	names := run.Names()
	collector := ui.NewCollector()
	obs := ui.Multi{collector, fleet.EventLog(log)}
	var jsonOut *ui.JSONLines
	var live *ui.Live
	errStyles := ui.NewStyles(s.Err, s.ErrColor)
	switch {
	case g.json():
		jsonOut = g.jsonOut(s)
		obs = append(obs, jsonOut)
	case s.Live():
		live = ui.NewLive(s.Err, errStyles, names)
		obs = append(obs, live)
	case mode == provision.Apply:
		obs = append(obs, ui.NewLines(s.Err, errStyles))
	}

	results := run.Run(ctx, obs)
	if live != nil {
		live.Stop()
	}
	poolPending, poolErr := run.Pools(ctx, inv, results, poolEnv(s, g))
	// Plan: machines a provider would create are pending as a whole.
	results = run.ReportMissing(obs, results)
	for _, n := range run.Missing {
		names = append(names, n.Name)
	}
	sum := ui.Summarize(command, results)
	sum.DurationMS = time.Since(start).Milliseconds()
	sum.Log = logPath
	log.Info("done", "hosts", sum.Hosts, "changed", sum.Changed, "failed", sum.Failed, "ms", sum.DurationMS)

	outStyles := ui.NewStyles(s.Out, s.OutColor)
	switch {
	case jsonOut != nil:
		jsonOut.Write(sum)
	case mode == provision.Plan:
		ui.WritePlan(s.Out, outStyles, names, collector)
	default:
		ui.WriteTable(s.Out, outStyles, s.OutTTY, results, false)
	}

	if poolErr != nil {
		if sum.Failed == 0 {
			return withLog(poolErr, logPath)
		}
		fmt.Fprintln(s.Err, poolErr.Error())
	}
	if sum.Failed > 0 {
		if !g.json() {
			for _, r := range results {
				if r.Failed() {
					fmt.Fprintf(s.Err, "%s: %s\n", r.Host, red.String(r.Err.Error()))
				}
			}
		}
		if ctx.Err() != nil {
			// Each host's line above says which step the signal or
			// --timeout stopped.
			return &exitError{Code: exitCode(context.Cause(ctx)), Err: fmt.Errorf("%v: %d of %d hosts did not finish; full log: %s", context.Cause(ctx), sum.Failed, sum.Hosts, logPath),
				Failed: results, redact: red.String}
		}
		return &exitError{Code: ExitError, Err: fmt.Errorf("%d of %d hosts failed; full log: %s", sum.Failed, sum.Hosts, logPath), Failed: results, redact: red.String}
	}
	if mode == provision.Plan && sum.Changed > 0 {
		if !g.json() {
			fmt.Fprintf(s.Err, "%d of %d hosts have changes pending; run omc up to apply them\n", sum.Changed, sum.Hosts)
		}
		return &exitError{Code: ExitPending, Silent: true}
	}
	if mode == provision.Plan && poolPending > 0 {
		if !g.json() {
			fmt.Fprintf(s.Err, "%d pool changes pending; run omc up to apply them\n", poolPending)
		}
		return &exitError{Code: ExitPending, Silent: true}
	}
	if !g.json() && mode == provision.Apply {
		fmt.Fprintf(s.Err, "%d hosts: %d changed, %d unchanged, 0 failed\n", sum.Hosts, sum.Changed, sum.OK)
	}
	return nil
}

func withLog(err error, logPath string) error {
	if logPath == "" {
		return err
	}
	return fmt.Errorf("%w (full log: %s)", err, logPath)
}
