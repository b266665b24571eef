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
// --register=no --keep-unit).
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
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
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
	// Network is the range host links are carved from; default DefaultNetwork.
	Network netip.Prefix
	// BootTimeout bounds each host's boot until sshd answers; default 90 s.
	BootTimeout time.Duration
	// Parallel bounds how many hosts boot at once; default 4.
	Parallel int
}

// Provider serves groups with provider: local.
type Provider struct {
	dir         string
	stderr      io.Writer
	network     netip.Prefix
	bootTimeout time.Duration
	parallel    int

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
	p := &Provider{dir: dir, stderr: opts.Stderr, network: opts.Network, bootTimeout: opts.BootTimeout, parallel: opts.Parallel}
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
	fmt.Fprintf(p.stderr, "local: "+format+"\n", args...)
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
	// A host still "creating" while nobody holds the inventory's lock was
	// abandoned by a crash: it does not exist, and the next Create
	// replaces it.
	abandoned := false
	for _, st := range sts {
		if st.Phase == phaseCreating {
			if l, _ := tryLockFile(p.hostsDir(inv.Name) + ".lock"); l != nil {
				abandoned = true
				l.unlock()
			}
			break
		}
	}
	var ms []providers.Machine
	for _, st := range sts {
		if st.Group == g.Name && !(abandoned && st.Phase == phaseCreating) {
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

// job is one host to bring up.
type job struct {
	st    *state
	node  *inventory.Node
	fresh bool // rootfs is the bare image: write the host's files
}

// Create makes the missing hosts, starts stopped ones, and waits until
// each answers on SSH with its known host key. Running hosts are returned
// unchanged.
func (p *Provider) Create(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, nodes []*inventory.Node) ([]providers.Machine, error) {
	return p.up(ctx, inv, g, nodes, false)
}

// Rebuild returns hosts to a fresh image, keeping name, address and host key.
func (p *Provider) Rebuild(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, nodes []*inventory.Node) ([]providers.Machine, error) {
	return p.up(ctx, inv, g, nodes, true)
}

func (p *Provider) up(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, nodes []*inventory.Node, rebuild bool) ([]providers.Machine, error) {
	if err := checkName("inventory", inv.Name); err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if err := checkName("node", n.Name); err != nil {
			return nil, err
		}
	}
	im, err := lookupImage(g.Image)
	if err != nil {
		return nil, err
	}
	if err := p.Cleanup(ctx); err != nil {
		return nil, err
	}
	if _, err := p.ensureImage(ctx, im); err != nil {
		return nil, err
	}
	lock, err := lockFile(ctx, p.hostsDir(inv.Name)+".lock")
	if err != nil {
		return nil, err
	}
	defer lock.unlock()

	ready := map[string]providers.Machine{}
	var jobs []*job
	var errs []error
	for _, n := range nodes {
		st, err := readState(p.hostDir(inv.Name, n.Name))
		switch {
		case err == nil && st.Group != g.Name:
			errs = append(errs, &HostError{n.Name, "checking", fmt.Errorf("already exists in group %s", st.Group)})
		case err == nil && rebuild:
			p.logf("%s: rebuilding from %s", n.Name, st.Image)
			if err := p.stopHost(ctx, st); err != nil {
				errs = append(errs, err)
				continue
			}
			st.Phase, st.Image, st.PID = phaseCreating, im.Name, 0
			if err := st.write(); err != nil {
				errs = append(errs, hostErr(st, "writing state", err))
				continue
			}
			if err := resetRootfs(st); err != nil {
				errs = append(errs, hostErr(st, "resetting rootfs", err))
				continue
			}
			jobs = append(jobs, &job{st: st, node: n, fresh: true})
		case err == nil && st.running():
			ready[n.Name] = machineOf(st)
		case err == nil:
			p.logf("%s: starting (was stopped)", n.Name)
			jobs = append(jobs, &job{st: st, node: n})
		default:
			jobs = append(jobs, &job{node: n, fresh: true})
		}
	}
	if err := p.newStates(ctx, inv.Name, g.Name, im.Name, jobs); err != nil {
		return nil, err
	}
	// Links first, so the apt proxy can bind their addresses before hosts boot.
	var live []*job
	for _, j := range jobs {
		if err := setupLink(ctx, j.st); err != nil {
			errs = append(errs, hostErr(j.st, "making network namespace", err))
			continue
		}
		live = append(live, j)
	}
	if len(live) > 0 {
		err := isolate(ctx)
		if err == nil {
			err = p.ensureProxy(ctx)
		}
		if err != nil {
			for _, j := range live {
				p.stopHost(context.Background(), j.st)
			}
			return nil, err
		}
	}
	var mu sync.Mutex
	parallel(p.parallel, len(live), func(i int) {
		j := live[i]
		err := p.bringUp(ctx, j)
		if err != nil {
			// Stopped, not removed: a new host stays "creating" and the
			// next call's Cleanup removes it; console.log is there till then.
			p.stopHost(context.Background(), j.st)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		ready[j.st.Node] = machineOf(j.st)
	})
	var ms []providers.Machine
	for _, n := range nodes {
		if m, ok := ready[n.Name]; ok {
			ms = append(ms, m)
		}
	}
	return ms, errors.Join(errs...)
}

// newStates allocates an address and a host key for each new host and
// records them before anything is made on the machine, so a crash from
// here on leaves a state file that tells Cleanup what to remove. The
// allocation lock covers every inventory in the cache dir.
func (p *Provider) newStates(ctx context.Context, inv, group, image string, jobs []*job) error {
	need := false
	for _, j := range jobs {
		need = need || j.st == nil
	}
	if !need {
		return nil
	}
	lock, err := lockFile(ctx, filepath.Join(p.dir, "hosts", ".alloc.lock"))
	if err != nil {
		return err
	}
	defer lock.unlock()
	all, err := p.allStates()
	if err != nil {
		return err
	}
	used := map[netip.Prefix]bool{}
	for _, st := range all {
		if pf, err := netip.ParsePrefix(st.Subnet); err == nil {
			used[pf] = true
		}
	}
	routes, err := machineRoutes()
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if j.st != nil {
			continue
		}
		dir := p.hostDir(inv, j.node.Name)
		ns := nameFor(p.dir, inv, j.node.Name)
		l, err := allocate(p.network, inv, j.node.Name, ns, used, routes)
		if err != nil {
			return &HostError{j.node.Name, "allocating address", err}
		}
		used[l.Subnet] = true
		key, err := newHostKey("root@" + j.node.Name)
		if err != nil {
			return &HostError{j.node.Name, "making host key", err}
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return &HostError{j.node.Name, "making host dir", err}
		}
		if err := writeFileAtomic(filepath.Join(dir, "ssh_host_ed25519_key"), key.private, 0o600); err != nil {
			return &HostError{j.node.Name, "writing host key", err}
		}
		j.st = &state{
			Version: stateVersion, Inventory: inv, Group: group, Node: j.node.Name, Image: image,
			Phase: phaseCreating, NetNS: ns, Subnet: l.Subnet.String(),
			MachineAddr: l.Machine.String(), HostAddr: l.Host.String(),
			HostKey: key.public, Created: time.Now().UTC(), dir: dir,
		}
		if err := j.st.write(); err != nil {
			return &HostError{j.node.Name, "writing state", err}
		}
	}
	return nil
}

// bringUp mounts the root, writes the host's files on a fresh root,
// boots, and waits for SSH.
func (p *Provider) bringUp(ctx context.Context, j *job) error {
	st := j.st
	start := time.Now()
	// The host's own image, which is not the group's when the group's
	// image: changed since (Rebuild moves it to the new one).
	lower := p.imageRoot(st.Image)
	if _, err := os.Stat(filepath.Join(lower, "usr/lib/os-release")); err != nil {
		return hostErr(st, "preparing rootfs", fmt.Errorf("its image %s is gone from %s; rebuild the host", st.Image, lower))
	}
	if err := p.mountRootfs(ctx, st, lower); err != nil {
		return hostErr(st, "preparing rootfs", err)
	}
	if j.fresh {
		key, err := loadHostKey(filepath.Join(st.dir, "ssh_host_ed25519_key"))
		if err != nil {
			return hostErr(st, "reading host key", err)
		}
		auth, err := p.authorizedKeys(j.node)
		if err != nil {
			return hostErr(st, "finding SSH keys", err)
		}
		if err := p.writeHostFiles(ctx, st, hostFiles{hostKey: key, authorizedKeys: auth, user: j.node.SSH.User}); err != nil {
			return hostErr(st, "writing host files", err)
		}
	}
	if err := p.boot(st); err != nil {
		return hostErr(st, "booting", err)
	}
	if err := p.waitSSH(ctx, st, p.bootTimeout); err != nil {
		return hostErr(st, "waiting for sshd", err)
	}
	st.Phase = phaseReady
	if err := st.write(); err != nil {
		return hostErr(st, "writing state", err)
	}
	p.logf("%s: up at %s (ssh after %s)", st.Node, st.HostAddr, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// Delete stops the named hosts of group g and removes everything they
// had on the machine. Unknown names are not an error.
func (p *Provider) Delete(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, names []string) error {
	if err := p.Cleanup(ctx); err != nil {
		return err
	}
	lock, err := lockFile(ctx, p.hostsDir(inv.Name)+".lock")
	if err != nil {
		return err
	}
	defer lock.unlock()
	var sts []*state
	for _, name := range names {
		if checkName("node", name) != nil {
			continue
		}
		st, err := readState(p.hostDir(inv.Name, name))
		if err == nil && st.Group == g.Name {
			sts = append(sts, st)
		}
	}
	var mu sync.Mutex
	var errs []error
	parallel(p.parallel, len(sts), func(i int) {
		if err := p.removeHost(ctx, sts[i]); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			return
		}
		p.logf("%s: deleted", sts[i].Node)
	})
	os.Remove(p.hostsDir(inv.Name)) // only if empty
	p.idle(ctx)
	return errors.Join(errs...)
}

// removeHost stops a host and deletes its dir.
func (p *Provider) removeHost(ctx context.Context, st *state) error {
	if err := p.stopHost(ctx, st); err != nil {
		return err
	}
	return hostErr(st, "removing host dir", removeTree(st.dir))
}

// removeTree deletes dir, unmounting what is mounted below it first and
// refusing if anything stays mounted: deleting through a mount (a bind of
// /dev or /proc left by a killed debootstrap) would delete the machine's
// own files.
func removeTree(dir string) error {
	unmountUnder(dir)
	if ms := mountsUnder(dir); len(ms) > 0 {
		return fmt.Errorf("not removing %s: still mounted below it: %s", dir, strings.Join(ms, ", "))
	}
	return os.RemoveAll(dir)
}

// idle stops what serves hosts (apt proxy, forwarding rule) once the cache
// dir has none left.
func (p *Provider) idle(ctx context.Context) {
	lock, err := lockFile(ctx, filepath.Join(p.proxyDir(), "lock"))
	if err != nil {
		return
	}
	defer lock.unlock()
	if sts, err := p.allStates(); err == nil && len(sts) == 0 {
		p.stopProxy(ctx)
	}
	unisolate(ctx)
}

// Cleanup removes what crashed runs left behind, in every inventory whose
// lock nobody holds: hosts whose creation never finished are removed
// (dir, mounts, netns, veth, processes); finished hosts whose nspawn is
// gone lose their leftover mounts and netns but keep their disk, so the
// next Create starts them again. Create, Rebuild and Delete call it first.
func (p *Provider) Cleanup(ctx context.Context) error {
	invs, err := p.inventories()
	if err != nil {
		return err
	}
	var errs []error
	for _, inv := range invs {
		lock, err := tryLockFile(p.hostsDir(inv) + ".lock")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if lock == nil {
			continue // another omc is working on it
		}
		errs = append(errs, p.cleanInventory(ctx, inv, false))
		lock.unlock()
	}
	p.idle(ctx)
	return errors.Join(errs...)
}

// DeleteAll removes every host of every inventory in the cache dir (the
// image stays), waiting for other omc runs to finish with them: for CI
// teardown and for cleaning up by hand without an inventory.
func (p *Provider) DeleteAll(ctx context.Context) error {
	invs, err := p.inventories()
	if err != nil {
		return err
	}
	var errs []error
	for _, inv := range invs {
		lock, err := lockFile(ctx, p.hostsDir(inv)+".lock")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, p.cleanInventory(ctx, inv, true))
		lock.unlock()
	}
	p.idle(ctx)
	return errors.Join(errs...)
}

// cleanInventory removes abandoned hosts of inv (all of them when all is
// set) and frees what stopped ones left; the caller holds inv's lock.
func (p *Provider) cleanInventory(ctx context.Context, inv string, all bool) error {
	ents, err := os.ReadDir(p.hostsDir(inv))
	if err != nil {
		return nil
	}
	var errs []error
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(p.hostsDir(inv), e.Name())
		st, err := readState(dir)
		if err != nil {
			// No usable state: the names are derived, so the leftovers can
			// still be found.
			st = &state{Node: e.Name(), NetNS: nameFor(p.dir, inv, e.Name()), dir: dir}
			p.logf("%s: removing a host without a usable state (%v)", e.Name(), err)
			errs = append(errs, p.removeHost(ctx, st))
			continue
		}
		switch {
		case all:
			errs = append(errs, p.removeHost(ctx, st))
		case st.Phase != phaseReady:
			p.logf("%s: removing a host whose creation did not finish", st.Node)
			errs = append(errs, p.removeHost(ctx, st))
		case !st.running() && (len(mountsUnder(dir)) > 0 || netnsExists(st.NetNS) || linkExists(st.NetNS)):
			p.logf("%s: freeing what the stopped host left behind", st.Node)
			errs = append(errs, p.stopHost(ctx, st))
		}
	}
	os.Remove(p.hostsDir(inv))
	return errors.Join(errs...)
}

// parallel runs f(0..n-1), at most limit at a time.
func parallel(limit, n int, f func(i int)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}

// findTool finds a command in PATH or in the sbin dirs a non-login root
// shell may lack; "" when there is none.
func findTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		if fi, err := os.Stat(filepath.Join(d, name)); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return filepath.Join(d, name)
		}
	}
	return ""
}

