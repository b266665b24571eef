package ui

import (
	"fmt"
	"io"
	"strings"

	"github.com/charmbracelet/lipgloss/table"

	"github.com/omc-coop/omc/internal/event"
)

// Summary is the last line of a run: counts of hosts, not steps.
type Summary struct {
	V          int    `json:"v"`
	Type       string `json:"type"` // "summary"
	Command    string `json:"command"`
	Hosts      int    `json:"hosts"`
	OK         int    `json:"ok"`
	Changed    int    `json:"changed"` // hosts with changes made (up) or pending (plan)
	Failed     int    `json:"failed"`
	Steps      int    `json:"steps_changed"`
	DurationMS int64  `json:"duration_ms"`
	Log        string `json:"log,omitempty"`
}

// Summarize counts results.
func Summarize(command string, rs []event.Result) Summary {
	s := Summary{V: event.Version, Type: "summary", Command: command, Hosts: len(rs)}
	for _, r := range rs {
		s.Steps += r.Changed
		switch {
		case r.Failed():
			s.Failed++
		case r.Changed > 0:
			s.Changed++
		default:
			s.OK++
		}
	}
	return s
}

// WriteTable prints one row per host and a closing count line. On a
// terminal it is a bordered table; otherwise tab-separated columns.
func WriteTable(w io.Writer, st Styles, tty bool, rs []event.Result, pending bool) {
	verb := "changed"
	if pending {
		verb = "pending"
	}
	rows := make([][]string, 0, len(rs))
	for _, r := range rs {
		status, detail := "ok", ""
		switch {
		case r.Failed():
			status, detail = "failed", firstLine(r.Err.Error())
		case r.Changed > 0:
			status, detail = verb, fmt.Sprintf("%d step(s)", r.Changed)
		}
		rows = append(rows, []string{r.Host, status, detail, r.Elapsed.Round(1e7).String()})
	}
	if tty {
		t := table.New().Headers("HOST", "STATUS", "DETAIL", "TIME").Rows(rows...).
			StyleFunc(func(row, col int) lipglossStyle {
				if row >= 0 && col == 1 {
					return statusStyle(st, rows[row][1]).Padding(0, 1)
				}
				return st.Dim.UnsetFaint().Padding(0, 1)
			})
		fmt.Fprintln(w, t.Render())
	} else {
		for _, r := range rows {
			fmt.Fprintln(w, strings.Join(r, "\t"))
		}
	}
}

// WritePlan prints what `up` would do, host by host in the given order,
// with file diffs. Hosts in sync say so in one line.
func WritePlan(w io.Writer, st Styles, hosts []string, c *Collector) {
	for _, h := range hosts {
		var lines []string
		status, summary := "", ""
		for _, e := range c.Host(h) {
			switch {
			case e.Type == "host" && (e.Status == "failed" || e.Status == "pending" || e.Status == "ok"):
				status, summary = e.Status, e.Summary
				if e.Status == "failed" {
					lines = append(lines, "  "+st.Failed.Render("error: ")+e.Error)
				}
			case (e.Type == "step" || e.Type == "handler") && e.Status == "pending":
				mark := "~"
				if strings.HasPrefix(e.Summary, "create") || strings.HasPrefix(e.Summary, "install") {
					mark = "+"
				}
				l := fmt.Sprintf("  %s %s", st.Changed.Render(mark), e.Step)
				if e.Summary != "" {
					l += ": " + e.Summary
				}
				if e.Type == "handler" {
					l += st.Dim.Render(" (handler)")
				}
				lines = append(lines, l)
				if e.Diff != "" {
					lines = append(lines, indentDiff(st, e.Diff))
				}
			}
		}
		switch status {
		case "ok":
			fmt.Fprintf(w, "%s: %s\n", st.Bold.Render(h), st.OK.Render("no changes"))
		case "pending":
			if n := countPending(c.Host(h)); n > 0 {
				summary = fmt.Sprintf("%d to change", n)
			}
			fmt.Fprintf(w, "%s: %s\n", st.Bold.Render(h), st.Pending.Render(summary))
		case "failed":
			fmt.Fprintf(w, "%s: %s\n", st.Bold.Render(h), st.Failed.Render("could not be checked"))
		}
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
}

func countPending(es []event.Event) int {
	n := 0
	for _, e := range es {
		if e.Type == "step" && e.Status == "pending" {
			n++
		}
	}
	return n
}

func indentDiff(st Styles, d string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(d, "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "+") && !strings.HasPrefix(l, "+++"):
			l = st.Add.Render(l)
		case strings.HasPrefix(l, "-") && !strings.HasPrefix(l, "---"):
			l = st.Del.Render(l)
		}
		b.WriteString("      " + l + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
