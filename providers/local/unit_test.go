package local

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/internal/testenv"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

func TestNameFor(t *testing.T) {
	a := nameFor("/var/cache/omc", "fleet", "bbb-1")
	if len(a) > 15 || !strings.HasPrefix(a, "omc-") {
		t.Fatalf("nameFor = %q: want omc- prefix and at most 15 bytes (IFNAMSIZ-1)", a)
	}
	if a != nameFor("/var/cache/omc", "fleet", "bbb-1") {
		t.Fatal("nameFor is not deterministic")
	}
	for _, b := range []string{nameFor("/other", "fleet", "bbb-1"), nameFor("/var/cache/omc", "fleet2", "bbb-1"), nameFor("/var/cache/omc", "fleet", "bbb-2")} {
		if a == b {
			t.Fatalf("nameFor collides: %s", a)
		}
	}
}

func TestAllocate(t *testing.T) {
	nw := netip.MustParsePrefix("10.250.0.0/16")
	l, err := allocate(nw, "fleet", "bbb-1", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !nw.Contains(l.Host) || l.Subnet.Bits() != 30 || l.Machine.Next() != l.Host || l.Subnet.Addr().Next() != l.Machine {
		t.Fatalf("bad link %+v", l)
	}
	again, _ := allocate(nw, "fleet", "bbb-1", "", nil, nil)
	if again != l {
		t.Fatalf("not deterministic: %+v then %+v", l, again)
	}
	// A slot in use moves the host to the next one.
	used := map[netip.Prefix]bool{l.Subnet: true}
	next, _ := allocate(nw, "fleet", "bbb-1", "", used, nil)
	if next.Subnet == l.Subnet || !nw.Contains(next.Host) {
		t.Fatalf("used slot handed out again: %+v", next)
	}
	// A machine route over the slot does too, unless it is the host's own veth
	// or the default route.
	routes := []route{{Iface: "eth0", Prefix: netip.MustParsePrefix("0.0.0.0/0")}, {Iface: "wg0", Prefix: l.Subnet}}
	moved, _ := allocate(nw, "fleet", "bbb-1", "", nil, routes)
	if moved.Subnet == l.Subnet {
		t.Fatal("slot under a machine route handed out")
	}
	own, _ := allocate(nw, "fleet", "bbb-1", "wg0", nil, routes)
	if own.Subnet != l.Subnet {
		t.Fatal("the host's own route should not move it")
	}
	// A route over the whole range leaves nothing, and says why.
	_, err = allocate(nw, "fleet", "bbb-1", "", nil, []route{{Iface: "tun0", Prefix: netip.MustParsePrefix("10.0.0.0/8")}})
	if err == nil || !strings.Contains(err.Error(), "10.0.0.0/8 dev tun0") {
		t.Fatalf("want an error naming the route, got %v", err)
	}
	// Every slot of a small range is reachable.
	small := netip.MustParsePrefix("192.168.77.0/29")
	seen := map[netip.Prefix]bool{}
	for range 2 {
		l, err := allocate(small, "x", "y", "", seen, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen[l.Subnet] = true
	}
	if _, err := allocate(small, "x", "y", "", seen, nil); err == nil {
		t.Fatal("a full range should be an error")
	}
	if _, err := allocate(netip.MustParsePrefix("fd00::/64"), "x", "y", "", nil, nil); err == nil {
		t.Fatal("IPv6 range should be refused")
	}
}

func TestParseRoutes(t *testing.T) {
	in := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"omc-1\t0400FA0A\t00000000\t0001\t0\t0\t0\tFCFFFFFF\t0\t0\t0\n"
	rs, err := parseRoutes(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0.0.0.0/0", "192.0.2.0/24", "10.250.0.4/30"}
	if len(rs) != len(want) {
		t.Fatalf("got %v", rs)
	}
	for i, w := range want {
		if rs[i].Prefix.String() != w {
			t.Errorf("route %d = %s, want %s", i, rs[i].Prefix, w)
		}
	}
}

func TestImages(t *testing.T) {
	im, err := lookupImage("debian-12")
	if err != nil || im.Suite != "bookworm" || im.Mirror == "" {
		t.Fatalf("debian-12: %+v %v", im, err)
	}
	if im, _ := lookupImage(""); im.Name != DefaultImage {
		t.Fatalf("empty image should be %s, got %s", DefaultImage, im.Name)
	}
	if im, _ := lookupImage("debian-13"); im.Suite != "trixie" {
		t.Fatalf("debian-13: %+v", im)
	}
	if im, _ := lookupImage("ubuntu-22.04"); im.Suite != "jammy" || im.Mirror != "http://archive.ubuntu.com/ubuntu" {
		t.Fatalf("ubuntu-22.04: %+v", im)
	}
	_, err = lookupImage("centos-7")
	var ue *UnknownImageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "debian-12, debian-13, ubuntu-22.04") {
		t.Fatalf("unknown image: %v", err)
	}
}

func TestMirrorParsing(t *testing.T) {
	deb822 := `Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm

Types: deb
URIs: http://other.example/debian
Suites: bookworm
Enabled: no

Types: deb
URIs: http://ftp.de.debian.org/debian/
Suites: bookworm
 bookworm-updates
Components: main
`
	if got := mirrorFromDeb822(strings.NewReader(deb822)); got != "http://ftp.de.debian.org/debian" {
		t.Errorf("deb822: got %q", got)
	}
	ubuntu := "Types: deb\nURIs: http://archive.ubuntu.com/ubuntu\nSuites: jammy jammy-updates\n"
	if got := mirrorFromDeb822(strings.NewReader(ubuntu)); got != "" {
		t.Errorf("ubuntu sources taken for a Debian mirror: %q", got)
	}
	list := `# comment
deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main
deb http://security.debian.org/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian bookworm main
deb [broken
`
	if got := mirrorFromList(strings.NewReader(list)); got != "http://mirror.example/debian" {
		t.Errorf("list: got %q", got)
	}
}

func TestStateRoundTrip(t *testing.T) {
	linuxOnly(t)
	dir := t.TempDir()
	st := &state{Version: stateVersion, Inventory: "fleet", Group: "dev", Node: "bbb-1", Phase: phaseCreating,
		NetNS: "omc-0123456789", Subnet: "10.250.0.4/30", MachineAddr: "10.250.0.5", HostAddr: "10.250.0.6",
		HostKey: "ssh-ed25519 AAAA", Cgroups: []string{"/sys/fs/cgroup/unified/omc-0123456789"},
		Created: time.Now().UTC().Truncate(time.Second), dir: dir}
	if err := st.write(); err != nil {
		t.Fatal(err)
	}
	got, err := readState(dir)
	if err != nil {
		t.Fatal(err)
	}
	got.dir, st.dir = "", ""
	if !reflect.DeepEqual(got, st) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, st)
	}
	if got.status() != "creating" {
		t.Fatalf("status = %s", got.status())
	}
	got.Phase = phaseReady
	got.PID = os.Getpid() // alive, but not an nspawn
	if got.status() != "stopped" {
		t.Fatalf("a live non-nspawn pid must not count as running: %s", got.status())
	}
	os.WriteFile(filepath.Join(dir, "state.json"), []byte(`{"version": 99}`), 0o600)
	if _, err := readState(dir); err == nil {
		t.Fatal("unknown state version accepted")
	}
}

