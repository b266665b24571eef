package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/provision/roles"
)

type restoreOptions struct {
	Node     string
	Snapshot string
	Force    bool
	Yes      bool
	DryRun   bool
}

func newRestoreCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &restoreOptions{}
	c := &cobra.Command{
		Use:   "restore NODE",
		Short: "Put a node's backed-up configuration and recordings back from its restic repository",
		Long: `Restore node NODE's backup targets (configuration; recordings on a bbb node;
Scalelite's database dump on a scalelite node) from the newest snapshot of
each, or only the snapshot --snapshot names (an ID from omc backup status),
over what is on the node now. On a rebuilt node, omc first installs restic
and the repository's credentials (the backup role's own steps). Then run
omc up NODE: it converges the node again and restarts BBB with the
restored configuration.

While meetings are live on the node's BBB, or while it cannot tell, restore
refuses, unless --force; drain the node first (omc drain). A Scalelite
database dump comes back as a file; load it with pg_restore.`,
		Example: `  omc restore bbb-3
  omc restore bbb-3 --snapshot 4f2a9c1e`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("omc restore takes exactly one NODE, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			o.Node = args[0]
			return runRestore(c.Context(), s, g, o)
		},
	}
	c.Flags().StringVar(&o.Snapshot, "snapshot", "", "restore only this snapshot (an ID from omc backup status; default: the newest of each target)")
	c.Flags().BoolVar(&o.Force, "force", false, "restore even while meetings are live on the node (they will see BBB's configuration change)")
	c.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	c.Flags().BoolVar(&o.DryRun, "dry-run", false, "show what would be restored over what, and change nothing")
	return c
}

func runRestore(ctx context.Context, s *ui.Streams, g *globalOptions, o *restoreOptions) error {
	inv, nodes, err := selectNodes(s, g, []string{o.Node}, nil)
	if err != nil {
		return err
	}
	plan, err := fleet.PlanRestore(inv, nodes, o.Node)
	if err != nil {
		return err
	}
	n := plan.Node
	red := redact.New(fleet.SecretValues(inv)...)
	log, logPath, closeLog := openRunLog(s, red, "restore")
	defer closeLog()
	log.Info("start", "command", "restore", "inventory", inv.Path, "node", n.Name, "snapshot", o.Snapshot, "force", o.Force, "version", version)

	start := time.Now()
	obs := ui.Multi{provision.ObserverFunc(func(e provision.Event) {
		log.Info("event", "host", e.Host, "type", e.Type, "step", e.Step, "status", e.Status, "summary", e.Summary, "error", e.Error, "ms", e.DurationMS)
	})}
	var jsonOut *ui.JSONLines
	if g.json() {
		jsonOut = g.jsonOut(s)
		obs = append(obs, jsonOut)
	} else {
		obs = append(obs, ui.NewLines(s.Err, ui.NewStyles(s.Err, s.ErrColor)))
	}
	pe := newProviderEvents(ctx, s)
	var confirmErr error
	res, err := fleet.Restore(ctx, plan, fleet.RestoreOptions{Snapshot: o.Snapshot, Force: o.Force,
		Provider: func(name string) (providers.Provider, error) { return g.deps().provider(s, pe, name) }, Transport: g.deps().Transport,
		Confirm: func(p *fleet.RestorePlan) (bool, error) {
			pe.close()
			stop, err := confirmRestore(s, g, o, p.Targets)
			confirmErr = err
			return !stop && err == nil, err
		},
		Observer: obs, Redact: red.String, Log: log})
	pe.close()
	var ie *fleet.InventoryError
	var me *fleet.MissingMachineError
	switch {
	case err == nil:
	case err == confirmErr, errors.As(err, &ie), errors.As(err, &me):
		return err // said in full: the log adds nothing
	default:
		return withLog(err, logPath)
	}
	if !res.Ran {
		return nil // a dry run
	}
	sum := ui.Summarize("restore", res.Results)
	sum.DurationMS = time.Since(start).Milliseconds()
	sum.Log = logPath
	log.Info("done", "changed", sum.Changed, "failed", sum.Failed, "ms", sum.DurationMS)
	if jsonOut != nil {
		jsonOut.Write(sum)
	}
	if sum.Failed > 0 {
		return &exitError{Code: ExitError, Err: fmt.Errorf("restore of %s failed: %s; full log: %s", n.Name, red.String(res.Err().Error()), logPath)}
	}
	if !g.json() {
		fmt.Fprintf(s.Err, "%s restored; now run omc up %s to converge it and restart BBB with the restored configuration\n", n.Name, n.Name)
	}
	return nil
}

// confirmRestore says which files the restore replaces on the node, and
// asks; with --dry-run it only says it, and stop is true.
func confirmRestore(s *ui.Streams, g *globalOptions, o *restoreOptions, targets []roles.BackupTarget) (stop bool, err error) {
	from := "the newest snapshot of each target"
	if o.Snapshot != "" {
		from = "snapshot " + o.Snapshot
	}
	var parts []string
	for _, t := range targets {
		parts = append(parts, fmt.Sprintf("%s (%s)", t.Name, strings.Join(t.Paths, " ")))
	}
	live := "refused while meetings are live on it"
	if o.Force {
		live = "even while meetings are live on it (--force)"
	}
	what := fmt.Sprintf("Restore %s on %s from %s, replacing the files there now, %s", strings.Join(parts, ", "), o.Node, from, live)
	if o.DryRun {
		for _, t := range targets {
			if g.json() {
				if err := g.jsonOut(s).Write(dryRunV1{V: 1, Type: "dry-run", Action: "would-restore", Node: o.Node, Name: t.Name, Targets: t.Paths}); err != nil {
					return true, err
				}
				continue
			}
			fmt.Fprintf(s.Out, "would restore\t%s\t%s\n", t.Name, strings.Join(t.Paths, ","))
		}
		fmt.Fprintf(s.Err, "dry run: %s; nothing was changed\n", lowerFirst(what))
		return true, nil
	}
	return false, confirm(s, o.Yes, what+"?")
}
