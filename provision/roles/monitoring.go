package roles

import (
	"fmt"
	"net/netip"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/templates"
)

// MonitoringSettings is settings.monitoring: Prometheus's node exporter,
// listening only on Listen and reachable only from Sources.
type MonitoringSettings struct {
	// Listen is the address the exporter binds ("" = the node's
	// private_ip, else its address).
	Listen netip.Addr
	// Sources are the ranges (the Prometheus servers) the firewall lets
	// reach the exporter; none keeps it closed.
	Sources []netip.Prefix
}

// NodeExporterPort is the node exporter's port (Prometheus's registry).
const NodeExporterPort = 9100

// roleMonitoring marks the port-table entries of the monitoring role,
// whose ports open only to settings.monitoring.sources. It is not an
// inventory role: settings.monitoring turns it on.
const roleMonitoring = "monitoring"

const nodeExporterUnit = "prometheus-node-exporter"

// readMonitoring reads settings.monitoring (nil when it is not set).
func readMonitoring(r *settingsReader) *MonitoringSettings {
	mr := r.sub("monitoring", "listen", "sources")
	if mr == nil {
		return nil
	}
	m := &MonitoringSettings{}
	if l := mr.str("listen", "", nil); l != "" {
		a, err := netip.ParseAddr(l)
		if err != nil {
			mr.fail("listen", "%q is not an IP address", l)
		}
		m.Listen = a
	}
	for i, c := range mr.list("sources", nil) {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			if a, aerr := netip.ParseAddr(c); aerr == nil {
				p, err = a.Prefix(a.BitLen())
			}
		}
		if err != nil {
			mr.fail(fmt.Sprintf("sources[%d]", i), "%q is not an address range (CIDR)", c)
			continue
		}
		m.Sources = append(m.Sources, p.Masked())
	}
	return m
}

// exporterAddr is where node n's exporter listens, or an error.
func exporterAddr(n *inventory.Node, s *Settings) (netip.Addr, error) {
	if s.Monitoring.Listen.IsValid() {
		return s.Monitoring.Listen, nil
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
	s, err := ParseSettings(n)
	if err != nil || s.Monitoring == nil {
		return "", false, err
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
		b.fail(fmt.Errorf("node %s: settings.monitoring: %w", b.n.Name, err))
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
