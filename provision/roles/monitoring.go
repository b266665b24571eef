package roles

import (
	"fmt"
	"net/netip"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/templates"
)

// NodeExporterPort is the node exporter's port (Prometheus's registry).
const NodeExporterPort = inventory.NodeExporterPort

// roleMonitoring marks the port-table entries of the monitoring role,
// whose ports open only to settings.monitoring.sources. It is not an
// inventory role: settings.monitoring turns it on.
const roleMonitoring = inventory.RoleMonitoring

const nodeExporterUnit = "prometheus-node-exporter"

// exporterAddr is where node n's exporter listens, or an error.
func exporterAddr(n *inventory.Node, s *inventory.Settings) (netip.Addr, error) {
	if s.Monitoring.Listen.IsValid() {
		return s.Monitoring.Listen.Addr, nil
	}
	listen, _, err := addrs(n, s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w (or set settings.monitoring.listen)", err)
	}
	return netip.ParseAddr(listen)
}

// MonitoringTarget returns host:port that Prometheus scrapes node n's
// exporter at, and false when n has no monitoring settings or its
// exporter listens on a loopback address (nothing remote can scrape it).
func MonitoringTarget(n *inventory.Node) (string, bool, error) {
	s := settingsOf(n)
	if s.Monitoring == nil {
		return "", false, nil
	}
	a, err := exporterAddr(n, s)
	if err != nil {
		return "", false, fmt.Errorf("node %s: %w", n.Name, err)
	}
	if a.IsLoopback() {
		return "", false, nil
	}
	return netip.AddrPortFrom(a, NodeExporterPort).String(), true, nil
}

// monitoring: Debian's prometheus-node-exporter, bound to one address
// by a drop-in written before the package is installed, so it never
// listens anywhere else, not even once. No BBB exporter is packaged for
// Debian or Ubuntu, so none is installed.
func (b *builder) monitoring() {
	if b.s.Monitoring == nil {
		return
	}
	a, err := exporterAddr(b.n, b.s)
	if err != nil {
		b.fail(atSetting("monitoring", "node %s: settings.monitoring: %w", b.n.Name, err))
		return
	}
	listen := netip.AddrPortFrom(a, NodeExporterPort).String()
	b.addFile("/etc/systemd/system/"+nodeExporterUnit+".service.d/50-omc.conf", templates.NodeExporterOverride,
		templates.NodeExporter{Node: b.n.Name, Listen: listen}, 0o644, "root", "root", nodeExporterUnit)
	b.add(&provision.PackagesStep{Names: []string{nodeExporterUnit}},
		daemonReload(nodeExporterUnit+".service"),
		&provision.ServiceStep{Name: nodeExporterUnit, Enabled: true, Running: true})
}

// limitedRule opens p only to the monitoring sources (nil when there are none).
func (b *builder) limitedRule(p Port) *templates.LimitedRule {
	if b.s.Monitoring == nil || len(b.s.Monitoring.Sources) == 0 {
		return nil
	}
	r := &templates.LimitedRule{Proto: p.Proto, Ports: p.Range(), Comment: p.Purpose}
	for _, s := range b.s.Monitoring.Sources {
		if s.Addr().Is4() {
			r.V4 = append(r.V4, s.String())
		} else {
			r.V6 = append(r.V6, s.String())
		}
	}
	return r
}