// lookTool is findTool, or name itself so exec's error names it.
func lookTool(name string) string {
	if p := findTool(name); p != "" {
		return p
	}
	return name
}

// run runs a command and returns its output; the error carries the output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	return runInput(ctx, "", name, args...)
}

func runInput(ctx context.Context, input, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, lookTool(name), args...)
	if input != "" {
		cmd.Stdin = strings.NewReader(input)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(lastLines(out.String(), 5)))
	}
	return out.String(), nil
}

// runLogged runs a long command with its output in a log file; the error
// names the file and quotes its end.
func runLogged(ctx context.Context, logPath, name string, args ...string) error {
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, lookTool(name), args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	// SIGTERM first: debootstrap unmounts the /proc and /sys it mounted
	// in the target on the way out, SIGKILL would leave them.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(logPath)
		return fmt.Errorf("%w (log %s): %s", err, logPath, strings.TrimSpace(lastLines(string(b), 5)))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startDetached starts a process that outlives omc: its own session (no
// signals from omc's terminal), stdin /dev/null, output appended to
// logPath. omc reaps it while it lives, so it never lingers as a zombie.
func startDetached(logPath string, env []string, name string, args ...string) (int, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	cmd := exec.Command(lookTool(name), args...)
	cmd.Stdout, cmd.Stderr = f, f
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "NOTIFY_SOCKET=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	go cmd.Wait()
	return cmd.Process.Pid, nil
}
