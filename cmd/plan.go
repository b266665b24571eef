package cmd

import (
	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/provision"
)

func newPlanCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &convergeOptions{}
	c := &cobra.Command{
		Use:   "plan [GROUP|NODE...]",
		Short: "Show every change up would make, changing nothing",
		Long: `Check each selected host in one round trip and show, per host, every change
"omc up" would make: unified diffs for files (secrets masked; a diff
shows at most 200 lines, a file over 4 MiB only its size), packages,
services, handlers. Nothing is changed on any host.

Exit codes: 0 nothing would change, 2 changes are pending (use it in CI to
detect drift), 1 a host could not be checked, 3 invalid inventory.`,
		Example: `  omc plan
  omc plan eu-1 --limit 'bbb-eu-1-*'
  omc plan -o json | jq 'select(.type == "step")'`,
		RunE: func(c *cobra.Command, args []string) error {
			o.Targets = args
			return converge(c.Context(), s, g, o, provision.Plan)
		},
	}
	o.addFlags(c)
	return c
}
