package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision/roles"
)

// TargetGroup is one entry of a Prometheus file_sd file.
type TargetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// MonitoringOptions are omc monitoring targets'. Machines finds the
// machines of nodes whose address only their provider knows.
type MonitoringOptions struct {
	Machines func(ctx context.Context, nodes []*inventory.Node) (map[string]providers.Machine, error)
}

// MonitoringResult is the file_sd entries, in inventory order, and the
// nodes left out because their exporter listens on a loopback address.
type MonitoringResult struct {
	Groups  []TargetGroup
	Skipped []string
}

// MonitoringTargets builds the file_sd entries of nodes' exporters,
// asking the providers for the addresses the inventory lacks.
func MonitoringTargets(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, o MonitoringOptions) (*MonitoringResult, error) {
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
		return nil, errors.New("none of the selected nodes with roles has monitoring settings (settings.monitoring; see omc help settings)")
	}
	addr := map[string]string{}
	if len(unknown) > 0 {
		machines, err := o.Machines(ctx, unknown)
		if err != nil {
			return nil, err
		}
		for name, m := range machines {
			addr[name] = m.Address
		}
	}
	out := &MonitoringResult{Groups: []TargetGroup{}}
	for _, n := range monitored {
		if a, ok := addr[n.Name]; ok && n.Address == "" {
			c := *n
			c.Address = a
			n = &c
		}
		if n.Address == "" && slices.ContainsFunc(unknown, func(u *inventory.Node) bool { return u.Name == n.Name }) {
			return nil, fmt.Errorf("node %s has no machine yet (provider %s), so its exporter has no address: run omc up first", n.Name, n.Provider)
		}
		target, ok, err := roles.MonitoringTarget(n)
		if err != nil {
			return nil, &InventoryError{Err: fmt.Errorf("%s:%d:%d: %w", inv.Path, n.Pos.Line, n.Pos.Col, err)}
		}
		if !ok {
			out.Skipped = append(out.Skipped, n.Name)
			continue
		}
		provider := n.Provider
		if provider == "" {
			provider = "static"
		}
		out.Groups = append(out.Groups, TargetGroup{Targets: []string{target}, Labels: map[string]string{
			"fleet": inv.Name, "group": n.Group, "node": n.Name, "role": strings.Join(n.Roles, ","), "provider": provider,
		}})
	}
	return out, nil
}
