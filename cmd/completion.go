package cmd

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision/roles"
)

// newCompletionCmd replaces cobra's default completion command, whose
// help has no examples and whose Short lines do not follow omc's style.
func newCompletionCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script for bash, zsh, fish or PowerShell",
		Long: `Prints a script that makes the shell complete omc's commands and flags,
and the group, node and tenant names of the inventory (-i, $OMC_INVENTORY,
else ./omc.yaml, read without printing anything when it is missing or
invalid; tenants come from the pools' tenant_secrets directories, never
from Scalelite), the -o formats and the BBB lines omc knows.

The .deb and .rpm packages install these scripts already.`,
		Example: `  source <(omc completion bash)
  omc completion bash | sudo tee /etc/bash_completion.d/omc >/dev/null
  omc completion zsh > "${fpath[1]}/_omc"
  omc completion fish > ~/.config/fish/completions/omc.fish`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if !g.json() {
				return writeCompletion(c.Root(), s.Out, args[0])
			}
			var b strings.Builder
			if err := writeCompletion(c.Root(), &b, args[0]); err != nil {
				return err
			}
			return g.jsonOut(s).Write(completionV1{V: 1, Type: "completion", Shell: args[0], Script: b.String()})
		},
	}
	return c
}

// addCompletions gives every command completion of its arguments and
// flags. What a command's arguments are comes from its Use line (GROUP,
// NODE, GROUP|NODE, a trailing ... for several), so a new command gets
// them without a list to keep up to date here.
func addCompletions(root *cobra.Command, g *globalOptions) {
	_ = root.RegisterFlagCompletionFunc("output", prefixed(func(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		out := []string{"text\thuman-readable", "json\tfor scripts (versioned)"}
		if c.Annotations[csvOK] != "" {
			out = append(out, "csv\tspreadsheet")
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}))
	_ = root.RegisterFlagCompletionFunc("inventory", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	})
	walk(root, func(c *cobra.Command) {
		if c.ValidArgsFunction == nil && c.ValidArgs == nil {
			c.ValidArgsFunction = prefixed(argsCompleter(c, g))
		}
		flag := func(name string, f cobra.CompletionFunc) {
			if c.Flags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, prefixed(f))
			}
		}
		lines := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return bbbLines(), cobra.ShellCompDirectiveNoFileComp
		}
		switch c.CommandPath() {
		case "omc upgrade":
			flag("to", lines)
		case "omc install":
			flag("version", lines)
			flag("ignore-checks", cobra.FixedCompletions(installChecks, cobra.ShellCompDirectiveNoFileComp))
		case "omc tenant":
			flag("pool", func(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
				return completeNames(g, poolGroupNames), cobra.ShellCompDirectiveNoFileComp
			})
		case "omc usage report":
			flag("tenant", func(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
				return completeNames(g, tenantNames("")), cobra.ShellCompDirectiveNoFileComp
			})
		}
		flag("month", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return recentMonths(time.Now()), cobra.ShellCompDirectiveNoFileComp
		})
		if c.CommandPath() == "omc invoice" {
			_ = c.MarkFlagDirname("out")
		}
		flag("limit", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return completeNames(g, nodeNames), cobra.ShellCompDirectiveNoFileComp
		})
	})
}

// prefixed keeps the completions that start with what is typed: cobra
// leaves that to the function, and a short list is easier to read in
// omc __complete's output too.
func prefixed(f cobra.CompletionFunc) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		all, d := f(c, args, toComplete)
		if d&cobra.ShellCompDirectiveFilterFileExt != 0 {
			return all, d
		}
		var out []string
		for _, s := range all {
			if strings.HasPrefix(s, toComplete) {
				out = append(out, s)
			}
		}
		return out, d
	}
}

func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		walk(sub, f)
	}
}

