package local

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/testenv"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

// e2eProvider skips unless OMC_E2E=1; then a machine that cannot make
// real hosts fails the test, naming what it lacks. Hosts share the image
// cache in OMC_LOCAL_DIR (default /var/cache/omc-test), so only the first
// run builds it.
func e2eProvider(t *testing.T) *Provider {
	t.Helper()
	if !testenv.E2E() {
		t.Skip("real local hosts are slow: set OMC_E2E=1 to boot them (needs root, debootstrap, systemd-nspawn, apt-cacher-ng)")
	}
	if err := Check(); err != nil {
		testenv.MissingE2E(t, "this machine cannot run local hosts: %v", err)
	}
	dir := os.Getenv("OMC_LOCAL_DIR")
	if dir == "" {
		dir = "/var/cache/omc-test"
	}
	p, err := New(Options{Dir: dir, Stderr: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// fixture is an inventory with one local group and an operator key.
type fixture struct {
	inv    *inventory.Inventory
	g      *inventory.Group
	nodes  []*inventory.Node
	signer ssh.Signer
}

func newFixture(t *testing.T, invName string, names ...string) *fixture {
	t.Helper()
	k, err := providers.NewHostKey("operator")
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(t.TempDir(), "id_ed25519")
	os.WriteFile(keyPath, k.Private, 0o600)
	os.WriteFile(keyPath+".pub", []byte(k.Public+"\n"), 0o644)
	signer, err := ssh.ParsePrivateKey(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	g := &inventory.Group{Name: "dev", Provider: "local", Image: "debian-12", Count: len(names), NamePattern: "x-{n}"}
	f := &fixture{inv: &inventory.Inventory{Name: invName, Path: "e2e.yaml", Groups: []*inventory.Group{g}}, g: g, signer: signer}
	for _, n := range names {
		f.nodes = append(f.nodes, &inventory.Node{Name: n, Group: "dev", Provider: "local",
			SSH: inventory.SSH{User: "root", Port: 22, Key: keyPath}})
	}
	return f
}

func (f *fixture) names() []string {
	var ns []string
	for _, n := range f.nodes {
		ns = append(ns, n.Name)
	}
	return ns
}

// dial connects strictly: only the host key Create returned is accepted.
func (f *fixture) dial(t *testing.T, m providers.Machine) *ssh.Client {
	t.Helper()
	if len(m.HostKeys) != 1 {
		t.Fatalf("%s: want exactly one known host key, got %v", m.Name, m.HostKeys)
	}
	hk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(m.HostKeys[0]))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", net.JoinHostPort(m.Address, "22"), &ssh.ClientConfig{
		User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(f.signer)},
		HostKeyCallback: ssh.FixedHostKey(hk), Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("%s: ssh: %v", m.Name, err)
	}
	return c
}

func sshRun(c *ssh.Client, cmd string) (string, error) {
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	out, err := s.CombinedOutput(cmd)
	return strings.TrimSpace(string(out)), err
}

// assertGone checks that nothing of the given hosts is left on the machine.
func assertGone(t *testing.T, p *Provider, inv string, names []string) {
	t.Helper()
	netns, _ := run(context.Background(), "ip", "netns", "list")
	links, _ := run(context.Background(), "ip", "-o", "link")
	mounts, _ := os.ReadFile("/proc/mounts")
	for _, n := range names {
		ns := nameFor(p.dir, inv, n)
		if strings.Contains(netns, ns) {
			t.Errorf("%s: netns %s left behind", n, ns)
		}
		if strings.Contains(links, ns) {
			t.Errorf("%s: veth %s left behind", n, ns)
		}
		if strings.Contains(string(mounts), p.hostDir(inv, n)) {
			t.Errorf("%s: mount left behind under %s", n, p.hostDir(inv, n))
		}
		if _, err := os.Stat(p.hostDir(inv, n)); err == nil {
			t.Errorf("%s: host dir left behind", n)
		}
		cgs, _ := hostCgroups(ns)
		for _, d := range cgs {
			if _, err := os.Stat(d); err == nil {
				t.Errorf("%s: cgroup %s left behind", n, d)
			}
		}
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, c := range procs {
			if b, _ := os.ReadFile(c); bytes.Contains(b, []byte(p.hostDir(inv, n)+"/")) {
				t.Errorf("%s: process left behind: %s %q", n, c, b)
			}
		}
	}
}

func TestE2EHosts(t *testing.T) {
	p := e2eProvider(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	f := newFixture(t, "omc-e2e", "e2e-1", "e2e-2")
	// A clean slate (an earlier run may have been killed), and a clean end.
	if err := p.Delete(ctx, f.inv, f.g, f.names()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Delete(context.Background(), f.inv, f.g, f.names()) })

	start := time.Now()
	ms, err := p.Create(ctx, f.inv, f.g, f.nodes)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Create of 2 hosts (image cached or built) took %s", time.Since(start).Round(100*time.Millisecond))
	if len(ms) != 2 {
		t.Fatalf("Create returned %d machines", len(ms))
	}
	if ms[0].Address == ms[1].Address {
		t.Fatalf("hosts share address %s", ms[0].Address)
	}

	for _, m := range ms {
		if m.Status != "running" || m.Port != 22 {
			t.Errorf("%s: status %q port %d", m.Name, m.Status, m.Port)
		}
		c := f.dial(t, m)
		if out, err := sshRun(c, "hostname"); out != m.Name {
			t.Errorf("%s: hostname is %q (%v)", m.Name, out, err)
		}
		// Wait (bounded) for boot to settle, then accept running or degraded.
		var state string
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			// Exits non-zero unless running; the word is what counts.
			state, err = sshRun(c, "systemctl is-system-running")
			if state != "starting" && state != "initializing" && state != "" {
				break
			}
		}
		switch state {
		case "running":
		case "degraded":
			failed, _ := sshRun(c, "systemctl --failed --no-legend --plain")
			t.Logf("%s: degraded; failed units:\n%s", m.Name, failed)
		default:
			t.Errorf("%s: systemctl is-system-running = %q (%v)", m.Name, state, err)
		}
		if out, err := sshRun(c, "ip route; ip -6 route"); err != nil || strings.Contains(out, "default") {
			t.Errorf("%s: a host must have no default route: %q %v", m.Name, out, err)
		}
		if out, err := sshRun(c, "sysctl -w net.core.somaxconn=1024"); err != nil {
			t.Errorf("%s: sysctl under /proc/sys/net should be writable: %s %v", m.Name, out, err)
		}
		c.Close()
	}

	if _, err := run(ctx, "nft", "list", "table", "inet", nftTable); err != nil {
		t.Errorf("the forwarding block should be in place while hosts run: %v", err)
	}
	// The apt proxy is reachable only on the link addresses.
	if pid, addr := listenerOn(ProxyPort); addr != "" {
		t.Errorf("something listens on %s:%d (pid %d); the proxy must bind link addresses only", addr, ProxyPort, pid)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:3142", time.Second); err == nil {
		c.Close()
		t.Error("apt proxy answers on 127.0.0.1")
	}

	// Hosts booted by one process used to share one cgroup: one host's
	// systemd removed the unit cgroup another was starting the same unit
	// in (status=219/CGROUP). Each host's systemd is now below its own.
	t.Run("each host in a cgroup of its own", func(t *testing.T) {
		seen := map[string]string{}
		for _, n := range f.names() {
			st, err := readState(p.hostDir(f.inv.Name, n))
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Cgroups) == 0 {
				t.Fatalf("%s: no cgroups of its own in its state", n)
			}
			kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", st.PID, st.PID))
			k := strings.Fields(string(kids))
			if len(k) == 0 {
				t.Fatalf("%s: nspawn %d has no child", n, st.PID)
			}
			cg, err := os.ReadFile("/proc/" + k[0] + "/cgroup")
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			for _, l := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
				parts := strings.SplitN(l, ":", 3)
				if len(parts) != 3 || (parts[1] != "" && parts[1] != "name=systemd") {
					continue
				}
				checked++
				if !strings.Contains(parts[2], "/"+st.NetNS+"/") {
					t.Errorf("%s: its systemd is in cgroup %s of hierarchy %q, not below its own (%s)", n, parts[2], parts[1], st.NetNS)
				}
				if other, dup := seen[parts[1]+":"+parts[2]]; dup {
					t.Errorf("%s and %s share cgroup %s", n, other, parts[2])
				}
				seen[parts[1]+":"+parts[2]] = n
			}
			if checked == 0 {
				t.Errorf("%s: no v2 or name=systemd cgroup in %q", n, cg)
			}
		}
	})

	t.Run("apt through the proxy", func(t *testing.T) {
		c := f.dial(t, ms[0])
		defer c.Close()
		start := time.Now()
		out, err := sshRun(c, "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nftables && nft add table inet t && nft list tables")
		if err != nil {
			t.Fatalf("apt in host: %v\n%s", err, out)
		}
		t.Logf("apt-get update + install nftables took %s", time.Since(start).Round(100*time.Millisecond))
		if mine, _ := run(ctx, "nft", "list", "tables"); strings.Contains(mine, "inet t\n") {
			t.Error("a table made inside the host appeared on the machine")
		}
	})

	t.Run("second Create makes nothing", func(t *testing.T) {
		before := pids(t, p, f)
		start := time.Now()
		again, err := p.Create(ctx, f.inv, f.g, f.nodes)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("second Create took %s", time.Since(start).Round(time.Millisecond))
		for i := range ms {
			if again[i].Address != ms[i].Address || again[i].HostKeys[0] != ms[i].HostKeys[0] {
				t.Errorf("%s changed: %+v -> %+v", ms[i].Name, ms[i], again[i])
			}
		}
		if after := pids(t, p, f); after != before {
			t.Errorf("hosts were restarted: pids %s -> %s", before, after)
		}
		list, err := p.List(ctx, f.inv, f.g)
		if err != nil || len(list) != 2 || list[0].Status != "running" {
			t.Errorf("List = %+v, %v", list, err)
		}
	})

	t.Run("Rebuild keeps address and key", func(t *testing.T) {
		c := f.dial(t, ms[1])
		sshRun(c, "touch /root/marker")
		c.Close()
		start := time.Now()
		re, err := p.Rebuild(ctx, f.inv, f.g, f.nodes[1:])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Rebuild took %s", time.Since(start).Round(100*time.Millisecond))
		if re[0].Address != ms[1].Address || re[0].HostKeys[0] != ms[1].HostKeys[0] {
			t.Fatalf("rebuild changed address or key: %+v -> %+v", ms[1], re[0])
		}
		c = f.dial(t, re[0])
		defer c.Close()
		if out, err := sshRun(c, "test -e /root/marker && echo still there"); err == nil {
			t.Errorf("rebuild kept the old disk: %s", out)
		}
	})

	t.Run("no apt proxy while every host is stopped", func(t *testing.T) {
		if len(omcLinks()) != len(f.names()) {
			t.Skip("other local hosts run on this machine")
		}
		for _, n := range f.names() {
			st, err := readState(p.hostDir(f.inv.Name, n))
			if err != nil {
				t.Fatal(err)
			}
			syscall.Kill(st.PID, syscall.SIGKILL)
			waitGone(ctx, st.PID, 5*time.Second)
		}
		// What an interrupted run leaves: stopped hosts, whose links
		// Cleanup frees; then nothing is left for the proxy to serve.
		if err := p.Cleanup(ctx); err != nil {
			t.Fatal(err)
		}
		if ps := proxyProcs(p); len(ps) > 0 {
			t.Errorf("apt proxy left running with every host stopped: %v", ps)
		}
		again, err := p.Create(ctx, f.inv, f.g, f.nodes)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range again {
			f.dial(t, m).Close()
			st, err := readState(p.hostDir(f.inv.Name, m.Name))
			if err != nil {
				t.Fatal(err)
			}
			c, err := net.DialTimeout("tcp", net.JoinHostPort(st.MachineAddr, strconv.Itoa(ProxyPort)), time.Second)
			if err != nil {
				t.Fatalf("%s: the apt proxy is not back after the host started: %v", m.Name, err)
			}
			c.Close()
		}
	})

	t.Run("killed nspawn is restarted by Create", func(t *testing.T) {
		st, err := readState(p.hostDir(f.inv.Name, "e2e-1"))
		if err != nil {
			t.Fatal(err)
		}
		syscall.Kill(st.PID, syscall.SIGKILL)
		waitGone(ctx, st.PID, 5*time.Second)
		list, _ := p.List(ctx, f.inv, f.g)
		if list[0].Status != "stopped" {
			t.Fatalf("after SIGKILL, List says %q", list[0].Status)
		}
		again, err := p.Create(ctx, f.inv, f.g, f.nodes)
		if err != nil {
			t.Fatal(err)
		}
		c := f.dial(t, again[0])
		c.Close()
	})

	t.Run("Delete leaves nothing behind", func(t *testing.T) {
		start := time.Now()
		if err := p.Delete(ctx, f.inv, f.g, f.names()); err != nil {
			t.Fatal(err)
		}
		t.Logf("Delete of 2 hosts took %s", time.Since(start).Round(100*time.Millisecond))
		assertGone(t, p, f.inv.Name, f.names())
		if len(omcLinks()) == 0 {
			if _, err := run(ctx, "nft", "list", "table", "inet", nftTable); err == nil {
				t.Error("nftables table left behind with no host left")
			}
			if ps := proxyProcs(p); len(ps) > 0 {
				t.Errorf("apt proxy left running with no host left: %v", ps)
			}
			if ms := mountsUnder(p.dir); len(ms) > 0 {
				t.Errorf("mounts left behind: %v", ms)
			}
		}
		if list, _ := p.List(ctx, f.inv, f.g); len(list) != 0 {
			t.Errorf("List after Delete: %+v", list)
		}
	})
}