func TestHostKey(t *testing.T) {
	k, err := providers.NewHostKey("root@x")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key")
	os.WriteFile(path, k.Private, 0o600)
	back, err := providers.LoadHostKey(path)
	if err != nil || back.Public != k.Public {
		t.Fatalf("reloaded key differs: %v", err)
	}
	if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.Public)); err != nil || !strings.HasPrefix(k.Public, "ssh-ed25519 ") {
		t.Fatalf("public key %q: %v", k.Public, err)
	}
}

func TestLocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	a, err := tryLockFile(path)
	if err != nil || a == nil {
		t.Fatalf("first lock: %v", err)
	}
	if b, err := tryLockFile(path); err != nil || b != nil {
		t.Fatalf("second lock should be refused while the first is held: %v", err)
	}
	a.unlock()
	b, err := tryLockFile(path)
	if err != nil || b == nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	b.unlock()
}

func TestMisc(t *testing.T) {
	linuxOnly(t)
	if got := unescapeMount(`/a\040b/c`); got != "/a b/c" {
		t.Errorf("unescapeMount = %q", got)
	}
	if got := lastLines("a\nb\nc\n", 2); got != "b\nc" {
		t.Errorf("lastLines = %q", got)
	}
	for _, bad := range []string{"", "A", "a/b", "..", "-a", "a_b"} {
		if checkName("node", bad) == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	if checkName("node", "bbb-eu-1") != nil {
		t.Error("good name refused")
	}
	if findTool("sh") == "" || findTool("no-such-tool-omc") != "" {
		t.Error("findTool is wrong")
	}
	if !alive(os.Getpid()) || alive(1<<22+1) {
		t.Error("alive is wrong")
	}
	err := (&NotReadyError{Missing: []string{"debootstrap not found (package debootstrap)"}, NeedTools: true}).Error()
	if !strings.Contains(err, "apt-get install debootstrap systemd-container apt-cacher-ng iproute2") {
		t.Errorf("NotReadyError should say how to fix it: %s", err)
	}
}

func TestCheckNamesMissingTools(t *testing.T) {
	linuxOnly(t)
	saved := tools
	defer func() { tools = saved }()
	tools = append(tools[:len(tools):len(tools)], struct{ cmd, pkg string }{"omc-no-such-tool", "omc-pkg"})
	err := Check()
	var nr *NotReadyError
	if !errors.As(err, &nr) || !nr.NeedTools ||
		!strings.Contains(err.Error(), "omc-no-such-tool not found (package omc-pkg)") ||
		!strings.Contains(err.Error(), "apt-get install debootstrap systemd-container apt-cacher-ng iproute2") {
		t.Fatalf("Check() = %v", err)
	}
}

// linuxOnly skips tests that read /proc.
func linuxOnly(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc: Linux only")
	}
}

