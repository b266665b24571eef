package cmd

import (
	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/providers/robot"
	"github.com/omc-coop/omc/provision"
)

func newUpCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &convergeOptions{}
	var allowOrder bool
	c := &cobra.Command{
		Use:   "up [GROUP|NODE...]",
		Short: "Create missing machines and converge hosts to the inventory",
		Long: `Bring the selected groups or nodes to the state the inventory describes:
machines a provider must make are created, then each host is converged,
changing only what differs. Hosts run in parallel, each at its own pace;
a failure stops only that host. A second run on a converged host reports
0 changed and writes nothing.`,
		Example: `  omc up eu-1
  omc up dev --limit 'dev-[12]'
  CI=true omc up dev -o json
  omc up metal --allow-order   # may order Hetzner dedicated servers`,
		RunE: func(c *cobra.Command, args []string) error {
			o.Targets = args
			ctx := c.Context()
			if allowOrder {
				ctx = robot.AllowOrders(ctx)
			}
			return converge(ctx, s, g, o, provision.Apply)
		},
	}
	o.addFlags(c)
	c.Flags().BoolVarP(&o.Yes, "yes", "y", false, "with --force: do not ask for confirmation")
	c.Flags().BoolVar(&allowOrder, "allow-order", false, "let robot groups order the dedicated servers they lack (costs money; the price is shown first)")
	return c
}
