package cmd

import (
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/inventory"
)

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
			return fleet.BBBLines(), cobra.ShellCompDirectiveNoFileComp
		}
		switch c.CommandPath() {
		case "omc upgrade":
			flag("to", lines)
		case "omc install":
			flag("version", lines)
			flag("ignore-checks", cobra.FixedCompletions(installChecks, cobra.ShellCompDirectiveNoFileComp))
		case "omc tenant":
			flag("pool", func(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
				return completeNames(g, fleet.PoolGroupNames), cobra.ShellCompDirectiveNoFileComp
			})
		case "omc usage report":
			flag("tenant", func(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
				return completeNames(g, fleet.TenantNames("")), cobra.ShellCompDirectiveNoFileComp
			})
		}
		flag("month", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return fleet.RecentMonths(time.Now()), cobra.ShellCompDirectiveNoFileComp
		})
		if c.CommandPath() == "omc invoice" {
			_ = c.MarkFlagDirname("out")
		}
		flag("limit", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return completeNames(g, fleet.NodeNames), cobra.ShellCompDirectiveNoFileComp
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
				return completeNames(g, fleet.TenantNames(pool)), cobra.ShellCompDirectiveNoFileComp
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
		names = func(inv *inventory.Inventory) []string { return append(fleet.GroupNames(inv), fleet.NodeNames(inv)...) }
	case "GROUP":
		names = fleet.GroupNames
	case "NODE":
		names = fleet.NodeNames
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

// completeNames is names of the inventory, loaded quietly
// (fleet.QuietInventory): nothing when there is none to read.
func completeNames(g *globalOptions, names func(*inventory.Inventory) []string) []string {
	inv := fleet.QuietInventory(g.Inventory)
	if inv == nil {
		return nil
	}
	return names(inv)
}
