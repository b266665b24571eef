// Package local is the provider for real Debian hosts on the machine omc
// runs on: each node is a systemd-nspawn container booting systemd, with
// its own network namespace, address and sshd, so omc provisions it over
// SSH exactly like a server. It is for development, demos and end-to-end
// tests; the hosts are not a security boundary (they run as real root,
// sharing the machine's kernel).
//
// # Needs
//
// Linux, root, and the tools debootstrap, systemd-nspawn, ip and
// apt-cacher-ng (plus nft when IP forwarding is on):
//
//	apt-get install debootstrap systemd-container apt-cacher-ng iproute2 nftables
//
// systemd need not be the machine's PID 1 (nspawn runs with
// --register=no --keep-unit). Each host starts in a cgroup of its own,
// omc-<10 hex digits> below omc's (in the v2 hierarchy and v1's
// name=systemd), so that the hosts' systemds do not share unit cgroups
// (see cgroup.go); it is removed when the host stops.
//
// # Where things live
//
// Under Options.Dir (default $XDG_CACHE_HOME/omc, else ~/.cache/omc):
//
//	images/<image>/rootfs          debootstrap tree, built once (images/<image>.build.log)
//	hosts/<inventory>/<node>/      state.json, console.log, ssh_host_ed25519_key,
//	                               rootfs (overlay mount point, or a full copy), upper, work
//	aptproxy/                      omc's own apt-cacher-ng: conf, cache, log, state.json
//	id_ed25519                     made only when no key is found (see DefaultKey)
//
// # Network
//
// Each host gets a network namespace and a veth pair, both named
// omc-<10 hex digits> (a hash of the cache dir, inventory and node), and a
// /30 from DefaultNetwork 10.250.0.0/16 (Options.Network): .1 is the
// machine's end, .2 the host's eth0. The slot is a hash of inventory and
// node, so a host keeps its address across rebuilds; slots taken by other
// hosts or overlapping one of the machine's routes are skipped. Hosts have
// no default route and the machine does not forward for them (an nftables
// table inet omc_local drops it even when forwarding is on): they reach the
// machine, and through its apt proxy on .1:3142 the Debian mirror the
// machine's apt uses, nothing else.
//
// # SSH
//
// omc writes each host's ed25519 host key before boot and returns it in
// Machine.HostKeys, so the first connection is verified, not trusted. Root
// (and the node's ssh.user, with passwordless sudo, when it is not root)
// accepts the node's ssh.key, else ~/.ssh/id_{ed25519,ecdsa,rsa}.pub, else
// DefaultKey, which is made and announced on stderr.
//
// # Cleaning up by hand
//
// `omc down` removes hosts, and after a crash the next omc run cleans up
// (Cleanup); DeleteAll removes every host of the cache dir. By hand:
//
//	kill <pid in hosts/<inventory>/<node>/state.json>   # systemd-nspawn
//	umount <Dir>/hosts/*/*/rootfs
//	ip netns list | grep ^omc- ; ip netns del omc-…     # also removes the veth
//	kill <pid in aptproxy/state.json>; nft delete table inet omc_local
//	rm -rf <Dir>/hosts
//
// To refresh an image, remove <Dir>/images/<image> once no host uses it
// (overlay hosts read it as their lower layer); the next Create builds it.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

// Options configure New. The zero value is usable.
type Options struct {
	// Dir holds images, hosts and the apt proxy; default
	// $XDG_CACHE_HOME/omc, else ~/.cache/omc.
	Dir string
	// Stderr gets progress lines; nil discards them.
	Stderr io.Writer
	// Events gets each progress line as an Event (phase "log") as well,
	// as the cloud providers' lines: omc renders them with the others.
	Events func(providers.Event)
	// Network is the range host links are carved from; default DefaultNetwork.
	Network netip.Prefix
	// BootTimeout bounds each host's boot until sshd answers; default 90 s.
	BootTimeout time.Duration
	// Parallel bounds how many hosts boot at once; default 4.
	Parallel int
	// NspawnArgs are more systemd-nspawn arguments for every host this
	// provider boots: the capabilities and system calls a test host needs
	// to run Docker, which omc's own hosts do not get.
	NspawnArgs []string
	// NspawnEnv is more environment for systemd-nspawn, e.g.
	// SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 (cgroup v2 inside, for Docker).
	NspawnEnv []string
}

// Provider serves groups with provider: local.
type Provider struct {
	dir         string
	stderr      io.Writer
	events      func(providers.Event)
	network     netip.Prefix
	bootTimeout time.Duration
	parallel    int
	nspawnArgs  []string
	nspawnEnv   []string

	logMu   sync.Mutex
	keyOnce sync.Mutex
}

var _ providers.Provider = (*Provider)(nil)

// NotReadyError says what this machine lacks to run local hosts.
type NotReadyError struct {
	Missing []string
	// NeedTools is set when a command is missing, not only root.
	NeedTools bool
}

func (e *NotReadyError) Error() string {
	msg := "local provider cannot run here: " + strings.Join(e.Missing, "; ")
	if e.NeedTools {
		msg += "; install them as root: apt-get install debootstrap systemd-container apt-cacher-ng iproute2 nftables"
	}
	return msg
}