// proxyProcs are the /proc entries of processes running p's apt proxy.
func proxyProcs(p *Provider) []string {
	var ps []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, c := range procs {
		if b, _ := os.ReadFile(c); bytes.Contains(b, []byte(p.proxyDir())) {
			ps = append(ps, c)
		}
	}
	return ps
}

func pids(t *testing.T, p *Provider, f *fixture) string {
	var s []string
	for _, n := range f.names() {
		st, err := readState(p.hostDir(f.inv.Name, n))
		if err != nil {
			t.Fatal(err)
		}
		s = append(s, strconv.Itoa(st.PID))
	}
	return strings.Join(s, ",")
}

// TestE2ECrashCleanup makes a host up to boot without finishing, as a
// killed `omc up` would leave it, and checks the next call removes it.
func TestE2ECrashCleanup(t *testing.T) {
	p := e2eProvider(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	f := newFixture(t, "omc-e2e-crash", "crash-1")
	p.Delete(ctx, f.inv, f.g, f.names())
	t.Cleanup(func() { p.Delete(context.Background(), f.inv, f.g, f.names()) })

	im, _ := lookupImage("debian-12")
	lower, err := p.ensureImage(ctx, im)
	if err != nil {
		t.Fatal(err)
	}
	j := &job{node: f.nodes[0], fresh: true}
	if err := p.newStates(ctx, f.inv.Name, f.g.Name, im.Name, []*job{j}); err != nil {
		t.Fatal(err)
	}
	if err := setupLink(ctx, j.st); err != nil {
		t.Fatal(err)
	}
	if err := p.mountRootfs(ctx, j.st, lower); err != nil {
		t.Fatal(err)
	}
	if err := p.boot(j.st); err != nil {
		t.Fatal(err)
	}
	if !j.st.running() || !netnsExists(j.st.NetNS) || !isMountPoint(j.st.rootDir()) {
		t.Fatal("the half-made host should be running with its netns and mount")
	}
	// A host dir without any state (a crash before the first write).
	bare := p.hostDir(f.inv.Name, "crash-2")
	os.MkdirAll(bare, 0o700)

	// "omc up" died here. List does not count the half-made host, and the
	// next Create or Delete cleans up.
	if list, err := p.List(ctx, f.inv, f.g); err != nil || len(list) != 0 {
		t.Errorf("List shows an abandoned host: %+v %v", list, err)
	}
	half := j.st.PID
	ms, err := p.Create(ctx, f.inv, f.g, f.nodes)
	if err != nil {
		t.Fatal(err)
	}
	if alive(half) {
		t.Errorf("the half-made host's nspawn %d still runs", half)
	}
	st, _ := readState(p.hostDir(f.inv.Name, "crash-1"))
	if st == nil || st.PID == half || ms[0].HostKeys[0] == j.st.HostKey {
		t.Error("crash-1 should have been made anew")
	}
	f.dial(t, ms[0]).Close()
	assertGone(t, p, f.inv.Name, []string{"crash-2"})
	if err := p.Delete(ctx, f.inv, f.g, f.names()); err != nil {
		t.Fatal(err)
	}
	assertGone(t, p, f.inv.Name, []string{"crash-1"})
}
