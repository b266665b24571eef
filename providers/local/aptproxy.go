package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProxyPort is where the apt proxy listens on each link's machine address.
const ProxyPort = 3142

// The apt proxy is omc's own apt-cacher-ng instance, with its config,
// cache, logs and socket under <Dir>/aptproxy. omc runs its own rather
// than reconfiguring the machine's service so that /etc is never touched
// and a machine without systemd as PID 1 works the same. It listens only
// on the machines's ends of the host links (BindAddress), so nothing off
// the machine can use it. Hosts reach the archive only through it: they
// have no route out.

type proxyState struct {
	PID   int      `json:"pid"`
	Binds []string `json:"binds"`
}

func (p *Provider) proxyDir() string { return filepath.Join(p.dir, "aptproxy") }

// ensureProxy makes sure the proxy runs and listens on every live link's
// machine address. It restarts the proxy only when an address is new: a
// socket bound to an address that was removed (a deleted host) keeps
// working when the address comes back. The restart takes about a second;
// an apt download running on another host at that moment fails, and the
// next converge retries it.
func (p *Provider) ensureProxy(ctx context.Context) error {
	dir := p.proxyDir()
	lock, err := lockFile(ctx, filepath.Join(dir, "lock"))
	if err != nil {
		return err
	}
	defer lock.unlock()

	want, err := p.liveMachineAddrs()
	if err != nil {
		return err
	}
	if len(want) == 0 {
		return nil
	}
	var ps proxyState
	if b, err := os.ReadFile(filepath.Join(dir, "state.json")); err == nil {
		json.Unmarshal(b, &ps)
	}
	running := ps.PID > 0 && p.isOurProxy(ps.PID)
	if running && subset(want, ps.Binds) {
		return nil
	}
	if running {
		stopPID(ctx, ps.PID, 10*time.Second)
	}
	if pid, addr := listenerOn(ProxyPort); pid != 0 || addr != "" {
		return fmt.Errorf("apt proxy: port %d is already taken on %s (by %s); omc runs its own apt-cacher-ng there. "+
			"Stop the other one (e.g. systemctl disable --now apt-cacher-ng)", ProxyPort, addr, procName(pid))
	}
	if err := p.writeProxyConfig(want); err != nil {
		return fmt.Errorf("apt proxy: writing config: %w", err)
	}
	pid, _, err := startDetached(filepath.Join(dir, "acng.out"), nil,
		"apt-cacher-ng", "-c", filepath.Join(dir, "conf"), "ForeGround=1")
	if err != nil {
		return fmt.Errorf("apt proxy: starting apt-cacher-ng: %w", err)
	}
	ps = proxyState{PID: pid, Binds: want}
	b, _ := json.Marshal(ps)
	if err := writeFileAtomic(filepath.Join(dir, "state.json"), b, 0o600); err != nil {
		return err
	}
	// Ready when it answers on every address (bounded).
	deadline := time.Now().Add(15 * time.Second)
	for _, a := range want {
		for {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(a, strconv.Itoa(ProxyPort)), time.Second)
			if err == nil {
				c.Close()
				break
			}
			if !alive(pid) {
				return fmt.Errorf("apt proxy: apt-cacher-ng exited; see %s", filepath.Join(dir, "acng.out"))
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("apt proxy: not answering on %s:%d after 15s: %v", a, ProxyPort, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// stopProxy stops the proxy; used when the last host of the cache is gone.
func (p *Provider) stopProxy(ctx context.Context) {
	var ps proxyState
	b, err := os.ReadFile(filepath.Join(p.proxyDir(), "state.json"))
	if err != nil || json.Unmarshal(b, &ps) != nil {
		return
	}
	if ps.PID > 0 && p.isOurProxy(ps.PID) {
		stopPID(ctx, ps.PID, 10*time.Second)
	}
	os.Remove(filepath.Join(p.proxyDir(), "state.json"))
}

func (p *Provider) isOurProxy(pid int) bool {
	return alive(pid) && cmdlineHas(pid, filepath.Join(p.proxyDir(), "conf"))
}

// liveMachineAddrs are the machine ends of the links that exist now, in
// every inventory of the cache dir.
func (p *Provider) liveMachineAddrs() ([]string, error) {
	sts, err := p.allStates()
	if err != nil {
		return nil, err
	}
	var as []string
	for _, st := range sts {
		if linkExists(st.NetNS) {
			as = append(as, st.MachineAddr)
		}
	}
	slices.Sort(as)
	return slices.Compact(as), nil
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// writeProxyConfig writes conf/acng.conf and the backends files. Debian
// and Ubuntu URLs are remapped to the mirrors the images come from: out of
// the box apt-cacher-ng picks from its own mirror list, which a machine
// that only reaches its own mirror answers with "503 Host not found".
func (p *Provider) writeProxyConfig(binds []string) error {
	dir := p.proxyDir()
	conf := filepath.Join(dir, "conf")
	for _, d := range []string{conf, filepath.Join(dir, "cache"), filepath.Join(dir, "log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	acng := strings.Join([]string{
		"# Written by omc's local provider; rewritten whenever hosts are added.",
		"CacheDir: " + filepath.Join(dir, "cache"),
		"LogDir: " + filepath.Join(dir, "log"),
		"SupportDir: /usr/lib/apt-cacher-ng",
		"SocketPath: " + filepath.Join(dir, "socket"),
		"Port: " + strconv.Itoa(ProxyPort),
		"BindAddress: " + strings.Join(binds, " "),
		"Remap-debrep: file:deb_mirror*.gz /debian ; file:backends_debian",
		"Remap-uburep: file:ubuntu_mirrors /ubuntu ; file:backends_ubuntu",
		"Remap-secdeb: security.debian.org security.debian.org/debian-security deb.debian.org/debian-security /debian-security ; deb.debian.org/debian-security security.debian.org",
		"ReportPage: acng-report.html",
		"ExThreshold: 4",
		"",
	}, "\n")
	files := map[string]string{"acng.conf": acng}
	for _, im := range images {
		m := im.Mirror
		if m == "" {
			m = machineDebianMirror()
		}
		files["backends_"+im.Distro] = m + "/\n"
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(conf, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// listenerOn finds a TCP listener on port bound to all addresses (which
// would keep ours from binding) and its owner, from /proc/net/tcp{,6}.
func listenerOn(port int) (pid int, addr string) {
	hexPort := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "0A" || !strings.HasSuffix(fs[1], hexPort) {
				continue
			}
			local := strings.TrimSuffix(fs[1], hexPort)
			if strings.Trim(local, "0") != "" {
				continue // a specific address: ours can bind beside it
			}
			a := "0.0.0.0"
			if len(local) > 8 {
				a = "[::]"
			}
			return socketOwner(fs[9]), a
		}
	}
	return 0, ""
}

// socketOwner finds the process holding socket inode ino, 0 if unknown.
func socketOwner(ino string) int {
	target := "socket:[" + ino + "]"
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && l == target {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid
		}
	}
	return 0
}

func procName(pid int) string {
	if pid == 0 {
		return "an unknown process"
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return fmt.Sprintf("%s, pid %d", strings.TrimSpace(string(b)), pid)
}

// stopPID sends SIGTERM, then SIGKILL after d.
func stopPID(ctx context.Context, pid int, d time.Duration) {
	if err := syscall.Kill(pid, syscall.SIGTERM); errors.Is(err, syscall.ESRCH) {
		return
	}
	if !waitGone(ctx, pid, d) {
		syscall.Kill(pid, syscall.SIGKILL)
		waitGone(context.Background(), pid, 5*time.Second)
	}
}
