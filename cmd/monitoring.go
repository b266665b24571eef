package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/internal/atomicfile"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/provision/roles"
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
type sdTargetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

func runMonitoringTargets(ctx context.Context, s *ui.Streams, g *globalOptions, o *monitoringTargetsOptions) error {
	inv, nodes, err := selectNodes(s, g, o.Targets, nil)
	if err != nil {
		return err
	}
	groups, skipped, err := monitoringTargets(ctx, s, inv, nodes)
	if err != nil {
		return err
	}
	for _, name := range skipped {
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

// monitoringTargets builds the file_sd entries of nodes, in inventory
// order, asking providers for the addresses the inventory lacks.
func monitoringTargets(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, nodes []*inventory.Node) ([]sdTargetGroup, []string, error) {
	var monitored, unknown []*inventory.Node
	for _, n := range nodes {
		st := &n.Settings
		if st.Monitoring == nil || len(n.Roles) == 0 {
			continue // a node without roles gets no role steps, so no exporter
		}
		monitored = append(monitored, n)
		if !st.Monitoring.Listen.IsValid() && st.PrivateIP == "" && n.Address == "" {
			unknown = append(unknown, n)
		}
	}
	if len(monitored) == 0 {
		return nil, nil, &exitError{Code: ExitError, Err: fmt.Errorf("none of the selected nodes with roles has monitoring settings (settings.monitoring; see omc help settings)")}
	}
	addr := map[string]string{}
	if len(unknown) > 0 {
		machines, _, err := machinesFor(ctx, s, inv, unknown, provision.Plan)
		if err != nil {
			return nil, nil, err
		}
		for name, m := range machines {
			addr[name] = m.Address
		}
	}
	out := []sdTargetGroup{}
	var skipped []string
	for _, n := range monitored {
		if a, ok := addr[n.Name]; ok && n.Address == "" {
			c := *n
			c.Address = a
			n = &c
		}
		if n.Address == "" && len(unknown) > 0 && slices.Contains(monitoringNodeNames(unknown), n.Name) {
			return nil, nil, fmt.Errorf("node %s has no machine yet (provider %s), so its exporter has no address: run omc up first", n.Name, n.Provider)
		}
		target, ok, err := roles.MonitoringTarget(n)
		if err != nil {
			return nil, nil, &exitError{Code: ExitInventory, Err: fmt.Errorf("%s:%d:%d: %w", inv.Path, n.Pos.Line, n.Pos.Col, err)}
		}
		if !ok {
			skipped = append(skipped, n.Name)
			continue
		}
		role := strings.Join(n.Roles, ",")
		out = append(out, sdTargetGroup{Targets: []string{target}, Labels: map[string]string{
			"fleet": inv.Name, "group": n.Group, "node": n.Name, "role": role, "provider": monitoringProvider(n),
		}})
	}
	return out, skipped, nil
}

func monitoringProvider(n *inventory.Node) string {
	if n.Provider == "" {
		return "static"
	}
	return n.Provider
}

func monitoringNodeNames(ns []*inventory.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
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