// A delete cut short after the host was stopped leaves a "deleting" host:
// List does not show it (so up makes it anew rather than booting a
// half-removed disk) and the next Cleanup finishes removing it, while a
// ready host beside it is kept.
func TestInterruptedDeleteIsFinishedByCleanup(t *testing.T) {
	linuxOnly(t)
	if err := Check(); err != nil {
		testenv.Missing(t, "needs the local provider's tools: %v", err)
	}
	p, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(node, phase string) string {
		dir := p.hostDir("fleet", node)
		os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755) // os-release already gone
		st := &state{Version: stateVersion, Inventory: "fleet", Group: "dev", Node: node, Phase: phase,
			NetNS: nameFor(p.dir, "fleet", node), Subnet: "10.250.0.4/30", MachineAddr: "10.250.0.5", HostAddr: "10.250.0.6", dir: dir}
		if err := st.write(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	gone, kept := mk("half", phaseDeleting), mk("whole", phaseReady)
	inv := &inventory.Inventory{Name: "fleet"}
	ms, err := p.List(context.Background(), inv, &inventory.Group{Name: "dev"})
	if err != nil || len(ms) != 1 || ms[0].Name != "whole" {
		t.Fatalf("List = %+v, %v; want only the ready host", ms, err)
	}
	if err := p.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("the half-deleted host is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(kept, "state.json")); err != nil {
		t.Errorf("the ready host was touched: %v", err)
	}
}

// A host this process booted is running exactly while its process lives,
// whatever /proc says of it: right after the start the kernel may still
// show the parent's name, which once made a healthy boot look "exited".
// (The process here is sleep, which isOurNspawn never accepts.)
func TestRunningFollowsTheProcessWeStarted(t *testing.T) {
	dir := t.TempDir()
	pid, exited, err := startDetached(filepath.Join(dir, "out.log"), nil, "sleep", "30")
	if err != nil {
		t.Fatal(err)
	}
	st := &state{PID: pid, exited: exited, dir: dir}
	if !st.running() {
		t.Fatal("running() = false for the live process this omc started")
	}
	if isOurNspawn(pid, st.rootDir()) {
		t.Fatal("isOurNspawn accepted sleep; the test would not tell the two checks apart")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("exited was not closed after the process was killed")
	}
	if st.running() {
		t.Fatal("running() = true after the process ended")
	}
	// A state read back from disk (another omc booted it) asks /proc.
	if (&state{PID: pid, dir: dir}).running() {
		t.Fatal("running() = true for a dead PID read from disk")
	}
}

func TestCgroupDirs(t *testing.T) {
	// This machine's kind: v1 controllers, name=systemd and a unified v2
	// next to them, no systemd as PID 1 (omc in the root cgroup).
	hybrid := `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	hybridOwn := "9:name=systemd:/\n8:pids:/\n4:memory:/\n0::/\n"
	// A developer's Debian 12: v2 only, omc in a login session.
	v2 := `25 1 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 25 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	v2Own := "0::/user.slice/user-0.slice/session-3.scope\n"
	// Inside a container with a cgroup namespace, the mount's root is the
	// namespace's, and a mount point with a space is escaped.
	nsd := `40 30 0:37 /machine.slice/x /sys/fs/cgroup\040x rw - cgroup2 cgroup2 rw
`
	nsdOwn := "0::/machine.slice/x/payload\n"
	for _, c := range []struct {
		name, own, mounts string
		want              []string
	}{
		{"hybrid", hybridOwn, hybrid, []string{"/sys/fs/cgroup/systemd/omc-1", "/sys/fs/cgroup/unified/omc-1"}},
		{"v2", v2Own, v2, []string{"/sys/fs/cgroup/user.slice/user-0.slice/session-3.scope/omc-1"}},
		{"mount root", nsdOwn, nsd, []string{"/sys/fs/cgroup x/payload/omc-1"}},
		{"v1 without name=systemd", "4:memory:/\n", "34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", nil},
		{"not mounted", hybridOwn, "", nil},
	} {
		if got := cgroupDirs(c.own, c.mounts, "omc-1"); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// A host's cgroups are made, entered by the shell prefix and removed with
// what was made below them; a cgroupfs that refuses leaves nothing made.
func TestCgroupsMadeEnteredRemoved(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root to make cgroups")
	}
	dirs, err := hostCgroups("omc-unit-" + strconv.Itoa(os.Getpid()))
	if err != nil || len(dirs) == 0 {
		testenv.Missing(t, "no cgroup hierarchy here to use (%v)", err)
	}
	if err := makeCgroups(dirs); err != nil {
		testenv.Missing(t, "cgroups cannot be made here: %v", err)
	}
	t.Cleanup(func() { removeCgroups(dirs) })
	out, err := exec.Command("sh", "-c", intoCgroups(dirs), "sh", "-c", "cat /proc/self/cgroup; mkdir "+shell.Quote(dirs[0]+"/payload")).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	key := filepath.Base(dirs[0])
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) == 3 && (parts[1] == "" || parts[1] == "name=systemd") && !strings.HasSuffix(parts[2], "/"+key) {
			t.Errorf("the child ran in %s, not its own cgroup: %s", parts[2], l)
		}
	}
	removeCgroups(dirs)
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s left behind", d)
		}
	}
	if err := makeCgroups([]string{dirs[0], "/proc/omc-no-such/cg"}); err == nil {
		t.Fatal("a cgroup under /proc was made")
	}
	if _, err := os.Stat(dirs[0]); err == nil {
		t.Errorf("a failed makeCgroups left %s", dirs[0])
	}
}

// A cgroup the shell cannot enter is said, and the program runs anyway.
func TestIntoCgroupsFallsThrough(t *testing.T) {
	out, err := exec.Command("sh", "-c", intoCgroups([]string{"/nonexistent/omc x"}), "echo", "ran").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "omc: could not enter cgroup /nonexistent/omc x/cgroup.procs") || !strings.HasSuffix(string(out), "ran\n") {
		t.Fatalf("%v: %q", err, out)
	}
}

// Each progress line reaches Events as a "log" event, the same text as
// on Stderr, so omc renders and logs it with the cloud providers' lines.
func TestLinesAreEvents(t *testing.T) {
	var got []providers.Event
	var errb strings.Builder
	p, err := New(Options{Dir: t.TempDir(), Stderr: &errb, Events: func(e providers.Event) { got = append(got, e) }})
	if err != nil {
		t.Fatal(err)
	}
	p.logf("booting %s", "bbb-1")
	if errb.String() != "local: booting bbb-1\n" {
		t.Errorf("stderr %q", errb.String())
	}
	if len(got) != 1 || got[0].Provider != "local" || got[0].Phase != "log" || got[0].Message != "local: booting bbb-1" {
		t.Errorf("events %+v", got)
	}
}
