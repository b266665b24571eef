package robot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/remote"
)

// Installer puts Ubuntu 22.04 on a server that runs Hetzner's rescue
// system, and reboots it into the new system.
type Installer interface {
	Install(ctx context.Context, t Target) error
}

// Target is one install.
type Target struct {
	Node string
	// Address and Port reach the rescue system's sshd as root.
	Address string
	Port    int
	// KeyFile is the operator's private key, authorized in rescue.
	KeyFile string
	// RescueHostKeys pins the rescue system's keys when Robot names them;
	// empty: the key is learned for this install only (never recorded in
	// omc's known hosts: the installed system has omc's own key).
	RescueHostKeys []string
	// HostKey is the installed system's SSH identity, made by omc.
	HostKey providers.HostKey
	// Hostname of the installed system.
	Hostname string
	// AuthorizedKeys may log in as root to the installed system.
	AuthorizedKeys []string
	// User, when not root, is made on the installed system with the same
	// keys and passwordless sudo.
	User string
}

// ErrNotRescue means the SSH server at the target is not the rescue
// system (yet): installimage is not there. Nothing was changed.
var ErrNotRescue = errors.New("the server is not running the rescue system (no installimage)")

// SSHInstaller installs over SSH with Hetzner's installimage: it writes an
// autosetup config (every writable disk, software RAID 1 over two or more)
// and a post-install script that installs omc's host key and the
// operator's key, runs installimage in batch mode and reboots.
type SSHInstaller struct {
	// InstallImage is installimage's path in rescue.
	InstallImage string
	// Image is the image file installimage installs.
	Image string
	// Dir is where the config, the post-install script and the log go.
	Dir string
	// ListDisks prints "NAME TYPE RO" per block device (lsblk).
	ListDisks string
	// Reboot reboots rescue into the new system.
	Reboot string
	// Timeout bounds installimage (default 45 minutes).
	Timeout time.Duration
}

// Defaults of SSHInstaller: the paths of Hetzner's rescue system.
const (
	DefaultInstallImage = "/root/.oldroot/nfs/install/installimage"
	DefaultImage        = "/root/.oldroot/nfs/images/Ubuntu-2204-jammy-amd64-base.tar.gz"
	DefaultInstallDir   = "/root/omc-install"
	DefaultListDisks    = "lsblk -dnpo NAME,TYPE,RO"
	DefaultReboot       = "reboot"
)

func (s *SSHInstaller) withDefaults() SSHInstaller {
	d := *s
	if d.InstallImage == "" {
		d.InstallImage = DefaultInstallImage
	}
	if d.Image == "" {
		d.Image = DefaultImage
	}
	if d.Dir == "" {
		d.Dir = DefaultInstallDir
	}
	if d.ListDisks == "" {
		d.ListDisks = DefaultListDisks
	}
	if d.Reboot == "" {
		d.Reboot = DefaultReboot
	}
	if d.Timeout <= 0 {
		d.Timeout = 45 * time.Minute
	}
	return d
}

// Install implements Installer.
func (s *SSHInstaller) Install(ctx context.Context, t Target) error {
	o := s.withDefaults()
	khDir, err := os.MkdirTemp("", "omc-rescue-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(khDir)
	c, err := remote.Dial(ctx, remote.Config{
		Name:       t.Node + " (rescue)",
		Address:    t.Address,
		Port:       t.Port,
		User:       "root",
		KeyFile:    t.KeyFile,
		HostKeys:   t.RescueHostKeys,
		KnownHosts: &remote.KnownHosts{Path: filepath.Join(khDir, "known_hosts")},
	})
	if err != nil {
		return err
	}
	defer c.Close()
	sh, err := c.Shell(ctx)
	if err != nil {
		return err
	}
	run := func(script string) (remote.Result, error) {
		r, err := sh.Run(ctx, script)
		if err != nil {
			return r, fmt.Errorf("%s (rescue): %w", t.Node, err)
		}
		return r, nil
	}
	r, err := run("test -x " + shell.Quote(o.InstallImage))
	if err != nil {
		return err
	}
	if r.ExitCode != 0 {
		return fmt.Errorf("%s: %w", t.Node, ErrNotRescue)
	}
	r, err = run(o.ListDisks)
	if err != nil {
		return err
	}
	if r.ExitCode != 0 {
		return fmt.Errorf("%s (rescue): listing disks failed: %s", t.Node, strings.TrimSpace(string(r.Stderr)))
	}
	drives := parseDisks(string(r.Stdout))
	if len(drives) == 0 {
		return fmt.Errorf("%s (rescue): no writable disk found (%s printed %q)", t.Node, o.ListDisks, strings.TrimSpace(string(r.Stdout)))
	}
	conf := InstallConfig(drives, t.Hostname, o.Image)
	post := PostInstall(t)
	if r, err = run("mkdir -p " + shell.Quote(o.Dir) + " && chmod 700 " + shell.Quote(o.Dir)); err != nil {
		return err
	} else if r.ExitCode != 0 {
		return fmt.Errorf("%s (rescue): mkdir %s: %s", t.Node, o.Dir, strings.TrimSpace(string(r.Stderr)))
	}
	confPath, postPath, logPath := path.Join(o.Dir, "install.conf"), path.Join(o.Dir, "post-install"), path.Join(o.Dir, "installimage.log")
	if err := c.WriteFile(ctx, confPath, []byte(conf), 0o600, -1, -1); err != nil {
		return err
	}
	if err := c.WriteFile(ctx, postPath, []byte(post), 0o700, -1, -1); err != nil {
		return err
	}
	ictx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cmd := fmt.Sprintf("%s -a -c %s -x %s >%s 2>&1; rc=$?; tail -n 25 %s; exit $rc",
		shell.Quote(o.InstallImage), shell.Quote(confPath), shell.Quote(postPath), shell.Quote(logPath), shell.Quote(logPath))
	r, err = sh.Run(ictx, cmd)
	if err != nil {
		if ictx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("%s (rescue): installimage did not finish within %s; the server is left in rescue (log: %s)", t.Node, o.Timeout, logPath)
		}
		return fmt.Errorf("%s (rescue): installimage: %w", t.Node, err)
	}
	if r.ExitCode != 0 {
		return fmt.Errorf("%s (rescue): installimage failed (exit %d); the server is left in rescue; last lines of %s:\n%s", t.Node, r.ExitCode, logPath, strings.TrimSpace(string(r.Stdout)))
	}
	// Reboot from a detached process, so this session ends cleanly first.
	if _, err := run("nohup sh -c 'sleep 2; " + o.Reboot + "' >/dev/null 2>&1 </dev/null &"); err != nil {
		return err
	}
	return nil
}

