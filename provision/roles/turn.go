package roles

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/templates"
)

// TURN relay ports (BBB's media uses 16384-32768 below them).
const (
	turnMinPort = 32769
	turnMaxPort = 65535
	turnTTL     = 86400
)

// deniedPeers: private and special-purpose ranges coturn must never relay
// into (coturn's own list in the BBB docs); the group's BBB nodes are
// allowed again by allowed-peer-ip, which wins.
var deniedPeers = []string{
	"0.0.0.0-0.255.255.255", "10.0.0.0-10.255.255.255", "100.64.0.0-100.127.255.255",
	"127.0.0.0-127.255.255.255", "169.254.0.0-169.254.255.255", "172.16.0.0-172.31.255.255",
	"192.0.0.0-192.0.0.255", "192.0.2.0-192.0.2.255", "192.88.99.0-192.88.99.255",
	"192.168.0.0-192.168.255.255", "198.18.0.0-198.19.255.255", "198.51.100.0-198.51.100.255",
	"203.0.113.0-203.0.113.255", "224.0.0.0-255.255.255.255",
	"::1", "64:ff9b::-64:ff9b::ffff:ffff", "::ffff:0.0.0.0-::ffff:255.255.255.255",
	"100::-100::ffff:ffff:ffff:ffff", "2001::-2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",
	"2002::-2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	"fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
}

// dedicatedTURN: a turn node serves TLS on 443 itself; a BBB node that
// hosts its group's TURN leaves 443/tcp to nginx and offers plain TURN.
func dedicatedTURN(n *inventory.Node) bool {
	return has(n, RoleTURN) && !has(n, RoleBBB) && n.Domain != ""
}

// addrs returns a node's own IPs: the address it is reached on and its
// private address behind NAT (settings.private_ip), and its public one.
func addrs(n *inventory.Node, s *inventory.Settings) (listen, public string, err error) {
	listen = s.PrivateIP
	if listen == "" {
		listen = n.Address
	}
	if _, perr := netip.ParseAddr(listen); perr != nil {
		return "", "", fmt.Errorf("node %s: needs an IP address (address is %q; set settings.private_ip and settings.public_ip)", n.Name, n.Address)
	}
	public = s.PublicIP
	if public == "" {
		public = n.Address
	}
	if _, perr := netip.ParseAddr(public); perr != nil {
		public = listen
	}
	return listen, public, nil
}

// turn: coturn with the node's derived shared secret, relaying only to
// its group's BBB nodes.
func (b *builder) turn() {
	n, s := b.n, b.s
	listen, public, err := addrs(n, s)
	if err != nil {
		b.fail(err)
		return
	}
	secret, err := b.sec.turn(n, s)
	if err != nil {
		b.fail(err)
		return
	}
	t := templates.Turn{Node: n.Name, Realm: n.Domain, Secret: secret, ListenIPs: []string{listen}, RelayIPs: []string{listen},
		MinPort: turnMinPort, MaxPort: turnMaxPort, DeniedPeers: deniedPeers}
	if t.Realm == "" {
		t.Realm = n.Name
	}
	if public != listen {
		t.ExternalIP = public + "/" + listen
	}
	if dedicatedTURN(n) {
		t.TLS, t.TLSPort, t.Cert, t.Key = true, 443, "/etc/turnserver/fullchain.pem", "/etc/turnserver/privkey.pem"
	}
	for _, m := range b.relayFor() {
		ms := settingsOf(m)
		ml, mp, err := addrs(m, ms)
		if err != nil {
			b.fail(fmt.Errorf("turn on %s relays for it: %w", n.Name, err))
			continue
		}
		t.AllowedPeers = appendNew(t.AllowedPeers, ml, mp)
	}
	b.add(&provision.PackagesStep{Names: []string{"coturn"}})
	b.restoredOwners("coturn", false)
	b.addFile("/etc/systemd/system/coturn.service.d/50-omc.conf", templates.CoturnUnit, nil, 0o644, "root", "root", "coturn")
	b.add(daemonReload("coturn.service"))
	// Older packages start coturn only with this set; harmless elsewhere.
	b.add(&provision.LineStep{Path: "/etc/default/coturn", Line: "TURNSERVER_ENABLED=1", Match: regexp.MustCompile(`^#?\s*TURNSERVER_ENABLED=`)})
	b.addFile("/etc/turnserver.conf", templates.Turnserver, t, 0o640, "root", "turnserver", "coturn")
	if t.TLS {
		b.add(&provision.CommandStep{
			Label:  "coturn certificate",
			Run:    certHook,
			Unless: "cmp -s " + shell.Quote(livePath(n.Domain, "fullchain.pem")) + " /etc/turnserver/fullchain.pem",
		})
	}
	b.add(&provision.ServiceStep{Name: "coturn", Enabled: true, Running: true})
}

