package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers/local"
)

// Host is one benchmark target.
type Host struct {
	Name    string
	Addr    string
	Port    int
	HostKey string // authorized_keys form
	// Root is where the host's managed files are on this machine (the
	// bench's own checks read them there); In is the same directory as
	// the host's own processes see it. Both "" on local hosts. Loopback
	// hosts share one In, a bind mount of their Root in each sshd's mount
	// namespace: every host sees the same paths, as real servers do, so
	// one group-level list of steps serves them all.
	Root, In string

	// local (nspawn) hosts
	stateFile string
	// loopback hosts
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	conf    string
	logPath string
}

// Fleet is a set of hosts of one kind.
type Fleet interface {
	Kind() string // "local" (systemd-nspawn) or "loopback" (sshd processes)
	Systemd() bool
	Hosts() []*Host
	// Reset returns the first n hosts to a fresh state (cold).
	Reset(ctx context.Context, n int) error
	// Exec runs a script as root on the host without SSH (checker, drift).
	Exec(ctx context.Context, h *Host, script string) (string, error)
	// Counts returns the host's cumulative SSH counts from its sshd's log:
	// connections (Accepted publickey), sessions (Starting session), sftp.
	Counts(ctx context.Context, h *Host) (conns, sessions, sftp int, err error)
	Down(ctx context.Context, h *Host) error
	Up(ctx context.Context, h *Host) error
	Close(ctx context.Context) error
}

func countLog(s string) (conns, sessions, sftp int) {
	for _, l := range strings.Split(s, "\n") {
		switch {
		case strings.Contains(l, "Accepted publickey"):
			conns++
		case strings.Contains(l, "Starting session:"):
			sessions++
			if strings.Contains(l, "subsystem 'sftp'") {
				sftp++
			}
		}
	}
	return
}

// --- local hosts: the local provider's systemd-nspawn containers ---

type nspawnFleet struct {
	p     *local.Provider
	inv   *inventory.Inventory
	hosts []*Host
	dir   string
}

const provInventory = "omcbench"

// newNspawnFleet makes n local hosts. afterBuild, when not nil, runs
// after the provider has made them (and so its image) and the hosts are
// then rebuilt from the image it changed.
func newNspawnFleet(ctx context.Context, work, cacheDir string, n int, pubKeyFile string, afterBuild func() error) (*nspawnFleet, error) {
	invPath := filepath.Join(work, "provider.yaml")
	priv := strings.TrimSuffix(pubKeyFile, ".pub")
	if err := writeYAML(invPath, map[string]any{
		"apiVersion": "omc/v1", "name": provInventory,
		"defaults": map[string]any{"ssh": map[string]any{"key": priv}},
		"groups":   map[string]any{"bench": map[string]any{"provider": "local", "count": n, "name": "bench-{n}"}},
	}); err != nil {
		return nil, err
	}
	inv, err := inventory.Load(invPath)
	if err != nil {
		return nil, err
	}
	p, err := local.New(local.Options{Dir: cacheDir, Stderr: os.Stderr, Parallel: 4})
	if err != nil {
		return nil, err
	}
	f := &nspawnFleet{p: p, inv: inv, dir: p.Dir()}
	ms, err := p.Create(ctx, inv, inv.Group("bench"), inv.Nodes())
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*nspawnFleet, error) { // no host outlives a failed start
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		_ = f.Close(dctx)
		return nil, err
	}
	if afterBuild != nil {
		if err := afterBuild(); err != nil {
			return fail(err)
		}
		if ms, err = p.Rebuild(ctx, inv, inv.Group("bench"), inv.Nodes()); err != nil {
			return fail(err)
		}
	}
	byName := map[string]int{}
	for i, m := range ms {
		byName[m.Name] = i
	}
	for _, node := range inv.Nodes() {
		m := ms[byName[node.Name]]
		h := &Host{Name: m.Name, Addr: m.Address, Port: 22, stateFile: filepath.Join(f.dir, "hosts", provInventory, m.Name, "state.json")}
		if m.Port != 0 {
			h.Port = m.Port
		}
		if len(m.HostKeys) > 0 {
			h.HostKey = m.HostKeys[0]
		}
		f.hosts = append(f.hosts, h)
	}
	if err := f.prepare(ctx, f.hosts); err != nil {
		return fail(err)
	}
	return f, nil
}

func nodeNames(inv *inventory.Inventory) []string {
	var out []string
	for _, n := range inv.Nodes() {
		out = append(out, n.Name)
	}
	return out
}

func (f *nspawnFleet) Kind() string   { return "local" }
func (f *nspawnFleet) Systemd() bool  { return true }
func (f *nspawnFleet) Hosts() []*Host { return f.hosts }
func (f *nspawnFleet) Close(ctx context.Context) error {
	return f.p.Delete(ctx, f.inv, f.inv.Group("bench"), nodeNames(f.inv))
}

