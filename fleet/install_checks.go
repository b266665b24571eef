package fleet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// What a BBB server needs, from BBB's install docs: 8 cores and 16 GB are
// recommended for production; below 4 cores or 8 GB BBB does not run
// meetings reliably at all. Disk holds recordings, so it only warns.
const (
	minCPUs, wantCPUs     = 4, 8
	minMemGB, wantMemGB   = 8, 16
	minDiskGB, wantDiskGB = 20, 100
)

// InstallChecks are the names of the checks install makes (and
// InstallOptions.IgnoreChecks accepts).
var InstallChecks = []string{"os", "arch", "cpu", "memory", "disk", "ports", "dns"}

// serverFacts is what the preflight script reads from the server; nothing
// in it is changed by reading it.
type serverFacts struct {
	OS, Arch   string
	CPUs       int
	MemKB      int64
	DiskFreeKB int64
	Addrs      []string // the server's own addresses (hostname -I)
	Listeners  []listener
}

// listener is one listening socket and the program that holds it.
type listener struct {
	Proto, Port, Program string
}

// factsScript prints one key=value per line. It changes nothing.
const factsScript = `. /etc/os-release 2>/dev/null; echo "os=$ID-$VERSION_ID"
echo "arch=$(uname -m)"
echo "cpus=$(nproc 2>/dev/null || echo 0)"
echo "mem=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
echo "disk=$(df -Pk / | awk 'NR==2 {print $4}')"
echo "addrs=$(hostname -I 2>/dev/null)"
if command -v ss >/dev/null; then ss -Hltnup 2>/dev/null | awk '{print "listen=" $1 " " $5 " " $7}'; fi
`

// parseFacts reads factsScript's output.
func parseFacts(out string) (serverFacts, error) {
	var f serverFacts
	seen := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
		if !ok {
			continue
		}
		seen[k] = true
		switch k {
		case "os":
			f.OS = v
		case "arch":
			f.Arch = v
		case "cpus":
			f.CPUs, _ = strconv.Atoi(v)
		case "mem":
			f.MemKB, _ = strconv.ParseInt(v, 10, 64)
		case "disk":
			f.DiskFreeKB, _ = strconv.ParseInt(v, 10, 64)
		case "addrs":
			f.Addrs = strings.Fields(v)
		case "listen":
			if l, ok := parseListener(v); ok {
				f.Listeners = append(f.Listeners, l)
			}
		}
	}
	for _, k := range []string{"os", "arch", "cpus", "mem", "disk"} {
		if !seen[k] {
			return f, fmt.Errorf("the server's answer to the checks lacks %q (is /bin/sh a POSIX shell?)", k)
		}
	}
	return f, nil
}

var reProgram = regexp.MustCompile(`\(\("([^"]+)"`)

// parseListener reads "tcp 0.0.0.0:80 users:(("nginx",pid=1,fd=6))".
func parseListener(v string) (listener, bool) {
	fs := strings.Fields(v)
	if len(fs) < 2 {
		return listener{}, false
	}
	i := strings.LastIndex(fs[1], ":")
	if i < 0 {
		return listener{}, false
	}
	l := listener{Proto: fs[0], Port: fs[1][i+1:], Program: "an unknown program"}
	if len(fs) > 2 {
		if m := reProgram.FindStringSubmatch(fs[2]); m != nil {
			l.Program = m[1]
		}
	}
	return l, true
}

// CheckResult is one preflight check's verdict.
type CheckResult struct {
	Name   string `json:"check"`
	Status string `json:"status"` // ok, warning, failed, ignored
	Detail string `json:"detail"`
}

func (c CheckResult) failed() bool { return c.Status == "failed" }

// portOwners: the programs BBB itself runs on its ports; anything else
// there would keep nginx or coturn from starting.
var portOwners = map[string][]string{
	"tcp/80": {"nginx"}, "tcp/443": {"nginx", "turnserver", "haproxy"}, "tcp/3478": {"turnserver"}, "udp/3478": {"turnserver"},
}