// relayFor: the BBB nodes a TURN node relays for: its group's, or itself
// when it is a BBB node hosting its own TURN.
func (b *builder) relayFor() []*inventory.Node {
	if has(b.n, RoleBBB) {
		return []*inventory.Node{b.n}
	}
	return groupWith(b.n, b.fleet, RoleBBB)
}

func appendNew(l []string, v ...string) []string {
	for _, x := range v {
		found := false
		for _, y := range l {
			found = found || x == y
		}
		if !found {
			l = append(l, x)
		}
	}
	return l
}

// turnServers: the TURN URLs a BBB node hands its clients, with secrets.
func (b *builder) turnServers() (templates.TurnStun, error) {
	var ts templates.TurnStun
	servers := groupWith(b.n, b.fleet, RoleTURN)
	if len(servers) == 0 {
		servers = []*inventory.Node{b.n}
	}
	for _, t := range servers {
		tset := settingsOf(t)
		secret, err := b.sec.turn(t, tset)
		if err != nil {
			return ts, err
		}
		host := t.Domain
		if host == "" {
			host = t.Address
		}
		if host == "" {
			return ts, fmt.Errorf("node %s: TURN server %s has neither domain nor address", b.n.Name, t.Name)
		}
		ts.Stun = append(ts.Stun, "stun:"+host+":3478")
		if dedicatedTURN(t) || (t == b.n && b.localTURN()) {
			ts.Turn = append(ts.Turn, templates.TurnServer{URL: "turns:" + host + ":443?transport=tcp", Secret: secret, TTL: turnTTL})
		}
		ts.Turn = append(ts.Turn,
			templates.TurnServer{URL: "turn:" + host + ":3478", Secret: secret, TTL: turnTTL},
			templates.TurnServer{URL: "turn:" + host + ":3478?transport=tcp", Secret: secret, TTL: turnTTL})
	}
	return ts, nil
}

// nginxBehind is where nginx listens when haproxy owns 443.
const (
	nginxBehind   = "127.0.0.1:81"
	haproxyBundle = "/etc/haproxy/certbundle.pem"
	haproxyCfg    = "/etc/haproxy/haproxy.cfg"
)

// localTURN: a BBB node that runs its group's TURN server itself. As
// bbb-install does, haproxy then ends TLS on 443 and shares it between
// nginx and coturn, so TURN over TLS works for users behind firewalls
// that let only 443 out.
func (b *builder) localTURN() bool {
	return has(b.n, RoleBBB) && b.n.Domain != "" && slices.Contains(NodeRoles(b.n, b.fleet), RoleTURN)
}

// haproxy: TLS on 443 for BBB and TURN, after nginx moved to nginxBehind.
func (b *builder) haproxy() {
	n := b.n
	listen, _, err := addrs(n, b.s)
	if err != nil {
		b.fail(err)
		return
	}
	b.add(&provision.PackagesStep{Names: []string{"haproxy"}})
	b.add(&provision.CommandStep{
		Label:  "haproxy certificate",
		Run:    certHook,
		Unless: "cat " + shell.Quote(livePath(n.Domain, "fullchain.pem")) + " " + shell.Quote(livePath(n.Domain, "privkey.pem")) + " | cmp -s - " + haproxyBundle,
	})
	cfg := templates.HAProxy{Node: n.Name, Bundle: haproxyBundle, TURN: netJoin(listen, "3478"), Nginx: nginxBehind}
	if f, err := file(haproxyCfg, templates.HAProxyCfg, cfg, 0o640, "root", "haproxy", "haproxy"); err != nil {
		b.fail(err)
	} else {
		b.add(&checkedFile{FileStep: f, Check: "haproxy -c -q -f " + haproxyCfg})
	}
	// nginx reloads with its new site only at the end of the run; haproxy
	// cannot bind 443 while the old site still holds it.
	b.add(&provision.CommandStep{Label: "nginx leaves 443 to haproxy", Run: "systemctl reload-or-restart nginx",
		Unless: `! ss -Hltnp 'sport = :443' | grep -q '"nginx"'`})
	b.add(&provision.ServiceStep{Name: "haproxy", Enabled: true, Running: true})
}

func netJoin(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}
