package cmd

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/atomicfile"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
)

type monitoringTargetsOptions struct {
	Targets []string
	File    string
}

func newMonitoringCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "monitoring",
		Short: "Prometheus node exporters on the nodes (settings.monitoring)",
		Long: `Nodes whose settings have a monitoring block run Prometheus's node exporter
(omc up installs it, bound to one address, its port open only to the
monitoring sources; see omc help settings). No BBB exporter is
packaged for Debian or Ubuntu, so omc installs none.`,
		Args: noArgs,
	}
	c.AddCommand(newMonitoringTargetsCmd(s, g))
	return c
}

func newMonitoringTargetsCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &monitoringTargetsOptions{}
	c := &cobra.Command{
		Use:   "targets [GROUP|NODE...]",
		Short: "Write Prometheus file-based service discovery for the fleet's exporters",
		Long: `Print (or, with --file, write atomically) Prometheus file_sd JSON for the
node exporters of the selected nodes (all with monitoring settings
without arguments): one entry per node, its exporter's address and the
labels fleet, group, node, role (comma-separated) and provider. Point a
scrape job's file_sd_configs at the file; Prometheus re-reads it when it
changes, so run this after changing the inventory:

  scrape_configs:
    - job_name: omc-node
      file_sd_configs: [{files: [/etc/prometheus/omc-targets.json]}]

Addresses come from the inventory (settings.monitoring.listen, else
private_ip, else address); nodes whose machine a provider made are asked
of the provider. Exporters that listen on a loopback address are left out.`,
		Example: `  omc monitoring targets --file /etc/prometheus/omc-targets.json`,
		RunE: func(c *cobra.Command, args []string) error {
			o.Targets = args
			return runMonitoringTargets(c.Context(), s, g, o)
		},
	}
	c.Flags().StringVarP(&o.File, "file", "f", "", "write the JSON to this file, atomically (default: standard output)")
	return c
}

// sdTargetGroup is one entry of a Prometheus file_sd file.
type sdTargetGroup = fleet.TargetGroup

func runMonitoringTargets(ctx context.Context, s *ui.Streams, g *globalOptions, o *monitoringTargetsOptions) error {
	inv, nodes, err := selectNodes(s, g, o.Targets, nil)
	if err != nil {
		return err
	}
	res, err := fleet.MonitoringTargets(ctx, inv, nodes, fleet.MonitoringOptions{
		Machines: func(ctx context.Context, nodes []*inventory.Node) (map[string]providers.Machine, error) {
			m, _, err := machinesFor(ctx, s, g, inv, nodes, provision.Plan)
			return m, err
		}})
	if err != nil {
		return err
	}
	groups := res.Groups
	for _, name := range res.Skipped {
		fmt.Fprintf(s.Err, "%s: the exporter listens on a loopback address; left out\n", name)
	}
	b, err := json.MarshalIndent(groups, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if o.File == "" && g.json() {
		// The file_sd document itself, as one record.
		return g.jsonOut(s).Write(monitoringTargetsV1{V: 1, Type: "monitoring_targets", Targets: len(groups), Groups: groups})
	}
	if o.File == "" {
		_, err := s.Out.Write(b)
		return err
	}
	if err := atomicfile.Write(o.File, b, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", o.File, err)
	}
	if g.json() {
		return g.jsonOut(s).Write(monitoringTargetsV1{V: 1, Type: "monitoring_targets", File: o.File, Targets: len(groups)})
	} else {
		fmt.Fprintf(s.Err, "wrote %d targets to %s\n", len(groups), o.File)
	}
	return nil
}

// monitoringTargetsV1 is `omc monitoring targets -o json`: with --file,
// what was written where; without, the target groups themselves.
type monitoringTargetsV1 struct {
	V       int    `json:"v"`
	Type    string `json:"type"` // "monitoring_targets"
	File    string `json:"file,omitempty"`
	Targets int    `json:"targets"`
	Groups  any    `json:"groups,omitempty"`
}
