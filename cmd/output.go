package cmd

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/internal/event"
	"github.com/omc-coop/omc/internal/ui"
)

const jsonOutputHelp = `With -o json, every omc command writes JSON lines to stdout and
nothing else: one object per line, each with "v" (the version, 1) and
"type" (what the line is: host, step, summary, pool, status, validate,
down, version, help, ...). Fields are only ever added within a version.
Progress and warnings stay on stderr.

A command that fails ends stdout with an error line:

  {"v":1,"type":"error","message":"...","exit_code":3,
   "file":"omc.yaml","line":8,"col":9,"errors":[...]}

with file, line, col and errors (every FILE:LINE:COL) for an invalid
inventory, host and step where one host failed, and failed_hosts (each failed
host, its step and message) after a run; secrets are masked. Exit codes
2 (plan: changes pending), 5 (status: unhealthy) and 6 (backup status:
stale) are answers, not failures: no error line follows the command's
own record. See omc help exit-codes.
`

// jsonOut is the run's one -o json writer (ui.JSONLines): every command
// writes its records through it, and Main its error line.
func (g *globalOptions) jsonOut(s *ui.Streams) *ui.JSONLines {
	if g.out == nil {
		g.out = ui.NewJSONLines(s.Out)
	}
	return g.out
}

// wantsJSON reports whether args ask for -o json, for errors found
// before the flags were parsed (an unknown command or flag).
func wantsJSON(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "-ojson" || a == "--output=json" || a == "-o=json":
			return true
		case (a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}

// helpV1 is a help text (a command's help, or a topic) under -o json.
type helpV1 struct {
	V     int    `json:"v"`
	Type  string `json:"type"` // "help"
	Topic string `json:"topic"`
	Text  string `json:"text"`
}

// jsonHelp makes c's help, and the help of every command beneath it,
// one "help" record under -o json.
func jsonHelp(root *cobra.Command, s *ui.Streams, g *globalOptions) {
	def := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		if !g.json() {
			def(c, args)
			return
		}
		var b strings.Builder
		c.SetOut(&b)
		def(c, args)
		c.SetOut(s.Out)
		_ = g.jsonOut(s).Write(helpV1{V: event.Version, Type: "help", Topic: c.CommandPath(), Text: b.String()})
	})
}

// writeTopic prints a help topic's text, or under -o json a "help" record.
func writeTopic(s *ui.Streams, g *globalOptions, topic, text string) error {
	if g.json() {
		return g.jsonOut(s).Write(helpV1{V: event.Version, Type: "help", Topic: topic, Text: text})
	}
	_, err := io.WriteString(s.Out, text)
	return err
}

// dryRunV1 is one thing a --dry-run would do, under -o json: Action is
// "would-restore", "would-remove" or "would-upgrade"; Targets what it
// would act on (a batch of nodes, a backup target's paths).
type dryRunV1 struct {
	V       int      `json:"v"`
	Type    string   `json:"type"` // "dry-run"
	Action  string   `json:"action"`
	Node    string   `json:"node,omitempty"`
	Name    string   `json:"name,omitempty"`
	State   string   `json:"pool_state,omitempty"`
	Targets []string `json:"targets"`
}

// textV1 is text a command prints for people to copy (systemd units),
// as one record under -o json.
type textV1 struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	Text string `json:"text"`
}