// parseDisks reads "NAME TYPE RO" lines and keeps the writable disks.
func parseDisks(out string) []string {
	var drives []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[1] != "disk" || f[2] != "0" {
			continue
		}
		base := path.Base(f[0])
		if strings.HasPrefix(base, "loop") || strings.HasPrefix(base, "ram") || strings.HasPrefix(base, "zram") {
			continue
		}
		drives = append(drives, f[0])
	}
	return drives
}

// InstallConfig is installimage's autosetup file: Ubuntu 22.04 on every
// drive, mirrored (software RAID 1) when there are two or more.
func InstallConfig(drives []string, hostname, image string) string {
	var b strings.Builder
	b.WriteString("# Written by omc: installimage autosetup (batch mode).\n")
	for i, d := range drives {
		fmt.Fprintf(&b, "DRIVE%d %s\n", i+1, d)
	}
	if len(drives) > 1 {
		b.WriteString("SWRAID 1\nSWRAIDLEVEL 1\n")
	} else {
		b.WriteString("SWRAID 0\n")
	}
	fmt.Fprintf(&b, "HOSTNAME %s\n", hostname)
	b.WriteString("BOOTLOADER grub\n")
	b.WriteString("PART /boot ext3 1024M\nPART / ext4 all\n")
	fmt.Fprintf(&b, "IMAGE %s\n", image)
	return b.String()
}

// PostInstall is the script installimage runs in the chroot of the new
// system: it replaces the image's host keys with omc's, authorizes the
// operator's keys and makes the login user. Paths are under $OMC_ROOT
// (empty in the chroot) so the script can be tried on a scratch tree;
// making the login user (useradd) only works in the chroot.
func PostInstall(t Target) string {
	keys := strings.Join(t.AuthorizedKeys, "\n")
	var b strings.Builder
	b.WriteString("#!/bin/bash\n# Written by omc: runs in the chroot of the freshly installed system.\nset -eu\nR=\"${OMC_ROOT:-}\"\n")
	b.WriteString("mkdir -p \"$R/etc/ssh\"\nrm -f \"$R\"/etc/ssh/ssh_host_*\n")
	b.WriteString("umask 077\ncat >\"$R/etc/ssh/ssh_host_ed25519_key\" <<'OMC_HOST_KEY'\n")
	b.WriteString(strings.TrimRight(string(t.HostKey.Private), "\n") + "\nOMC_HOST_KEY\n")
	b.WriteString("umask 022\nprintf '%s\\n' " + shell.Quote(t.HostKey.Public+" root@"+t.Hostname) + " >\"$R/etc/ssh/ssh_host_ed25519_key.pub\"\n")
	b.WriteString("chmod 600 \"$R/etc/ssh/ssh_host_ed25519_key\"\n")
	b.WriteString("mkdir -p \"$R/root/.ssh\"\nchmod 700 \"$R/root/.ssh\"\n")
	b.WriteString("cat >\"$R/root/.ssh/authorized_keys\" <<'OMC_KEYS'\n" + keys + "\nOMC_KEYS\nchmod 600 \"$R/root/.ssh/authorized_keys\"\n")
	if u := t.User; u != "" && u != "root" {
		q := shell.Quote(u)
		b.WriteString("id -u " + q + " >/dev/null 2>&1 || useradd -m -s /bin/bash " + q + "\n")
		b.WriteString("h=$(getent passwd " + q + " | cut -d: -f6)\nmkdir -p \"$R$h/.ssh\"\ncp \"$R/root/.ssh/authorized_keys\" \"$R$h/.ssh/authorized_keys\"\n")
		b.WriteString("chown -R " + q + ": \"$R$h/.ssh\"\nchmod 700 \"$R$h/.ssh\"\n")
		b.WriteString("mkdir -p \"$R/etc/sudoers.d\"\nprintf '%s\\n' " + shell.Quote(u+" ALL=(ALL) NOPASSWD:ALL") + " >\"$R/etc/sudoers.d/90-omc-" + u + "\"\nchmod 440 \"$R/etc/sudoers.d/90-omc-" + u + "\"\n")
	}
	return b.String()
}

// quote is s as one sh word.

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
