// Package cmd wires omc's command line: one file per command, each with an
// options struct and a plain run function, writing only through the
// injected streams.
package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/internal/ui"
)

// version is stamped at build time (-ldflags "-X github.com/omc-coop/omc/cmd.version=v1.2.3").
var version = "dev"

// globalOptions are the flags every command shares, and the running
// command's context.
type globalOptions struct {
	Inventory string
	Output    string // "text" or "json"
	ctx       context.Context
}

func (g *globalOptions) json() bool { return g.Output == "json" }

// context is the running command's: cancelled by the first Ctrl-C or
// SIGTERM.
func (g *globalOptions) context() context.Context {
	if g.ctx == nil {
		return context.Background()
	}
	return g.ctx
}

// Main runs omc with args and returns the process exit code.
func Main(s *ui.Streams, args []string) int {
	// The first signal cancels the run, which then stops cleanly; a
	// second one ends omc at once.
	ctx, stop := signalContext()
	defer stop()
	root := newRoot(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if !(errors.As(err, &ee) && ee.Silent) {
		fmt.Fprintln(s.Err, "omc: "+err.Error())
	}
	code := exitCode(err)
	if code == ExitError && ctx.Err() != nil {
		code = ExitInterrupt
	}
	return code
}

func newRoot(s *ui.Streams) *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "omc",
		Short: "Build and run BigBlueButton hosting fleets",
		Long: `omc builds and runs BigBlueButton fleets from one YAML inventory: it rents or
claims servers, converges them over SSH with idempotent steps, and keeps
each Scalelite pool equal to the inventory.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       version,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v (see '%s --help')", err, c.CommandPath())
	})
	pf := root.PersistentFlags()
	pf.StringVarP(&g.Inventory, "inventory", "i", "", "inventory file, - for stdin (default: $OMC_INVENTORY, else ./omc.yaml)")
	pf.StringVarP(&g.Output, "output", "o", "text", "output format: text or json (csv: omc usage report)")
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		g.ctx = c.Context()
		if g.Output != "text" && g.Output != "json" && (g.Output != "csv" || c.Annotations[csvOK] == "") {
			return usageError("--output must be text or json (or csv for omc usage report), not %q", g.Output)
		}
		return nil
	}

	root.AddCommand(
		newValidateCmd(s, g),
		newSchemaCmd(s),
		newPlanCmd(s, g),
		newUpCmd(s, g),
		newDownCmd(s, g),
		newRebuildCmd(s, g),
		newInstallCmd(s, g),
		newKnownHostsCmd(s, g),
		newStatusCmd(s, g),
		newDrainCmd(s, g),
		newEnableCmd(s, g),
		newRemoveCmd(s, g),
		newUpgradeCmd(s, g),
		newScaleCmd(s, g),
		newPoolCmd(s, g),
		newTenantCmd(s, g),
		newUsageCmd(s, g),
		newInvoiceCmd(s, g),
		newBackupCmd(s, g),
		newRestoreCmd(s, g),
		newMonitoringCmd(s, g),
		newVersionCmd(s, g),
	)
	root.AddCommand(&cobra.Command{
		Use:   "exit-codes",
		Short: "What omc's exit codes mean",
		Long:  exitCodesHelp,
		Run:   func(c *cobra.Command, _ []string) { fmt.Fprint(s.Out, exitCodesHelp) },
	})
	// "omc help exit-codes" shows the topic without running anything.
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command or topic (exit-codes)",
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 && args[0] == "exit-codes" {
				fmt.Fprint(s.Out, exitCodesHelp)
				return nil
			}
			target, _, err := root.Find(args)
			if err != nil || target == nil {
				return usageError("unknown help topic %q", args)
			}
			return target.Help()
		},
	})
	return root
}

// noArgs rejects positional arguments with a usage error.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("%s takes no arguments, got %q", c.CommandPath(), args)
	}
	return nil
}