// argsCompleter completes what c's Use line names.
func argsCompleter(c *cobra.Command, g *globalOptions) cobra.CompletionFunc {
	if c.CommandPath() == "omc tenant" {
		return func(c *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			switch {
			case len(args) == 0:
				return []string{"add\tmake a tenant and its secret", "list\tthe tenants, without secrets",
					"rotate\ta new secret", "disable\tno secret works any more"}, cobra.ShellCompDirectiveNoFileComp
			case len(args) == 1 && (args[0] == "rotate" || args[0] == "disable"):
				pool, _ := c.Flags().GetString("pool")
				return completeNames(g, tenantNames(pool)), cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
	}
	fields := strings.Fields(c.Use)
	if len(fields) < 2 {
		return cobra.NoFileCompletions
	}
	arg := strings.Trim(fields[1], "[]")
	several := strings.HasSuffix(arg, "...")
	arg = strings.TrimSuffix(arg, "...")
	var names func(*inventory.Inventory) []string
	switch arg {
	case "GROUP|NODE":
		names = func(inv *inventory.Inventory) []string { return append(groupNames(inv), nodeNames(inv)...) }
	case "GROUP":
		names = groupNames
	case "NODE":
		names = nodeNames
	default:
		return cobra.NoFileCompletions
	}
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 && !several {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, n := range completeNames(g, names) {
			if !slices.Contains(args, strings.SplitN(n, "\t", 2)[0]) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeNames loads the inventory quietly: a completion must never
// print, wait or fail, so a missing, unreadable or invalid inventory, or
// one on standard input or in something other than a regular file (a
// named pipe would block), completes nothing.
func completeNames(g *globalOptions, names func(*inventory.Inventory) []string) []string {
	path := inventory.DefaultPath(g.Inventory)
	if path == "-" {
		return nil
	}
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	inv, err := inventory.Load(path)
	if err != nil || inv == nil {
		return nil
	}
	return names(inv)
}

func groupNames(inv *inventory.Inventory) []string {
	var out []string
	for _, gr := range inv.Groups {
		desc := "group, " + gr.Provider
		if gr.Pool != nil {
			desc += ", with a pool"
		}
		out = append(out, gr.Name+"\t"+desc)
	}
	return out
}

func poolGroupNames(inv *inventory.Inventory) []string {
	var out []string
	for _, gr := range inv.Groups {
		if gr.Pool != nil {
			out = append(out, gr.Name+"\tgroup with a pool")
		}
	}
	return out
}

func nodeNames(inv *inventory.Inventory) []string {
	var out []string
	for _, n := range inv.Nodes() {
		out = append(out, n.Name+"\tnode of "+n.Group)
	}
	return out
}

// tenantNames lists the tenants whose secrets the pools' tenant_secrets
// directories hold (NAME.secret), of one group's pool or of all. It does
// not ask Scalelite: that would mean SSH or HTTPS calls with secrets on
// every Tab press; a tenant added without a tenant_secrets directory is
// simply not offered.
func tenantNames(group string) func(*inventory.Inventory) []string {
	return func(inv *inventory.Inventory) []string {
		var out []string
		for _, gr := range inv.Groups {
			if gr.Pool == nil || (group != "" && gr.Name != group) {
				continue
			}
			dir := inv.TenantDir(gr.Pool)
			if dir == "" {
				continue
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range entries {
				name, ok := strings.CutSuffix(e.Name(), ".secret")
				if ok && e.Type().IsRegular() && reTenant.MatchString(name) {
					out = append(out, fmt.Sprintf("%s\ttenant of %s", name, gr.Name))
				}
			}
		}
		return out
	}
}

// recentMonths are the months an invoice or report is usually for: the
// last one first, then this one.
func recentMonths(now time.Time) []string {
	this := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.Local)
	return []string{this.AddDate(0, -1, 0).Format("2006-01") + "\tlast month", this.Format("2006-01") + "\tthis month, so far"}
}

// bbbLines are the BBB lines omc knows, newest first, with their OS.
func bbbLines() []string {
	var out []string
	for i := len(roles.Lines) - 1; i >= 0; i-- {
		l := roles.Lines[i]
		out = append(out, l.Version+"\tBBB "+l.Version+" on "+strings.Replace(l.OS, "ubuntu-", "Ubuntu ", 1))
	}
	return out
}

// writeCompletion writes shell's completion script for root to w.
func writeCompletion(root *cobra.Command, w io.Writer, shell string) error {
	switch shell {
	case "bash":
		return root.GenBashCompletionV2(w, true)
	case "zsh":
		return root.GenZshCompletion(w)
	case "fish":
		return root.GenFishCompletion(w, true)
	case "powershell":
		return root.GenPowerShellCompletionWithDesc(w)
	}
	return usageError("unknown shell %q: bash, zsh, fish or powershell", shell)
}

// completionV1 is `omc completion SHELL -o json`: the script as a string.
type completionV1 struct {
	V      int    `json:"v"`
	Type   string `json:"type"` // "completion"
	Shell  string `json:"shell"`
	Script string `json:"script"`
}