// prepare makes fresh hosts what every arm expects of a server: sshd
// logging each connection and session (LogLevel VERBOSE, for the
// counts); python3 and python3-apt come with the bench's image.
func (f *nspawnFleet) prepare(ctx context.Context, hosts []*Host) error {
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			_, errs[i] = f.Exec(ctx, h, `set -e
printf 'LogLevel VERBOSE\n' > /etc/ssh/sshd_config.d/00-bench-log.conf
systemctl reload ssh
dpkg-query -W -f='${db:Status-Abbrev}' python3 python3-apt | grep -q 'ii ii'`)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("preparing %s: %w", hosts[i].Name, err)
		}
	}
	return nil
}

func (f *nspawnFleet) Reset(ctx context.Context, n int) error {
	var nodes []*inventory.Node
	for _, node := range f.inv.Nodes()[:n] {
		nodes = append(nodes, node)
	}
	if _, err := f.p.Rebuild(ctx, f.inv, f.inv.Group("bench"), nodes); err != nil {
		return err
	}
	return f.prepare(ctx, f.hosts[:n])
}

// initPID is the container's PID 1: the child of systemd-nspawn.
func (f *nspawnFleet) initPID(h *Host) (int, error) {
	b, err := os.ReadFile(h.stateFile)
	if err != nil {
		return 0, err
	}
	var st struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return 0, err
	}
	c, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", st.PID, st.PID))
	if err != nil {
		return 0, fmt.Errorf("%s: nspawn pid %d: %w", h.Name, st.PID, err)
	}
	fs := strings.Fields(string(c))
	if len(fs) == 0 {
		return 0, fmt.Errorf("%s: nspawn pid %d has no child", h.Name, st.PID)
	}
	return strconv.Atoi(fs[0])
}

func (f *nspawnFleet) Exec(ctx context.Context, h *Host, script string) (string, error) {
	pid, err := f.initPID(h)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(pid), "-m", "-u", "-i", "-n", "-p", "--",
		"/usr/bin/env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8", "HOME=/root", "/bin/sh", "-c", script)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %v: %s", h.Name, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (f *nspawnFleet) Counts(ctx context.Context, h *Host) (int, int, int, error) {
	out, err := f.Exec(ctx, h, "journalctl -q --no-pager -o cat _COMM=sshd -g 'Accepted publickey|Starting session:' 2>/dev/null || true")
	if err != nil {
		return 0, 0, 0, err
	}
	c, s, sf := countLog(out)
	return c, s, sf, nil
}

// Down takes the host's link down: to the others it is a server that
// stopped answering (SYNs go unanswered), not one that refuses.
func (f *nspawnFleet) Down(ctx context.Context, h *Host) error {
	_, err := f.Exec(ctx, h, "ip link set eth0 down")
	return err
}

func (f *nspawnFleet) Up(ctx context.Context, h *Host) error {
	_, err := f.Exec(ctx, h, "ip link set eth0 up")
	if err != nil {
		return err
	}
	return waitTCP(ctx, h, 30*time.Second)
}

func waitTCP(ctx context.Context, h *Host, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s: sshd not answering: %v", h.Name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// --- loopback hosts: one sshd per host on 127.0.0.1 ---

type loopFleet struct {
	work   string
	hosts  []*Host
	bashrc string
	in     string // every host's In: the mount point of its Root
}

const loopBasePort = 22200

// Initial contents of the files the workload edits, as a fresh
// Debian 12 server with coturn has them.
const (
	baseHosts  = "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n"
	baseCoturn = "#\n# Uncomment it if you want to have the turnserver running as\n# an automatic system service daemon\n#\n#TURNSERVER_ENABLED=1\n\n# Alternative configuration file\n#EXTRA_OPTIONS=\"-c /etc/turnserver.conf\"\n"
)

func newLoopFleet(ctx context.Context, work string, n int, authorizedKeys string) (*loopFleet, error) {
	f := &loopFleet{work: work, bashrc: filepath.Join(work, "loop", "bashrc"), in: filepath.Join(work, "host-root")}
	for _, d := range []string{filepath.Join(work, "loop"), f.in} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// root's ~/.bashrc on this machine may run slow tools; a server's
	// does not: each sshd sees an empty one (bind mount in its own
	// mount namespace).
	if err := os.WriteFile(f.bashrc, []byte("# bench: no rc cost\n"), 0o644); err != nil {
		return nil, err
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("loop-%d", i)
		dir := filepath.Join(work, "loop", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		blk, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			return nil, err
		}
		keyPath := filepath.Join(dir, "ssh_host_ed25519_key")
		if err := os.WriteFile(keyPath, pem.EncodeToMemory(blk), 0o600); err != nil {
			return nil, err
		}
		signer, _ := ssh.NewSignerFromKey(priv)
		if !portFree(loopBasePort + i) {
			return nil, fmt.Errorf("loopback host %s: port %d is in use (another bench running, or -keep hosts left?)", name, loopBasePort+i)
		}
		h := &Host{Name: name, Addr: "127.0.0.1", Port: loopBasePort + i,
			HostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))),
			Root:    filepath.Join(work, "roots", name), In: f.in,
			conf: filepath.Join(dir, "sshd_config"), logPath: filepath.Join(dir, "sshd.log")}
		// StrictModes no: the key lives under WORK, by default in
		// /var/tmp (mode 1777), where sshd would refuse it.
		conf := fmt.Sprintf(`ListenAddress 127.0.0.1:%d
HostKey %s
PidFile none
AuthorizedKeysFile %s
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
LogLevel VERBOSE
Subsystem sftp /usr/lib/openssh/sftp-server
`, h.Port, keyPath, authorizedKeys)
		if err := os.WriteFile(h.conf, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(h.Root, 0o755); err != nil {
			return nil, err
		}
		f.hosts = append(f.hosts, h)
	}
	// Start in bounded parallel: 500 sshd one after another take a
	// minute; all at once, a fork storm on a small machine.
	if err := each(ctx, f.hosts, startParallel, func(h *Host) error { return f.start(ctx, h) }); err != nil {
		f.Close(ctx)
		return nil, err
	}
	return f, nil
}

