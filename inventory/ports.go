package inventory

import (
	"slices"
	"strconv"
)

// The roles a node may have (roles:). They live in the node model, not
// in provision/roles, because providers read them too (a cloud firewall
// opens what a node's roles need) and providers import nothing of
// provision.
const (
	RoleBBB       = "bbb"
	RoleTURN      = "turn"
	RoleScalelite = "scalelite"
	// RoleMonitoring is not an inventory role: settings.monitoring turns
	// it on, and its ports open only to settings.monitoring.sources.
	RoleMonitoring = "monitoring"
)

// NodeExporterPort is the node exporter's port (Prometheus's registry).
const NodeExporterPort = 9100

// Port is one inbound port range a role needs open. The same table feeds
// the host firewall (nftables) and provider cloud firewalls, so the two
// can never disagree.
type Port struct {
	Proto    string // "tcp" or "udp"
	From, To int    // To == From for a single port
	// Admin ports are open only to settings.admin_cidrs (anywhere when
	// that is unset).
	Admin bool
	// Monitor ports are open only to settings.monitoring.sources (closed
	// when that is unset).
	Monitor bool
	Purpose string
}

// Range is "443" or "16384-32768".
func (p Port) Range() string {
	if p.To == p.From {
		return strconv.Itoa(p.From)
	}
	return strconv.Itoa(p.From) + "-" + strconv.Itoa(p.To)
}

// portTable: facts/bbb-deployments.md §5 (BBB docs, bbb-install, coturn docs).
var portTable = []struct {
	role  string // "" = every node; "web" = any node that serves TLS
	ports []Port
}{
	{"", []Port{{Proto: "tcp", From: 22, To: 22, Admin: true, Purpose: "ssh"}}},
	{"web", []Port{
		{Proto: "tcp", From: 80, To: 80, Purpose: "http (ACME challenges, redirect)"},
		{Proto: "tcp", From: 443, To: 443, Purpose: "https"},
	}},
	{RoleBBB, []Port{{Proto: "udp", From: 16384, To: 32768, Purpose: "bbb media (FreeSWITCH, mediasoup)"}}},
	{RoleTURN, []Port{
		{Proto: "tcp", From: 3478, To: 3478, Purpose: "turn"},
		{Proto: "udp", From: 3478, To: 3478, Purpose: "turn"},
		{Proto: "udp", From: 443, To: 443, Purpose: "turn over dtls"},
		{Proto: "udp", From: 32769, To: 65535, Purpose: "turn relay"},
	}},
	{RoleMonitoring, []Port{{Proto: "tcp", From: NodeExporterPort, To: NodeExporterPort, Monitor: true, Purpose: "prometheus node exporter"}}},
}

// Ports returns the inbound ports for a node with these roles: SSH for
// every node, 80 and 443/tcp for bbb, turn and scalelite nodes, then each
// role's own; nothing else. Pass NodeRoles, not Node.Roles, so that a BBB
// node that hosts its group's TURN server gets the TURN ports too.
func Ports(roles []string) []Port {
	var out []Port
	add := func(ps []Port) {
		for _, p := range ps {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	web := slices.ContainsFunc(roles, func(r string) bool { return r == RoleBBB || r == RoleTURN || r == RoleScalelite })
	for _, e := range portTable {
		if e.role == "" || (e.role == "web" && web) || slices.Contains(roles, e.role) {
			add(e.ports)
		}
	}
	return out
}

// NodeRoles is n's roles plus "turn" for a BBB node whose group has no
// TURN node: it then runs coturn itself, as bbb-install does.
func NodeRoles(n *Node, fleet []*Node) []string {
	roles := slices.Clone(n.Roles)
	if slices.Contains(n.Roles, RoleBBB) && !slices.Contains(n.Roles, RoleTURN) && !groupHas(n, fleet, RoleTURN) {
		roles = append(roles, RoleTURN)
	}
	return roles
}

// groupHas reports whether a node of n's group has role.
func groupHas(n *Node, fleet []*Node, role string) bool {
	for _, m := range fleet {
		if m.Group == n.Group && slices.Contains(m.Roles, role) {
			return true
		}
	}
	return false
}
