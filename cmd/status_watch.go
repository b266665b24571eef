package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"

	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
)

// omc status --watch: the pools as omc status sees them (collectStatus),
// redrawn in place on the terminal every --interval until Ctrl-C. It is
// the command's output, so it is drawn on stdout, which must be a
// terminal; errors still go to stderr.

// watchDeps are the clock, the ticker and the screen of --watch; the zero
// value is the real ones, tests replace them.
type watchDeps struct {
	clock  func() time.Time
	ticker func(d time.Duration) (<-chan time.Time, func())
	screen func(s *ui.Streams) frameWriter
}

// frameWriter shows one whole frame at a time (ui.Screen).
type frameWriter interface {
	Draw(frame string) error
	Close() error
}

func (d watchDeps) now() time.Time {
	if d.clock != nil {
		return d.clock()
	}
	return time.Now()
}

func (d watchDeps) tick(every time.Duration) (<-chan time.Time, func()) {
	if d.ticker != nil {
		return d.ticker(every)
	}
	t := time.NewTicker(every)
	return t.C, t.Stop
}

func (d watchDeps) newScreen(s *ui.Streams) frameWriter {
	if d.screen != nil {
		return d.screen(s)
	}
	return ui.NewScreen(s.Out, ui.TermSize(s.Out))
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
	Status   statusV1
	// UsersPerNode is each group's capacity model (pool.Capacity).
	UsersPerNode map[string]int
	// Warning is shown under the totals (the incident log could not be written).
	Warning string
}