// tools maps each command the provider runs to its Debian package.
var tools = []struct{ cmd, pkg string }{
	{"debootstrap", "debootstrap"},
	{"systemd-nspawn", "systemd-container"},
	{"ip", "iproute2"},
	{"apt-cacher-ng", "apt-cacher-ng"},
}

// Check reports what this machine lacks, nil when nothing.
func Check() error {
	var missing []string
	if runtime.GOOS != "linux" {
		return &NotReadyError{Missing: []string{"needs Linux, this is " + runtime.GOOS}}
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "needs root for network namespaces, mounts and nspawn: run omc as root")
	}
	needTools := false
	for _, t := range tools {
		if findTool(t.cmd) == "" {
			missing = append(missing, fmt.Sprintf("%s not found (package %s)", t.cmd, t.pkg))
			needTools = true
		}
	}
	if len(missing) > 0 {
		return &NotReadyError{Missing: missing, NeedTools: needTools}
	}
	return nil
}

// New checks the machine and returns a provider; it changes nothing yet.
func New(opts Options) (*Provider, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	dir := opts.Dir
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("local provider: no cache dir: %w", err)
		}
		dir = filepath.Join(cache, "omc")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	p := &Provider{dir: dir, stderr: opts.Stderr, events: opts.Events, network: opts.Network, bootTimeout: opts.BootTimeout, parallel: opts.Parallel,
		nspawnArgs: slices.Clone(opts.NspawnArgs), nspawnEnv: slices.Clone(opts.NspawnEnv)}
	if p.stderr == nil {
		p.stderr = io.Discard
	}
	if !p.network.IsValid() {
		p.network = DefaultNetwork
	}
	if p.bootTimeout <= 0 {
		p.bootTimeout = 90 * time.Second
	}
	if p.parallel <= 0 {
		p.parallel = 4
	}
	return p, nil
}

// Dir is where the provider keeps its images and hosts.
func (p *Provider) Dir() string { return p.dir }

func (p *Provider) logf(format string, args ...any) {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	msg := fmt.Sprintf("local: "+format, args...)
	fmt.Fprintln(p.stderr, msg)
	if p.events != nil {
		p.events(providers.Event{Provider: "local", Phase: "log", Message: msg})
	}
}

func (p *Provider) hostsDir(inv string) string { return filepath.Join(p.dir, "hosts", inv) }

func (p *Provider) hostDir(inv, node string) string { return filepath.Join(p.dir, "hosts", inv, node) }

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func checkName(kind, s string) error {
	if !nameRE.MatchString(s) {
		return fmt.Errorf("local provider: %s name %q must be a DNS label (lowercase letters, digits, '-')", kind, s)
	}
	return nil
}

func machineOf(st *state) providers.Machine {
	return providers.Machine{
		Name: st.Node, ID: st.dir, Address: st.HostAddr, Port: 22,
		HostKeys: []string{st.HostKey}, Status: st.status(),
	}
}

// List returns the group's hosts from the state dir; a host is "running"
// while its systemd-nspawn lives, "stopped" otherwise (after the machine
// rebooted, say: Create starts it again), and "creating" while another
// omc makes it.
func (p *Provider) List(_ context.Context, inv *inventory.Inventory, g *inventory.Group) ([]providers.Machine, error) {
	sts, err := p.states(inv.Name)
	if err != nil {
		return nil, err
	}
	// A host still "creating" (or "deleting") while nobody holds the
	// inventory's lock was abandoned by a crash: it does not exist, and
	// the next Create replaces it.
	abandoned := false
	for _, st := range sts {
		if st.Phase != phaseReady {
			if l, _ := tryLockFile(p.hostsDir(inv.Name) + ".lock"); l != nil {
				abandoned = true
				l.unlock()
			}
			break
		}
	}
	var ms []providers.Machine
	for _, st := range sts {
		if st.Group == g.Name && !(abandoned && st.Phase != phaseReady) {
			ms = append(ms, machineOf(st))
		}
	}
	return ms, nil
}

// states reads the hosts of one inventory; unreadable ones are skipped
// (Cleanup removes them).
func (p *Provider) states(inv string) ([]*state, error) {
	ents, err := os.ReadDir(p.hostsDir(inv))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var sts []*state
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if st, err := readState(filepath.Join(p.hostsDir(inv), e.Name())); err == nil {
			sts = append(sts, st)
		}
	}
	return sts, nil
}

// allStates reads the hosts of every inventory in the cache dir.
func (p *Provider) allStates() ([]*state, error) {
	invs, err := p.inventories()
	if err != nil {
		return nil, err
	}
	var all []*state
	for _, inv := range invs {
		sts, err := p.states(inv)
		if err != nil {
			return nil, err
		}
		all = append(all, sts...)
	}
	return all, nil
}

func (p *Provider) inventories() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(p.dir, "hosts"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var invs []string
	for _, e := range ents {
		if e.IsDir() {
			invs = append(invs, e.Name())
		}
	}
	return invs, err
}
