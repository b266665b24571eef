// Package cmd wires omc's command line: one file per command, each with an
// options struct and a plain run function, writing only through the
// injected streams.
package cmd

import (
	"context"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/internal/ui"
)

// version is stamped at build time (-ldflags "-X github.com/omc-coop/omc/cmd.version=v1.2.3");
// unstamped, it is the module version `go install …@v1.2.3` records.
var version = versionOf("dev", debug.ReadBuildInfo)

// versionOf is stamped unless it is "dev": then the main module's version
// from the build info ("(devel)" for a build from a clone stays "dev").
func versionOf(stamped string, info func() (*debug.BuildInfo, bool)) string {
	if stamped != "dev" {
		return stamped
	}
	if bi, ok := info(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return stamped
}

// globalOptions are the flags every command shares, and the running
// command's context.
type globalOptions struct {
	Inventory string
	Output    string // "text" or "json"
	ctx       context.Context
	out       *ui.JSONLines // the -o json writer (jsonOut)
	// f is the run's one seam to the world (factory.go).
	f *factory
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
func Main(s *ui.Streams, args []string) int { return mainWith(s, args, nil) }

// mainWith is Main with the factory's dependencies set by with: the
// one entry point of tests that run commands.
func mainWith(s *ui.Streams, args []string, with func(*factory)) int {
	// The first signal cancels the run, which then stops cleanly; a
	// second one ends omc at once.
	ctx, stop := signalContext()
	defer stop()
	root, g := newRootOpts(s)
	g.f = newFactory()
	if with != nil {
		with(g.f)
	}
	root.SetArgs(args)
	return report(ctx, s, g, args, root.ExecuteContext(ctx))
}

func newRoot(s *ui.Streams) *cobra.Command {
	root, _ := newRootOpts(s)
	return root
}

// newRootOpts is the command tree and the global options it fills in.
func newRootOpts(s *ui.Streams) (*cobra.Command, *globalOptions) {
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
	pf.BoolVar(&s.Debug, "debug", os.Getenv("OMC_DEBUG") == "1", "also write the run's debug log (secrets masked) to stderr (default: $OMC_DEBUG=1)")
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		g.ctx = c.Context()
		if g.Output != "text" && g.Output != "json" && (g.Output != "csv" || c.Annotations[csvOK] == "") {
			return usageError("--output must be text or json (or csv for omc usage report), not %q", g.Output)
		}
		return nil
	}

	root.AddCommand(
		newValidateCmd(s, g),
		newSchemaCmd(s, g),
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
		newCompletionCmd(s, g),
		newSettingsTopic(s, g),
	)
	root.AddCommand(&cobra.Command{
		Use:     "output",
		Short:   "The -o json contract every command follows",
		Long:    jsonOutputHelp,
		Example: `  omc help output`,
		Args:    noArgs,
		RunE:    func(c *cobra.Command, _ []string) error { return writeTopic(s, g, "output", jsonOutputHelp) },
	})
	root.AddCommand(&cobra.Command{
		Use:   "exit-codes",
		Short: "What omc's exit codes mean",
		Long:  exitCodesHelp,
		Example: `  omc help exit-codes
  omc plan; [ $? -eq 2 ] && echo "changes pending"`,
		RunE: func(c *cobra.Command, _ []string) error { return writeTopic(s, g, "exit-codes", exitCodesHelp) },
	})
	needSubcommand(root)
	addCompletions(root, g)
	// "omc help exit-codes" shows the topic without running anything.
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command or topic (exit-codes, output, settings)",
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 && args[0] == "exit-codes" {
				return writeTopic(s, g, "exit-codes", exitCodesHelp)
			}
			target, _, err := root.Find(args)
			if err != nil || target == nil {
				return usageError("unknown help topic %q", args)
			}
			return target.Help()
		},
	})
	jsonHelp(root, s, g)
	return root, g
}
