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
