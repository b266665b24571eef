package cmd

import (
	"context"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
)

// omc status --watch: the pools as omc status sees them (fleet.StatusWatch),
// redrawn in place on the terminal every --interval until Ctrl-C. It is
// the command's output, so it is drawn on stdout, which must be a
// terminal; errors still go to stderr.

// frameWriter shows one whole frame at a time (ui.Screen).
type frameWriter interface {
	Draw(frame string) error
	Close() error
}

// checkStatusFlags refuses combinations of omc status's flags that
// cannot work, saying what to use instead.
func checkStatusFlags(s *ui.Streams, g *globalOptions, o *statusOptions) error {
	if !o.Watch {
		return nil
	}
	switch {
	case o.HTML != "":
		return usageError("--watch and --html do not go together: --watch is a live view on a terminal; write the page with omc status --html FILE (from a timer)")
	case g.json():
		return usageError("--watch is a live view for a terminal, not for scripts: run omc status -o json for one object per run (exit 5 when a node is unhealthy)")
	case !s.OutTTY || s.CI:
		return usageError("--watch needs a terminal on stdout: from scripts and monitoring run omc status (exit 5 when a node is unhealthy) or omc status -o json; for a page, omc status --html FILE")
	case o.Interval < time.Second:
		return usageError("--interval %s is too short: at least 1s", o.Interval)
	}
	return nil
}

// watchSnapshot is everything one frame shows: renderWatch draws it and
// nothing else.
type watchSnapshot struct {
	Fleet    string
	At       time.Time
	Interval time.Duration
	Status   *fleet.StatusResult
	// UsersPerNode is each group's capacity model (pool.Capacity).
	UsersPerNode map[string]int
	// Warning is shown under the totals (the incident log could not be written).
	Warning string
}

func runStatusWatch(ctx context.Context, s *ui.Streams, f *factory, inv *inventory.Inventory, opts fleet.StatusOptions, o *statusOptions) error {
	w, err := fleet.NewStatusWatch(ctx, inv, opts)
	if err != nil {
		return err
	}
	defer w.Close()
	red := opts.Redactor
	scr := f.Screen(s)
	defer scr.Close()
	ticks, stop := f.Ticker(o.Interval)
	defer stop()
	st := ui.NewStyles(s.Out, s.OutColor)
	per := usersPerNode(inv)
	refresh := func(ctx context.Context) watchSnapshot {
		sn := watchSnapshot{Fleet: inv.Name, Interval: o.Interval, UsersPerNode: per}
		sn.Status = w.Look(ctx)
		sn.At = sn.Status.At
		if err := sn.Status.IncidentErr; err != nil {
			sn.Warning = "incident log: " + err.Error()
		}
		return sn
	}
	return watchLoop(ctx, refresh, func(sn watchSnapshot) string { return red.String(renderWatch(sn, st)) }, scr, ticks)
}

// watchLoop draws a fresh snapshot now and after every tick until ctx
// ends; a refresh cut short by ctx is not drawn. Stopping is how a watch
// ends, so it is no error.
func watchLoop(ctx context.Context, refresh func(context.Context) watchSnapshot, render func(watchSnapshot) string, scr frameWriter, ticks <-chan time.Time) error {
	for {
		sn := refresh(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err := scr.Draw(render(sn)); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		}
	}
}

// usersPerNode is each pool's capacity model's users per node.
func usersPerNode(inv *inventory.Inventory) map[string]int {
	out := map[string]int{}
	for _, g := range inv.Groups {
		if g.Pool != nil {
			out[g.Name], _, _, _ = g.Pool.Capacity.Model()
		}
	}
	return out
}
