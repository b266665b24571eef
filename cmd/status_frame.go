package cmd

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
)

// renderWatch draws one frame: a header, per pool a summary line, a table
// of its nodes and their problems, then the fleet's totals. It is a pure
// function of the snapshot and the styles (plain with NO_COLOR).
func renderWatch(sn watchSnapshot, st ui.Styles) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s  %s\n\n", st.Bold.Render("omc status"), sn.Fleet,
		st.Dim.Render(fmt.Sprintf("refreshed %s · every %s · Ctrl-C to stop", sn.At.UTC().Format("2006-01-02 15:04:05 UTC"), sn.Interval)))
	var total fleet.RegionSummary
	for _, p := range sn.Status.Pools {
		r := fleet.SummarizeRegion(p, sn.UsersPerNode[p.Group])
		total.Add(r)
		fmt.Fprintf(&b, "%s  %s  %s\n", st.Bold.Render(p.Group), stateStyle(st, r.State).Render(strings.ToUpper(r.State)), st.Dim.Render(p.Scalelite))
		b.WriteString("  " + regionLine(r))
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
			if t := n.Transfers; t != nil && (t.Waiting > 0 || t.Error != "") {
				line := firstLineOf(transfersText(t))
				if t.Stuck || t.Error != "" {
					line = st.Changed.Render(line)
				}
				fmt.Fprintf(&b, "  %s: %s\n", n.Node, line)
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%s  %d pools · %s\n", st.Bold.Render("total"), len(sn.Status.Pools), regionLine(total))
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
	case fleet.RegionUp:
		return st.OK
	case fleet.RegionDegraded:
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

// regionLine is a region's summary in words.
func regionLine(r fleet.RegionSummary) string {
	parts := []string{fmt.Sprintf("%d nodes", r.Nodes), fmt.Sprintf("%d serving", r.Serving)}
	if r.Unhealthy > 0 {
		parts = append(parts, fmt.Sprintf("%d unhealthy", r.Unhealthy))
	}
	parts = append(parts, fmt.Sprintf("%d meetings", r.Meetings))
	if p := r.Percent(); p >= 0 {
		parts = append(parts, fmt.Sprintf("%d users of %d (%d%%)", r.Users, r.Capacity, p))
	} else {
		parts = append(parts, fmt.Sprintf("%d users, no capacity enabled", r.Users))
	}
	return strings.Join(parts, " · ")
}
