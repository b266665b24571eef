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
				return g.jsonOut(s).Write(versionV1{V: 1, Type: "version", Version: version, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH})
			}
			fmt.Fprintf(s.Out, "omc %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// versionV1 is `omc version -o json`: the fields it always had, plus the
// contract's v and type.
type versionV1 struct {
	V       int    `json:"v"`
	Type    string `json:"type"` // "version"
	Version string `json:"version"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}
