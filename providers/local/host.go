package local

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// HostError is a failed step on one host.
type HostError struct {
	Host, Step string
	Err        error
}

func (e *HostError) Error() string {
	return fmt.Sprintf("local host %s: %s: %v", e.Host, e.Step, e.Err)
}
func (e *HostError) Unwrap() error { return e.Err }

func hostErr(st *state, step string, err error) error {
	if err == nil {
		return nil
	}
	return &HostError{Host: st.Node, Step: step, Err: err}
}

// mountRootfs gives the host its root: an overlay whose lower layer is the
// image, so hosts share the image and each keeps only its changes. Where
// overlayfs cannot be mounted (the cache dir is itself on overlayfs or on
// a filesystem overlay refuses), the host gets a full copy instead, with
// reflinks where the filesystem has them.
func (p *Provider) mountRootfs(ctx context.Context, st *state, lower string) error {
	root := st.rootDir()
	if st.Rootfs == "copy" {
		if _, err := os.Stat(filepath.Join(root, "usr/lib/os-release")); err == nil {
			return nil
		}
		return copyRootfs(ctx, lower, root)
	}
	if isMountPoint(root) {
		return nil
	}
	upper, work := filepath.Join(st.dir, "upper"), filepath.Join(st.dir, "work")
	for _, d := range []string{root, upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	err := mountOverlay(root, opts)
	if err == nil {
		st.Rootfs = "overlay"
		return nil
	}
	if st.Rootfs == "overlay" {
		return fmt.Errorf("mounting overlay on %s: %w", root, err)
	}
	p.logf("%s: overlayfs not available here (%v); copying the image instead", st.Node, err)
	os.Remove(upper)
	os.Remove(work)
	st.Rootfs = "copy"
	return copyRootfs(ctx, lower, root)
}

func copyRootfs(ctx context.Context, lower, root string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	_, err := run(ctx, "cp", "-a", "--reflink=auto", lower+"/.", root+"/")
	return err
}

// resetRootfs drops everything the host changed, for Rebuild.
func resetRootfs(st *state) error {
	for _, d := range []string{"upper", "work", "rootfs"} {
		if err := removeTree(filepath.Join(st.dir, d)); err != nil {
			return err
		}
	}
	return nil
}

// mountsUnder lists mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var ms []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 {
			continue
		}
		mp := unescapeMount(fs[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			ms = append(ms, mp)
		}
	}
	sort.Slice(ms, func(i, j int) bool { return len(ms[i]) > len(ms[j]) })
	return ms
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isMountPoint(dir string) bool {
	for _, m := range mountsUnder(dir) {
		if m == dir {
			return true
		}
	}
	return false
}

// unmountUnder unmounts everything below dir; a busy mount is detached so
// it goes away when its last user does.
func unmountUnder(dir string) error {
	var errs []error
	for _, m := range mountsUnder(dir) {
		if err := unmount(m, false); err != nil && !errors.Is(err, syscall.EINVAL) {
			if err2 := unmount(m, true); err2 != nil {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err))
			}
		}
	}
	return errors.Join(errs...)
}

// hostFiles is what makes a fresh image rootfs into this host: its name,
// identity, SSH host key, who may log in, and the apt proxy.
type hostFiles struct {
	hostKey        hostKey
	authorizedKeys []string
	user           string // ssh.user; root always gets the keys too
}

func (p *Provider) writeHostFiles(ctx context.Context, st *state, hf hostFiles) error {
	root := st.rootDir()
	id := make([]byte, 16)
	rand.Read(id)
	auth := strings.Join(hf.authorizedKeys, "\n") + "\n"
	files := []struct {
		path    string
		mode    os.FileMode
		content string
	}{
		{"etc/hostname", 0o644, st.Node + "\n"},
		{"etc/hosts", 0o644, "127.0.0.1\tlocalhost\n127.0.1.1\t" + st.Node + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
		{"etc/machine-id", 0o444, hex.EncodeToString(id) + "\n"},
		{"etc/ssh/ssh_host_ed25519_key", 0o600, string(hf.hostKey.Private)},
		{"etc/ssh/ssh_host_ed25519_key.pub", 0o644, hf.hostKey.Public + " root@" + st.Node + "\n"},
		{"root/.ssh/authorized_keys", 0o600, auth},
		{"etc/apt/apt.conf.d/01omc-proxy", 0o644, fmt.Sprintf("Acquire::http::Proxy \"http://%s:%d\";\n", st.MachineAddr, ProxyPort)},
	}
	for _, f := range files {
		path := filepath.Join(root, f.path)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		os.Remove(path) // never write through a symlink of the image
		if err := os.WriteFile(path, []byte(f.content), f.mode); err != nil {
			return err
		}
	}
	if hf.user != "" && hf.user != "root" {
		return addUser(ctx, root, hf.user, auth)
	}
	return nil
}

// addUser makes the node's ssh.user, with passwordless sudo, as cloud
// images do for their default user.
func addUser(ctx context.Context, root, user, auth string) error {
	if _, err := run(ctx, "chroot", root, "useradd", "--create-home", "--shell", "/bin/bash", "--groups", "sudo", user); err != nil {
		return err
	}
	home := filepath.Join(root, "home", user)
	ssh := filepath.Join(home, ".ssh")
	if err := os.MkdirAll(ssh, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(ssh, "authorized_keys"), []byte(auth), 0o600); err != nil {
		return err
	}
	if _, err := run(ctx, "chroot", root, "chown", "-R", user+":", "/home/"+user+"/.ssh"); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, "etc/sudoers.d/90-omc-"+user), []byte(user+" ALL=(ALL) NOPASSWD:ALL\n"), 0o440)
}

