package local

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// DefaultNetwork is where host links are carved from: one /30 per host
// (.1 the machine, .2 the host), 16384 hosts. It is rarely used by LANs
// or VPNs; Options.Network picks another range when it is.
var DefaultNetwork = netip.MustParsePrefix("10.250.0.0/16")

// ifacePrefix starts every netns and veth omc makes, so they are easy to
// find by hand (ip netns list; ip link).
const ifacePrefix = "omc-"

// nameFor is the netns and veth name of a host: deterministic, unique per
// cache dir, inventory and node, and within the kernel's 15-byte limit.
func nameFor(dir, inv, node string) string {
	h := sha256.Sum256([]byte(dir + "\x00" + inv + "\x00" + node))
	return ifacePrefix + hex.EncodeToString(h[:5])
}

// link is a host's /30.
type link struct {
	Subnet  netip.Prefix
	Machine netip.Addr // .1, the machine's end and the apt proxy
	Host    netip.Addr // .2
}

func linkAt(network netip.Prefix, slot int) link {
	a := network.Masked().Addr().As4()
	base := binary.BigEndian.Uint32(a[:]) + uint32(slot)*4
	at := func(off uint32) netip.Addr {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], base+off)
		return netip.AddrFrom4(b)
	}
	return link{Subnet: netip.PrefixFrom(at(0), 30), Machine: at(1), Host: at(2)}
}

// route is one IPv4 route of the machine.
type route struct {
	Iface  string
	Prefix netip.Prefix
}

// machineRoutes reads /proc/net/route (IPv4 is all the links use).
func machineRoutes() ([]route, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseRoutes(f)
}

func parseRoutes(f io.Reader) ([]route, error) {
	var rs []route
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(fs[1], 16, 32)
		mask, err2 := strconv.ParseUint(fs[7], 16, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		// The kernel prints them in host (little-endian) byte order.
		var d [4]byte
		binary.LittleEndian.PutUint32(d[:], uint32(dst))
		var m [4]byte
		binary.LittleEndian.PutUint32(m[:], uint32(mask))
		bits := 0
		for _, b := range m {
			for i := 7; i >= 0 && b&(1<<i) != 0; i-- {
				bits++
			}
		}
		rs = append(rs, route{Iface: fs[0], Prefix: netip.PrefixFrom(netip.AddrFrom4(d), bits)})
	}
	return rs, sc.Err()
}

// allocate picks the host's /30: the slot its inventory and node name
// hash to, or the next free one. A slot is taken when another host in
// the cache dir has it, or when a machine route (other than the default
// route and the host's own veth) overlaps it, so hosts never shadow a
// real network.
func allocate(network netip.Prefix, inv, node, ownIface string, used map[netip.Prefix]bool, routes []route) (link, error) {
	if !network.Addr().Is4() || network.Bits() > 30 {
		return link{}, fmt.Errorf("network %s: need an IPv4 range of /30 or larger", network)
	}
	slots := 1 << (30 - network.Bits())
	h := sha256.Sum256([]byte(inv + "\x00" + node))
	start := int(binary.BigEndian.Uint32(h[:4]) % uint32(slots))
	var overlaps []string
	for i := 0; i < slots; i++ {
		l := linkAt(network, (start+i)%slots)
		if used[l.Subnet] {
			continue
		}
		free := true
		for _, r := range routes {
			if r.Prefix.Bits() == 0 || r.Iface == ownIface {
				continue
			}
			if r.Prefix.Overlaps(l.Subnet) {
				free = false
				if len(overlaps) < 3 && !strings.HasPrefix(r.Iface, ifacePrefix) {
					overlaps = append(overlaps, r.Prefix.String()+" dev "+r.Iface)
				}
				break
			}
		}
		if free {
			return l, nil
		}
	}
	return link{}, fmt.Errorf("no free /30 left in %s (machine routes in the way: %s); choose another range with Options.Network",
		network, strings.Join(overlaps, ", "))
}

// setupLink makes the host's network namespace and veth pair: the
// machine end keeps the .1 address, the host end is eth0 inside with .2.
// There is no default route inside: the host reaches the machine (and
// its apt proxy) and nothing else. Leftovers of an earlier run with the
// same name are removed first.
func setupLink(ctx context.Context, st *state) error {
	teardownLink(ctx, st.NetNS)
	ns := st.NetNS
	cmds := [][]string{
		{"netns", "add", ns},
		{"link", "add", ns, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"addr", "add", st.MachineAddr + "/30", "dev", ns},
		{"link", "set", ns, "up"},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "addr", "add", st.HostAddr + "/30", "dev", "eth0"},
		{"-n", ns, "link", "set", "eth0", "up"},
	}
	for _, c := range cmds {
		if _, err := run(ctx, "ip", c...); err != nil {
			teardownLink(ctx, ns)
			return err
		}
	}
	return nil
}

// teardownLink deletes the veth and the namespace; missing ones are fine.
// Processes still inside the namespace are killed first, so nothing of the
// host survives it.
func teardownLink(ctx context.Context, ns string) {
	killNetns(ns)
	if linkExists(ns) {
		run(ctx, "ip", "link", "del", ns)
	}
	if netnsExists(ns) {
		run(ctx, "ip", "netns", "del", ns)
	}
}

func netnsExists(ns string) bool {
	_, err := os.Stat("/run/netns/" + ns)
	return err == nil
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

// omcLinks lists the machine's interfaces that omc made, in any cache dir.
func omcLinks() []string {
	ents, _ := os.ReadDir("/sys/class/net")
	var ls []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ifacePrefix) {
			ls = append(ls, e.Name())
		}
	}
	return ls
}

// isolate makes sure the machine never forwards packets from or to a
// host, even if forwarding is on (Docker turns it on) and a host adds a
// route of its own (it has CAP_NET_ADMIN in its namespace). The rule
// lives in its own nftables table, so it does not touch other rules.
func isolate(ctx context.Context) error {
	if findTool("nft") == "" {
		if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) == "1" {
			return fmt.Errorf("IP forwarding is on and nft is missing, so local hosts could route out: apt-get install nftables")
		}
		return nil
	}
	if _, err := run(ctx, "nft", "list", "table", "inet", nftTable); err == nil {
		return nil
	}
	rules := "table inet " + nftTable + " {\n chain forward {\n  type filter hook forward priority -10; policy accept;\n" +
		"  iifname \"" + ifacePrefix + "*\" drop\n  oifname \"" + ifacePrefix + "*\" drop\n }\n}\n"
	_, err := runInput(ctx, rules, "nft", "-f", "-")
	return err
}

const nftTable = "omc_local"

// unisolate removes the table once no omc link is left on the machine.
func unisolate(ctx context.Context) {
	if len(omcLinks()) > 0 {
		return
	}
	if findTool("nft") != "" {
		if _, err := run(ctx, "nft", "list", "table", "inet", nftTable); err == nil {
			run(ctx, "nft", "delete", "table", "inet", nftTable)
		}
	}
}