// startParallel bounds the hosts started, checked or counted at once.
const startParallel = 16

// each runs fn on every host, at most par at once, and returns the first
// error. It stops starting new ones once ctx is done.
func each(ctx context.Context, hosts []*Host, par int, fn func(h *Host) error) error {
	errs := make([]error, len(hosts))
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, h := range hosts {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = context.Cause(ctx)
		}
		if errs[i] != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(h)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// portFree says whether nothing listens on 127.0.0.1:port yet, so that
// a loopback host does not collide with another program's port.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// start runs the host's sshd in its own mount namespace with a private
// tmpfs on /run (so omc's /run/omc/lock is per host, as on a server).
func (f *loopFleet) start(ctx context.Context, h *Host) error {
	logf, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	script := "mount -t tmpfs -o mode=0755 bench-run /run && mkdir -p /run/sshd && mount --bind " + shell.Quote(f.bashrc) + " /root/.bashrc && mount --bind " + shell.Quote(h.Root) + " " + shell.Quote(h.In) + " && exec /usr/sbin/sshd -D -e -f " + shell.Quote(h.conf)
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "--", "/bin/sh", "-c", script)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return err
	}
	h.cmd, h.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(h.done) }()
	return waitTCP(ctx, h, 10*time.Second)
}

func (f *loopFleet) Kind() string   { return "loopback" }
func (f *loopFleet) Systemd() bool  { return false }
func (f *loopFleet) Hosts() []*Host { return f.hosts }

func (f *loopFleet) Reset(ctx context.Context, n int) error {
	for _, h := range f.hosts[:n] {
		// Empty Root, but keep it: it is mounted in the host's namespace.
		old, err := os.ReadDir(h.Root)
		if err != nil {
			return err
		}
		for _, e := range old {
			if err := os.RemoveAll(filepath.Join(h.Root, e.Name())); err != nil {
				return err
			}
		}
		for p, c := range map[string]string{"/etc/hosts": baseHosts, "/etc/default/coturn": baseCoturn} {
			if err := os.MkdirAll(filepath.Dir(h.Root+p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(h.Root+p, []byte(c), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *loopFleet) Exec(ctx context.Context, h *Host, script string) (string, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %v: %s", h.Name, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (f *loopFleet) Counts(ctx context.Context, h *Host) (int, int, int, error) {
	b, err := os.ReadFile(h.logPath)
	if err != nil {
		return 0, 0, 0, err
	}
	c, s, sf := countLog(string(b))
	return c, s, sf, nil
}

// Down stops the host's sshd: connections are refused.
func (f *loopFleet) Down(ctx context.Context, h *Host) error {
	if h.cmd == nil || h.cmd.Process == nil {
		return nil
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)), 200*time.Millisecond)
		if err != nil {
			return nil
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s: sshd did not stop", h.Name)
}

func (f *loopFleet) Up(ctx context.Context, h *Host) error { return f.start(ctx, h) }

// Close stops every host's sshd and waits (bounded) for them to go, so
// that the next cell can take their ports.
func (f *loopFleet) Close(ctx context.Context) error {
	for _, h := range f.hosts {
		if h.cmd != nil && h.cmd.Process != nil {
			_ = h.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, h := range f.hosts {
		if h.done == nil {
			continue
		}
		select {
		case <-h.done:
		case <-time.After(time.Until(deadline)):
			_ = h.cmd.Process.Kill()
		}
	}
	return nil
}