func runStatusWatch(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, groups []*inventory.Group, o *statusOptions, red *redact.Redactor) error {
	scr := o.live.newScreen(s)
	defer scr.Close()
	ticks, stop := o.live.tick(o.Interval)
	defer stop()
	st := ui.NewStyles(s.Out, s.OutColor)
	per := usersPerNode(groups)
	kept := &keptPools{}
	defer kept.close()
	refresh := func(ctx context.Context) watchSnapshot {
		sn := watchSnapshot{Fleet: inv.Name, Interval: o.Interval, UsersPerNode: per}
		sn.Status = collectStatus(ctx, s, inv, groups, o.deps, red, kept)
		sn.At = o.live.now()
		if _, err := recordIncidents(inv, sn.Status, sn.At); err != nil {
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

// usersPerNode is each group's capacity model's users per node.
func usersPerNode(groups []*inventory.Group) map[string]int {
	out := map[string]int{}
	for _, g := range groups {
		out[g.Name], _, _, _ = g.Pool.Capacity.Model()
	}
	return out
}

// renderWatch draws one frame: a header, per pool a summary line, a table
// of its nodes and their problems, then the fleet's totals. It is a pure
// function of the snapshot and the styles (plain with NO_COLOR).
func renderWatch(sn watchSnapshot, st ui.Styles) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s  %s\n\n", st.Bold.Render("omc status"), sn.Fleet,
		st.Dim.Render(fmt.Sprintf("refreshed %s · every %s · Ctrl-C to stop", sn.At.UTC().Format("2006-01-02 15:04:05 UTC"), sn.Interval)))
	var total regionSummary
	for _, p := range sn.Status.Pools {
		r := summarizeRegion(p, sn.UsersPerNode[p.Group])
		total.add(r)
		fmt.Fprintf(&b, "%s  %s  %s\n", st.Bold.Render(p.Group), stateStyle(st, r.State).Render(strings.ToUpper(r.State)), st.Dim.Render(p.Scalelite))
		b.WriteString("  " + r.line())
		if t := soonestTLS(p); t != nil {
			fmt.Fprintf(&b, " · TLS expires %s", tlsCell(st, t, sn.At))
		}
		if p.Unmanaged > 0 {
			fmt.Fprintf(&b, " · %d other servers", p.Unmanaged)
		}
		b.WriteString("\n")
		if p.Error != "" {
			fmt.Fprintf(&b, "  %s %s\n", st.Failed.Render("Scalelite:"), firstLineOf(p.Error))
		}
		if len(p.Nodes) > 0 {
			b.WriteString(nodeTable(p, st, sn.At) + "\n")
		}
		for _, n := range p.Nodes {
			if n.Held != "" {
				fmt.Fprintf(&b, "  %s: %s\n", n.Node, st.Dim.Render("drained by an operator: "+firstLineOf(n.Held)))
			}
			if len(n.Problems) > 0 {
				more := ""
				if len(n.Problems) > 1 {
					more = st.Dim.Render(fmt.Sprintf(" (+%d more: omc status %s)", len(n.Problems)-1, p.Group))
				}
				fmt.Fprintf(&b, "  %s: %s%s\n", n.Node, firstLineOf(n.Problems[0]), more)
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%s  %d pools · %s\n", st.Bold.Render("total"), len(sn.Status.Pools), total.line())
	if sn.Warning != "" {
		fmt.Fprintf(&b, "%s %s\n", st.Changed.Render("warning:"), sn.Warning)
	}
	return b.String()
}

func nodeTable(p statusPoolV1, st ui.Styles, at time.Time) string {
	rows := make([][]string, 0, len(p.Nodes))
	for _, n := range p.Nodes {
		online := "offline"
		if n.Online {
			online = "online"
		}
		rows = append(rows, []string{n.Node, n.PoolState, online, intOr(n.Meetings), intOr(n.Users), floatOr(n.Load), tlsText(n.TLSExpires, at), nodeHealth(n)})
	}
	t := table.New().Border(lipgloss.RoundedBorder()).BorderStyle(st.Dim).
		Headers("NODE", "POOL", "ONLINE", "MEETINGS", "USERS", "LOAD", "TLS EXPIRY", "HEALTH").Rows(rows...).
		StyleFunc(func(row, col int) lipgloss.Style {
			base := st.Bold
			if row >= 0 {
				n := p.Nodes[row]
				switch {
				case col == 2 && !n.Online, col == 7 && !n.Healthy:
					base = st.Failed
				case col == 1 && n.PoolState != "enabled", col == 7 && n.Held != "":
					base = st.Changed
				case col == 7:
					base = st.OK
				case col == 6:
					base = tlsStyle(st, n.TLSExpires, at)
				default:
					base = st.Dim.UnsetFaint()
				}
			}
			if col >= 3 && col <= 5 {
				base = base.Align(lipgloss.Right)
			}
			return base.Padding(0, 1)
		})
	return t.Render()
}

func nodeHealth(n statusNodeV1) string {
	switch {
	case !n.Healthy:
		return "UNHEALTHY"
	case n.Held != "":
		return "drained"
	}
	return "ok"
}

func stateStyle(st ui.Styles, state string) lipgloss.Style {
	switch state {
	case regionUp:
		return st.OK
	case regionDegraded:
		return st.Changed
	}
	return st.Failed
}

// tlsCell is an expiry date with the days left; coloured when near.
func tlsCell(st ui.Styles, t *time.Time, at time.Time) string {
	return tlsStyle(st, t, at).Render(tlsText(t, at))
}

func tlsText(t *time.Time, at time.Time) string {
	if t == nil {
		return "-"
	}
	days := int(t.Sub(at).Hours() / 24)
	return fmt.Sprintf("%s (%dd)", t.UTC().Format("2006-01-02"), days)
}

func tlsStyle(st ui.Styles, t *time.Time, at time.Time) lipgloss.Style {
	switch {
	case t == nil:
		return st.Dim
	case t.Sub(at) < 3*24*time.Hour:
		return st.Failed
	case t.Sub(at) < 14*24*time.Hour:
		return st.Changed
	}
	return st.Dim.UnsetFaint()
}

func soonestTLS(p statusPoolV1) *time.Time {
	var min *time.Time
	for _, n := range p.Nodes {
		if n.TLSExpires != nil && (min == nil || n.TLSExpires.Before(*min)) {
			min = n.TLSExpires
		}
	}
	return min
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