// evaluate turns the facts into verdicts. wantOS is the OS the BBB line
// runs on; resolved is what the domain resolves to from here (nil when
// the lookup failed, with lookupErr); host is the address omc connects to.
func evaluate(f serverFacts, wantOS, version string, domain string, resolved []string, lookupErr error, host string, ignore []string) []CheckResult {
	var rs []CheckResult
	add := func(name string, ok, warn bool, format string, a ...any) {
		st := "ok"
		switch {
		case !ok && slices.Contains(ignore, name):
			st = "ignored"
		case !ok:
			st = "failed"
		case warn:
			st = "warning"
		}
		rs = append(rs, CheckResult{Name: name, Status: st, Detail: fmt.Sprintf(format, a...)})
	}
	add("os", f.OS == wantOS, false, "BBB %s runs on %s; this server runs %s", version, wantOS, f.OS)
	add("arch", f.Arch == "x86_64", false, "BBB needs x86_64; this server is %s", f.Arch)
	add("cpu", f.CPUs >= minCPUs, f.CPUs < wantCPUs, "%d cores (BBB needs at least %d, %d recommended)", f.CPUs, minCPUs, wantCPUs)
	memGB := float64(f.MemKB) / (1 << 20)
	// MemTotal is a little under the installed size: allow 10%.
	add("memory", memGB >= minMemGB*0.9, memGB < wantMemGB*0.9, "%.1f GB memory (BBB needs at least %d GB, %d GB recommended)", memGB, minMemGB, wantMemGB)
	diskGB := float64(f.DiskFreeKB) / (1 << 20)
	add("disk", diskGB >= minDiskGB, diskGB < wantDiskGB, "%.0f GB free on / (at least %d GB, %d GB or more for recordings)", diskGB, minDiskGB, wantDiskGB)

	var busy []string
	for _, l := range f.Listeners {
		owners, watched := portOwners[l.Proto+"/"+l.Port]
		if watched && !slices.Contains(owners, l.Program) {
			busy = append(busy, fmt.Sprintf("%s/%s is held by %s", l.Port, l.Proto, l.Program))
		}
	}
	slices.Sort(busy)
	busy = slices.Compact(busy)
	if len(busy) > 0 {
		add("ports", false, false, "%s: stop it or use another server (BBB needs 80/tcp, 443/tcp and 3478)", strings.Join(busy, ", "))
	} else {
		add("ports", true, false, "80/tcp, 443/tcp and 3478 are free or already BBB's")
	}

	own := append([]string{host}, f.Addrs...)
	switch {
	case lookupErr != nil:
		add("dns", false, false, "%s does not resolve (%v): add an A record pointing at %s first; the certificate needs it", domain, lookupErr, host)
	case !overlaps(resolved, own):
		add("dns", false, false, "%s points at %s, not at this server (%s): fix its A/AAAA record first; the certificate needs it",
			domain, strings.Join(resolved, ", "), strings.Join(own, ", "))
	default:
		add("dns", true, false, "%s points at this server (%s)", domain, strings.Join(resolved, ", "))
	}
	return rs
}

// overlaps: some address of a is also in b (compared as IPs).
func overlaps(a, b []string) bool {
	for _, x := range a {
		xa, err := netip.ParseAddr(x)
		if err != nil {
			continue
		}
		for _, y := range b {
			if ya, err := netip.ParseAddr(y); err == nil && xa.Unmap() == ya.Unmap() {
				return true
			}
		}
	}
	return false
}

// Resolver looks a name up and returns its addresses.
type Resolver func(ctx context.Context, host string) ([]string, error)

// systemResolver asks the system's DNS.
func systemResolver(ctx context.Context, host string) ([]string, error) {
	return net.DefaultResolver.LookupHost(ctx, host)
}
