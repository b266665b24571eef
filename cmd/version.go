package cmd

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/internal/ui"
)

func newVersionCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print omc's version",
		Example: `  omc version`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if g.json() {
				ui.NewJSONLines(s.Out).Write(map[string]string{"version": version, "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH})
				return nil
			}
			fmt.Fprintf(s.Out, "omc %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