// boot starts systemd-nspawn detached from omc (own session, stdin
// /dev/null, console to console.log): hosts outlive `omc up`.
// --register=no --keep-unit work without systemd as the machine's PID 1;
// CAP_NET_ADMIN/CAP_NET_RAW let nftables and tc work inside the host's
// own namespace; the writable /proc/sys/net lets sysctl steps work.
func (p *Provider) boot(st *state) error {
	root := st.rootDir()
	args := []string{
		"-D", root, "-M", st.Node, "--boot", "--register=no", "--keep-unit",
		"--network-namespace-path=/run/netns/" + st.NetNS,
		"--capability=CAP_NET_ADMIN,CAP_NET_RAW",
		"--link-journal=no", "--resolv-conf=off", "--console=read-only",
	}
	args = append(args, p.nspawnArgs...)
	name := "systemd-nspawn"
	// Its own cgroup (cgroup.go); where none can be made, the host shares
	// omc's, as before.
	dirs, err := hostCgroups(st.NetNS)
	if err == nil {
		removeCgroups(dirs) // what a host that stopped by itself left
		err = makeCgroups(dirs)
	}
	if err != nil {
		p.logf("%s: no cgroup of its own (%v); hosts booted at once may now and then fail to start a unit (status=219/CGROUP)", st.Node, err)
		dirs = nil
	}
	if len(dirs) > 0 {
		args = append([]string{"-c", intoCgroups(dirs), lookTool(name)}, args...)
		name = "sh"
	}
	pid, exited, err := startDetached(filepath.Join(st.dir, "console.log"),
		append([]string{"SYSTEMD_NSPAWN_API_VFS_WRITABLE=network"}, p.nspawnEnv...), name, args...)
	if err != nil {
		removeCgroups(dirs)
		return err
	}
	st.PID, st.exited, st.Cgroups = pid, exited, dirs
	st.Booted = time.Now().UTC()
	return st.write()
}

// errKeyMatched ends the handshake once the host key checked out: the
// provider only needs to know sshd is up and is who it should be.
var errKeyMatched = errors.New("host key matched")

// waitSSH polls until sshd on the host answers with the host key omc
// wrote, bounded by timeout. Another key is an error at once.
func (p *Provider) waitSSH(ctx context.Context, st *state, timeout time.Duration) error {
	want, _, _, _, err := ssh.ParseAuthorizedKey([]byte(st.HostKey))
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(st.HostAddr, "22")
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if !st.running() {
			// The console's end says why; the host (and the log) may be
			// removed before anyone reads the file.
			log := filepath.Join(st.dir, "console.log")
			b, _ := os.ReadFile(log)
			return fmt.Errorf("systemd-nspawn exited (%s): %s", log, strings.TrimSpace(lastLines(string(b), 3)))
		}
		last = probeSSH(addr, want)
		if last == nil {
			return nil
		}
		var mm *keyMismatchError
		if errors.As(last, &mm) {
			return last
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sshd not answering on %s after %s (last: %v); see %s", addr, timeout, last, filepath.Join(st.dir, "console.log"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

type keyMismatchError struct{ got string }

func (e *keyMismatchError) Error() string {
	return "sshd answered with an unexpected host key " + e.got
}

func probeSSH(addr string, want ssh.PublicKey) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	cfg := &ssh.ClientConfig{
		User:              "root",
		HostKeyAlgorithms: []string{want.Type()},
		HostKeyCallback: func(_ string, _ net.Addr, got ssh.PublicKey) error {
			if string(got.Marshal()) != string(want.Marshal()) {
				return &keyMismatchError{got: ssh.FingerprintSHA256(got)}
			}
			return errKeyMatched
		},
	}
	_, _, _, err = ssh.NewClientConn(c, addr, cfg)
	if errors.Is(err, errKeyMatched) {
		return nil
	}
	var mm *keyMismatchError
	if errors.As(err, &mm) {
		return mm
	}
	return err
}

// stopHost powers the host off and frees what it holds on the machine
// (processes, mounts, netns, veth), keeping its disk and state: SIGTERM
// makes nspawn ask the host's systemd for an orderly halt; after a bound,
// everything in the host's namespace is killed.
func (p *Provider) stopHost(ctx context.Context, st *state) error {
	if st.running() {
		syscall.Kill(st.PID, syscall.SIGTERM)
		if !waitGone(ctx, st.PID, 20*time.Second) {
			killNetns(st.NetNS)
			syscall.Kill(st.PID, syscall.SIGKILL)
			waitGone(context.Background(), st.PID, 5*time.Second)
		}
	}
	killNetns(st.NetNS)
	cg := st.Cgroups
	if cg == nil { // a host whose state was lost
		cg, _ = hostCgroups(st.NetNS)
	}
	removeCgroups(cg)
	err := unmountUnder(st.dir)
	teardownLink(ctx, st.NetNS)
	return hostErr(st, "stopping", err)
}

// killNetns SIGKILLs every process whose network namespace is ns: what is
// left of a host whose nspawn died (its systemd was reparented), bounded.
func killNetns(ns string) {
	var want syscall.Stat_t
	if syscall.Stat("/run/netns/"+ns, &want) != nil {
		return
	}
	for range 50 {
		pids := pidsInNetns(want)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func pidsInNetns(want syscall.Stat_t) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !alive(pid) {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name()+"/ns/net", &st) == nil && st.Ino == want.Ino && st.Dev == want.Dev {
			pids = append(pids, pid)
		}
	}
	return pids
}
