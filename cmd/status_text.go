package cmd

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/provision/roles"
)

// writeStatus prints one aligned table per pool, then each unhealthy
// node's problems.
func writeStatus(w io.Writer, red *redact.Redactor, st *fleet.StatusResult) {
	for i, p := range st.Pools {
		if i > 0 {
			fmt.Fprintln(w)
		}
		healthy := 0
		for _, n := range p.Nodes {
			if n.Healthy {
				healthy++
			}
		}
		fmt.Fprintf(w, "pool %s (%s): %d nodes, %d healthy", p.Group, p.Scalelite, len(p.Nodes), healthy)
		if p.Unmanaged > 0 {
			fmt.Fprintf(w, ", %d other servers", p.Unmanaged)
		}
		fmt.Fprintln(w)
		if p.Error != "" {
			fmt.Fprintf(w, "  Scalelite: %s\n", strings.ReplaceAll(p.Error, "\n", "\n    "))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tPROVIDER\tADDRESS\tBBB\tPOOL\tONLINE\tMEETINGS\tUSERS\tLOAD\tTLS EXPIRY\tLAST CONVERGE\tHEALTH")
		for _, n := range p.Nodes {
			online := "offline"
			if n.Online {
				online = "online"
			}
			health := "ok"
			switch {
			case !n.Healthy:
				health = "UNHEALTHY"
			case n.Held != "":
				health = "drained"
			}
			state := n.PoolState
			fmt.Fprintln(tw, strings.Join([]string{n.Node, n.Provider, dash(n.Address), dash(n.BBBVersion), state, online,
				intOr(n.Meetings), intOr(n.Users), floatOr(n.Load), timeOr(n.TLSExpires, "2006-01-02"), timeOr(n.LastConverge, "2006-01-02 15:04Z"), health}, "\t"))
		}
		tw.Flush()
		for _, n := range p.Nodes {
			if n.Held != "" {
				fmt.Fprintf(w, "  %s: drained by an operator: %s\n", n.Node, red.String(n.Held))
			}
			for _, pr := range n.Problems {
				fmt.Fprintf(w, "  %s: %s\n", n.Node, pr)
			}
		}
		writeTransfers(w, p.Nodes)
	}
}

// writeSoloStatus prints the nodes in no pool as one table, then each
// unhealthy node's problems.
func writeSoloStatus(w io.Writer, nodes []fleet.NodeStatus) {
	healthy := 0
	for _, n := range nodes {
		if n.Healthy {
			healthy++
		}
	}
	fmt.Fprintf(w, "nodes in no pool: %d, %d healthy\n", len(nodes), healthy)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPROVIDER\tADDRESS\tBBB\tMEETINGS\tUSERS\tTLS EXPIRY\tLAST CONVERGE\tHEALTH")
	for _, n := range nodes {
		health := "ok"
		if !n.Healthy {
			health = "UNHEALTHY"
		}
		fmt.Fprintln(tw, strings.Join([]string{n.Node, n.Provider, dash(n.Address), dash(n.BBBVersion),
			intOr(n.Meetings), intOr(n.Users), timeOr(n.TLSExpires, "2006-01-02"), timeOr(n.LastConverge, "2006-01-02 15:04Z"), health}, "\t"))
	}
	tw.Flush()
	for _, n := range nodes {
		for _, pr := range n.Problems {
			fmt.Fprintf(w, "  %s: %s\n", n.Node, pr)
		}
	}
	writeTransfers(w, nodes)
}

// writeTransfers prints, for each node asked (--transfers), what waits
// to go to Scalelite.
func writeTransfers(w io.Writer, nodes []fleet.NodeStatus) {
	for _, n := range nodes {
		if t := n.Transfers; t != nil {
			fmt.Fprintf(w, "  %s: %s\n", n.Node, strings.ReplaceAll(transfersText(t), "\n", "\n    "))
		}
	}
}

// transfersText is "transfers waiting N, oldest AGE", marked when stuck.
func transfersText(t *fleet.TransferStatus) string {
	switch {
	case t.Error != "":
		return "transfers unknown: " + t.Error
	case t.Waiting == 0:
		return "transfers waiting 0"
	}
	s := fmt.Sprintf("transfers waiting %d, oldest %s", t.Waiting, ageText(t.Age()))
	if t.Stuck {
		s += ", STUCK (waiting over " + ageText(roles.TransferStuckAfter) + ")"
	}
	return s
}

// ageText is a duration in the largest units that matter: 40s, 45m,
// 2h10m, 3d4h.
func ageText(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func intOr(p *int) string {
	if p == nil {
		return "-"
	}
	return strconv.Itoa(*p)
}

func floatOr(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'f', -1, 64)
}

func timeOr(t *time.Time, layout string) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(layout)
}
