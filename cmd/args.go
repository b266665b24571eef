package cmd

import (
	"strings"

	"github.com/spf13/cobra"
)

// needSubcommand makes every group command (one with subcommands and no
// action of its own: backup, known-hosts, pool, …) refuse to run without
// a known subcommand, with exit 4 as documented, instead of printing its
// help and exiting 0. The root's own unknown commands are mapped in Main.
func needSubcommand(c *cobra.Command) {
	for _, sub := range c.Commands() {
		needSubcommand(sub)
	}
	if !c.HasSubCommands() || c.Run != nil || c.RunE != nil || !c.HasParent() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(c *cobra.Command, args []string) error {
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		if len(args) == 0 {
			return usageError("%s needs a subcommand: %s (see '%s --help')", c.CommandPath(), strings.Join(names, ", "), c.CommandPath())
		}
		return usageError("unknown command %q for %q: %s (see '%s --help')", args[0], c.CommandPath(), strings.Join(names, ", "), c.CommandPath())
	}
}

// noArgs rejects positional arguments with a usage error.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("%s takes no arguments, got %q", c.CommandPath(), args)
	}
	return nil
}
