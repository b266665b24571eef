package roles

import (
	"fmt"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/templates"
)

// base: what every node gets, whatever its roles.
func (b *builder) base() {
	n, s := b.n, b.s
	b.add(&provision.PackagesStep{Names: []string{"tzdata", "unattended-upgrades", "iproute2"}})

	// Hostname: the file for reboots, the kernel's for now, /etc/hosts so
	// that sudo and FreeSWITCH resolve it without DNS.
	b.add(&provision.FileStep{Path: "/etc/hostname", Content: []byte(n.Name + "\n"), Mode: 0o644, Owner: "root", Group: "root"})
	b.add(&provision.CommandStep{Label: "hostname " + n.Name, Run: "hostname " + shell.Quote(n.Name), Unless: `[ "$(hostname)" = ` + shell.Quote(n.Name) + ` ]`})
	hosts := "127.0.1.1 " + n.Name
	if n.Domain != "" && n.Domain != n.Name {
		hosts = "127.0.1.1 " + n.Domain + " " + n.Name
	}
	b.add(&provision.LineStep{Path: "/etc/hosts", Line: hosts, Match: reHostsLine})

	zone := "/usr/share/zoneinfo/" + s.Timezone
	b.add(&provision.CommandStep{
		Label: "timezone " + s.Timezone,
		Run: "[ -f " + shell.Quote(zone) + " ] || { echo 'unknown time zone " + s.Timezone + " (no " + zone + ")' >&2; exit 1; }\n" +
			"ln -sfn " + shell.Quote(zone) + " /etc/localtime && echo " + shell.Quote(s.Timezone) + " > /etc/timezone",
		Unless: `[ "$(readlink -f /etc/localtime)" = "$(readlink -f ` + shell.Quote(zone) + `)" ] && [ "$(cat /etc/timezone 2>/dev/null)" = ` + shell.Quote(s.Timezone) + ` ]`,
	})
	b.add(&timeSyncStep{})
	if len(s.NTP) > 0 {
		b.addFile("/etc/systemd/timesyncd.conf.d/50-omc.conf", templates.Timesyncd, templates.NTP{Servers: s.NTP}, 0o644, "root", "root", "systemd-timesyncd")
	}
	b.addFile("/etc/apt/apt.conf.d/52omc-unattended-upgrades", templates.Unattended,
		templates.UnattendedUpgrades{Enabled: s.Unattended, Hold: bbbHold}, 0o644, "root", "root")

	b.admins()
	if f, err := file("/etc/ssh/sshd_config.d/50-omc.conf", templates.Sshd, templates.SSHD{PermitRootLogin: rootLogin(n.SSH.User)}, 0o644, "root", "root", "ssh"); err != nil {
		b.fail(err)
	} else {
		b.add(&checkedFile{FileStep: f, Check: "mkdir -p /run/sshd && sshd -t"})
	}
	if s.Swap != "" {
		b.add(&provision.CommandStep{
			Label:   "swapfile " + s.Swap,
			Run:     "fallocate -l " + s.Swap + " /swapfile && chmod 0600 /swapfile && mkswap /swapfile >/dev/null && swapon /swapfile",
			Creates: "/swapfile",
		}, &provision.LineStep{Path: "/etc/fstab", Line: "/swapfile none swap sw 0 0", Match: reFstabSwap})
	}
	b.addFile("/etc/systemd/journald.conf.d/50-omc.conf", templates.Journald, templates.Journal{SystemMaxUse: s.JournalMaxUse}, 0o644, "root", "root", "systemd-journald")
}

// bbbHold: package patterns unattended-upgrades must never touch: BBB's
// packages and those of the repositories its lines add. They are Python
// regular expressions, matched from the start of the name.
var bbbHold = []string{"bigbluebutton", "bbb-", "freeswitch", "nodejs", "mongodb-org", "docker-ce", "containerd", "coturn"}

// rootLogin: when omc itself logs in as root it must keep doing so (by
// key); otherwise root needs no SSH login at all.
func rootLogin(sshUser string) string {
	if sshUser == "" || sshUser == "root" {
		return "prohibit-password"
	}
	return "no"
}

// admins: accounts with the given keys and passwordless sudo (they have no
// password). Accounts dropped from the inventory are not deleted, but
// lose sudo, since the sudoers file lists only current admins.
func (b *builder) admins() {
	var names []string
	if len(b.s.Admins) > 0 {
		b.add(&provision.PackagesStep{Names: []string{"sudo"}})
	}
	for _, a := range b.s.Admins {
		keys := a.Keys
		if keys == nil {
			keys = []string{}
		}
		b.add(&provision.UserStep{Name: a.Name, Shell: "/bin/bash", AuthorizedKeys: keys})
		names = append(names, a.Name)
	}
	f, err := file("/etc/sudoers.d/50-omc-admins", templates.Sudoers, templates.Admins{Names: names}, 0o440, "root", "root")
	if err != nil {
		b.fail(err)
		return
	}
	b.add(&checkedFile{FileStep: f, Check: "if command -v visudo >/dev/null; then visudo -cqf " + shell.Quote(f.Path) + "; fi"})
}

// timeSyncStep wants systemd-timesyncd enabled and running, unless chrony
// already keeps time or the host is a container (whose clock is the
// machine's; timesyncd refuses to run there).
type timeSyncStep struct{}

func (*timeSyncStep) ID() string { return "time sync" }

func (*timeSyncStep) Probe() string {
	return `echo "virt=$(systemd-detect-virt -c 2>/dev/null || echo none)"
echo "chrony=$(systemctl is-active chrony 2>/dev/null)"
echo "enabled=$(systemctl is-enabled systemd-timesyncd 2>/dev/null)"
echo "active=$(systemctl is-active systemd-timesyncd 2>/dev/null)"
echo "pkg=$(dpkg-query -W -f='${db:Status-Abbrev}' systemd-timesyncd 2>/dev/null)"`
}

func (s *timeSyncStep) Plan(obs []string) (*provision.Change, error) {
	virt, ok := field(obs, "virt")
	if !ok {
		return nil, fmt.Errorf("unexpected probe output for %s", s.ID())
	}
	if chrony, _ := field(obs, "chrony"); virt != "none" || chrony == "active" {
		return nil, nil
	}
	en, _ := field(obs, "enabled")
	act, _ := field(obs, "active")
	pkg, _ := field(obs, "pkg")
	if en == "enabled" && act == "active" {
		return nil, nil
	}
	script := "systemctl enable --now systemd-timesyncd"
	summary := "enable and start systemd-timesyncd"
	if len(pkg) < 2 || pkg[:2] != "ii" {
		script = "DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 install systemd-timesyncd && " + script
		summary = "install, " + summary
	}
	return &provision.Change{Step: s, Summary: summary, Script: script}, nil
}
