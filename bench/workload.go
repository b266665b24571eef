package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/omc-coop/omc/internal/shell"
)

// The workload: one BBB/TURN node's real steps (see README.md), as one
// list from which every arm's input is generated, so that no arm gets a
// different job. "@@NAME@@" in contents stands for the node's name.
//
// Two variants: "systemd" for local (nspawn) hosts, with packages, units,
// sysctl and a user; "files" for loopback sshd hosts, which share this
// machine's packages and PID 1, so only files, dirs, lines and a command
// there, under a per-host root directory.

type stepKind int

const (
	kPackages stepKind = iota
	kDir
	kFile
	kLine
	kSysctl
	kService
	kUser
	kTimezone
)

type step struct {
	kind    stepKind
	name    string // label
	path    string // file, dir, line (without the host root)
	content string // file content, @@NAME@@ = node name
	static  bool   // file content has no @@NAME@@ (Ansible copy vs template)
	mode    string // "0640"
	owner   string
	group   string
	notify  string // unit restarted when this changes
	line    string // line (may hold @@NAME@@)
	match   string // Go/ERE-compatible regexp (no \s)
	pkgs    []string
	key     string // sysctl
	value   string
	unit    string
	user    string
	shell   string
	groups  []string
	tz      string
}

const domainSuffix = ".bbb.test"

// workload returns the steps for a variant; cert and key are PEM text
// made once per benchmark run.
func workload(systemd bool, cert, key string) []step {
	turnGroup := "turnserver"
	if !systemd {
		turnGroup = "root" // no coturn package on loopback hosts
	}
	var s []step
	if systemd {
		s = append(s, step{kind: kPackages, name: "coturn and nftables", pkgs: []string{"coturn", "nftables"}})
	}
	s = append(s,
		step{kind: kDir, name: "bbb override dir", path: "/etc/bigbluebutton", mode: "0755", owner: "root", group: "root"},
		step{kind: kFile, name: "bbb-web overrides", path: "/etc/bigbluebutton/bbb-web.properties", content: bbbWeb, mode: "0640", owner: "root", group: "root"},
		step{kind: kFile, name: "coturn config", path: "/etc/turnserver.conf", content: turnConf, mode: "0640", owner: "root", group: turnGroup, notify: unitIf(systemd, "coturn")},
		step{kind: kLine, name: "coturn enabled", path: "/etc/default/coturn", line: "TURNSERVER_ENABLED=1", match: "^#?TURNSERVER_ENABLED=", notify: unitIf(systemd, "coturn")},
		step{kind: kLine, name: "hosts entry", path: "/etc/hosts", line: "127.0.1.1 @@NAME@@" + domainSuffix + " @@NAME@@", match: `^127\.0\.1\.1[[:space:]]`},
		step{kind: kFile, name: "firewall rules", path: "/etc/nftables.conf", content: nftConf, static: true, mode: "0755", owner: "root", group: "root", notify: unitIf(systemd, "nftables")},
		step{kind: kDir, name: "tls dir", path: "/etc/ssl/bench", mode: "0755", owner: "root", group: "root"},
		step{kind: kFile, name: "tls certificate", path: "/etc/ssl/bench/fullchain.pem", content: cert, static: true, mode: "0644", owner: "root", group: "root"},
		step{kind: kFile, name: "tls key", path: "/etc/ssl/bench/privkey.pem", content: key, static: true, mode: "0600", owner: "root", group: "root"},
	)
	if systemd {
		s = append(s,
			step{kind: kSysctl, name: "listen backlog", key: "net.core.somaxconn", value: "1024"},
			step{kind: kSysctl, name: "fin timeout", key: "net.ipv4.tcp_fin_timeout", value: "15"},
			step{kind: kService, name: "coturn running", unit: "coturn"},
			step{kind: kService, name: "firewall loaded", unit: "nftables"},
			step{kind: kUser, name: "admin account", user: "bbbadmin", shell: "/bin/bash", groups: []string{"sudo"}},
		)
	}
	s = append(s, step{kind: kTimezone, name: "timezone", tz: "Europe/Berlin"})
	return s
}

func unitIf(ok bool, u string) string {
	if ok {
		return u
	}
	return ""
}

func sub(s, name string) string { return strings.ReplaceAll(s, "@@NAME@@", name) }

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func sysctlConf(key string) string { return "/etc/sysctl.d/90-omc-" + key + ".conf" }

const bbbWeb = `# Managed by configuration management for @@NAME@@: BigBlueButton overrides.
bigbluebutton.web.serverURL=https://@@NAME@@` + domainSuffix + `
securitySalt=bench-not-a-secret-@@NAME@@
defaultMaxUsers=100
defaultMeetingDuration=240
maxNumPages=200
allowRequestsWithoutSession=false
defaultGuestPolicy=ASK_MODERATOR
learningDashboardEnabled=true
`

var deniedPeers = []string{
	"0.0.0.0-0.255.255.255", "10.0.0.0-10.255.255.255", "100.64.0.0-100.127.255.255",
	"127.0.0.0-127.255.255.255", "169.254.0.0-169.254.255.255", "172.16.0.0-172.31.255.255",
	"192.0.0.0-192.0.0.255", "192.0.2.0-192.0.2.255", "192.88.99.0-192.88.99.255",
	"192.168.0.0-192.168.255.255", "198.18.0.0-198.19.255.255", "198.51.100.0-198.51.100.255",
	"203.0.113.0-203.0.113.255", "224.0.0.0-255.255.255.255",
}

var turnConf = func() string {
	var b strings.Builder
	b.WriteString(`# Managed by configuration management for @@NAME@@.
listening-port=3478
min-port=32769
max-port=65535
fingerprint
use-auth-secret
static-auth-secret=bench-not-a-secret-@@NAME@@
realm=@@NAME@@` + domainSuffix + `
no-cli
no-multicast-peers
no-loopback-peers
no-tcp-relay
stale-nonce=600
syslog
`)
	for _, p := range deniedPeers {
		b.WriteString("denied-peer-ip=" + p + "\n")
	}
	return b.String()
}()

const nftConf = `#!/usr/sbin/nft -f
# Managed by configuration management: the BBB node's input filter.
table inet bbb
delete table inet bbb
table inet bbb {
	chain input {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		ct state invalid drop
		iif "lo" accept
		meta l4proto icmp accept
		meta l4proto ipv6-icmp accept
		tcp dport 22 accept comment "ssh"
		tcp dport 80 accept comment "http (ACME, redirect)"
		tcp dport 443 accept comment "https"
		udp dport 3478 accept comment "turn"
		tcp dport 3478 accept comment "turn"
		udp dport 16384-32768 accept comment "bbb media rtp"
		udp dport 32769-65535 accept comment "turn relay"
	}
}
`

// goRegexp and ereRegexp: the match patterns are written to mean the
// same in Go (omc), Python (Ansible) and POSIX ERE (floor, checker).
func pyRegexp(m string) string { return strings.ReplaceAll(m, "[[:space:]]", `\s`) }

var _ = regexp.MustCompile // patterns are validated in tests of omc itself

// b64 is content for a heredoc.
func b64(s string) string {
	e := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(e) > 76 {
		b.WriteString(e[:76] + "\n")
		e = e[76:]
	}
	b.WriteString(e + "\n")
	return b.String()
}

// q quotes for sh.

func modeNoZero(m string) string { return strings.TrimLeft(m, "0") }

// expected is the end state the checker wants on one host: key → value,
// in the form the dump script prints.
func expected(steps []step, root, name string) map[string]string {
	want := map[string]string{}
	for _, s := range steps {
		p := root + s.path
		switch s.kind {
		case kPackages:
			for _, pk := range s.pkgs {
				want["pkg:"+pk] = "ii"
			}
		case kDir:
			want["dir:"+p] = modeNoZero(s.mode) + " " + s.owner + ":" + s.group
		case kFile:
			want["file:"+p] = sha(sub(s.content, name)) + " " + modeNoZero(s.mode) + " " + s.owner + ":" + s.group
		case kLine:
			want["line:"+p+":"+sub(s.line, name)] = "1"
		case kSysctl:
			want["sysctl:"+s.key] = s.value + " persisted=" + s.key + "=" + s.value
		case kService:
			want["unit:"+s.unit] = "enabled active"
		case kUser:
			want["user:"+s.user] = s.user + ":/home/" + s.user + ":" + s.shell + " groups=" + strings.Join(s.groups, ",")
		case kTimezone:
			want["tz"] = "/usr/share/zoneinfo/" + s.tz + " " + s.tz
		}
	}
	return want
}

// dumpScript prints the state of everything the workload manages, one
// "key=value" a line; "stamp:PATH=inode ctime" lines tell writes apart.
func dumpScript(steps []step, root, name string) string {
	var b strings.Builder
	b.WriteString("set +e\n")
	stamp := func(p string) {
		fmt.Fprintf(&b, "[ -e %s ] && echo \"stamp:%s\t$(stat -c '%%i %%z' -- %s)\"\n", shell.Quote(p), p, shell.Quote(p))
	}
	for _, s := range steps {
		p := root + s.path
		switch s.kind {
		case kPackages:
			for _, pk := range s.pkgs {
				fmt.Fprintf(&b, "echo \"pkg:%s\t$(dpkg-query -W -f='${db:Status-Abbrev}' %s 2>/dev/null | tr -d ' ')\"\n", pk, pk)
			}
		case kDir:
			fmt.Fprintf(&b, "[ -d %s ] && echo \"dir:%s\t$(stat -c '%%a %%U:%%G' -- %s)\"\n", shell.Quote(p), p, shell.Quote(p))
			stamp(p)
		case kFile:
			fmt.Fprintf(&b, "[ -f %s ] && echo \"file:%s\t$(sha256sum < %s | cut -d' ' -f1) $(stat -c '%%a %%U:%%G' -- %s)\"\n", shell.Quote(p), p, shell.Quote(p), shell.Quote(p))
			stamp(p)
		case kLine:
			l := sub(s.line, name)
			fmt.Fprintf(&b, "echo \"line:%s:%s\t$(grep -cxF -e %s -- %s 2>/dev/null)\"\n", p, l, shell.Quote(l), shell.Quote(p))
			stamp(p)
		case kSysctl:
			f := sysctlConf(s.key)
			fmt.Fprintf(&b, "echo \"sysctl:%s\t$(cat /proc/sys/%s) persisted=$(tr -d ' \\t\\n' < %s 2>/dev/null)\"\n", s.key, strings.ReplaceAll(s.key, ".", "/"), shell.Quote(f))
			stamp(f)
		case kService:
			fmt.Fprintf(&b, "echo \"unit:%s\t$(systemctl is-enabled %s 2>/dev/null) $(systemctl is-active %s 2>/dev/null)\"\n", s.unit, s.unit, s.unit)
		case kUser:
			fmt.Fprintf(&b, "getent passwd %s >/dev/null && echo \"user:%s\t$(getent passwd %s | cut -d: -f1,6,7) groups=$(id -nG %s | tr ' ' '\\n' | grep -vx %s | sort | paste -sd,)\"\n",
				s.user, s.user, s.user, s.user, s.user)
		case kTimezone:
			fmt.Fprintf(&b, "echo \"tz\t$(readlink %s/etc/localtime) $(cat %s/etc/timezone 2>/dev/null)\"\n", root, root)
			stamp(root + "/etc/timezone")
		}
	}
	// What is missing is simply not printed; the last [ -e ] must not
	// make that an error (a fresh loopback root has no /etc/timezone).
	b.WriteString("exit 0\n")
	return b.String()
}

// floorScript is the floor's one exec: the same checks as the dump, each
// followed by the smallest fix, all in one shell, printing "changed=N".
func floorScript(steps []step, root, name string) string {
	var b strings.Builder
	b.WriteString("set +e\nch=0; restart=''\nfail() { echo \"failed: $*\"; exit 1; }\n")
	notify := func(s step) {
		if s.notify != "" {
			fmt.Fprintf(&b, "  case \" $restart \" in *' %s '*) ;; *) restart=\"$restart %s\";; esac\n", s.notify, s.notify)
		}
	}
	for _, s := range steps {
		p := root + s.path
		switch s.kind {
		case kPackages:
			b.WriteString("miss=''\nfor p in " + strings.Join(s.pkgs, " ") + "; do [ \"$(dpkg-query -W -f='${db:Status-Abbrev}' $p 2>/dev/null)\" = 'ii ' ] || miss=\"$miss $p\"; done\n")
			b.WriteString(`if [ -n "$miss" ]; then
  export DEBIAN_FRONTEND=noninteractive
  t0=$(date +%s.%N)
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -360 2>/dev/null | head -n 1)" ]; then apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null || fail apt update; fi
  apt-get -y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install -- $miss >/dev/null || fail apt install
  echo "apt_seconds=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')"
  ch=$((ch+1))
fi
`)
		case kDir:
			fmt.Fprintf(&b, "f=%s\nif [ ! -d \"$f\" ]; then mkdir -p \"$f\" && chown %s:%s \"$f\" && chmod %s \"$f\" || fail \"$f\"; ch=$((ch+1))\n", shell.Quote(p), s.owner, s.group, s.mode)
			fmt.Fprintf(&b, "elif [ \"$(stat -c '%%a %%U:%%G' \"$f\")\" != '%s %s:%s' ]; then chown %s:%s \"$f\" && chmod %s \"$f\"; ch=$((ch+1)); fi\n", modeNoZero(s.mode), s.owner, s.group, s.owner, s.group, s.mode)
		case kFile:
			c := sub(s.content, name)
			fmt.Fprintf(&b, "f=%s\nif [ \"$(sha256sum < \"$f\" 2>/dev/null | cut -d' ' -f1)\" != %s ]; then\n", shell.Quote(p), sha(c))
			fmt.Fprintf(&b, "  base64 -d > \"$f.floor-tmp\" <<'EOF'\n%sEOF\n", b64(c))
			fmt.Fprintf(&b, "  chown %s:%s \"$f.floor-tmp\" && chmod %s \"$f.floor-tmp\" && mv -f \"$f.floor-tmp\" \"$f\" || fail \"$f\"; ch=$((ch+1))\n", s.owner, s.group, s.mode)
			notify(s)
			fmt.Fprintf(&b, "elif [ \"$(stat -c '%%a %%U:%%G' \"$f\")\" != '%s %s:%s' ]; then chown %s:%s \"$f\" && chmod %s \"$f\"; ch=$((ch+1)); fi\n", modeNoZero(s.mode), s.owner, s.group, s.owner, s.group, s.mode)
		case kLine:
			l := sub(s.line, name)
			fmt.Fprintf(&b, "f=%s; l=%s\nif ! grep -qxF -e \"$l\" -- \"$f\" 2>/dev/null; then\n", shell.Quote(p), shell.Quote(l))
			fmt.Fprintf(&b, "  n=$(grep -nE -e %s -- \"$f\" 2>/dev/null | tail -n 1 | cut -d: -f1)\n", shell.Quote(s.match))
			b.WriteString("  if [ -n \"$n\" ]; then awk -v n=\"$n\" -v l=\"$l\" 'NR==n{print l; next}{print}' \"$f\" > \"$f.floor-tmp\" && cat \"$f.floor-tmp\" > \"$f\" && rm -f \"$f.floor-tmp\"\n")
			b.WriteString("  else printf '%s\\n' \"$l\" >> \"$f\"; fi || fail \"$f\"; ch=$((ch+1))\n")
			notify(s)
			b.WriteString("fi\n")
		case kSysctl:
			f := sysctlConf(s.key)
			conf := s.key + " = " + s.value + "\n"
			fmt.Fprintf(&b, "[ \"$(cat /proc/sys/%s)\" = %s ] || { sysctl -q -w %s || fail sysctl; ch=$((ch+1)); }\n", strings.ReplaceAll(s.key, ".", "/"), shell.Quote(s.value), shell.Quote(s.key+"="+s.value))
			fmt.Fprintf(&b, "[ \"$(cat %s 2>/dev/null)\" = %s ] || { printf '%%s' %s > %s; ch=$((ch+1)); }\n", shell.Quote(f), shell.Quote(strings.TrimSuffix(conf, "\n")), shell.Quote(conf), shell.Quote(f))
		case kService:
			fmt.Fprintf(&b, "u=%s\n[ \"$(systemctl is-enabled $u 2>/dev/null)\" = enabled ] || { systemctl enable -q $u || fail enable $u; ch=$((ch+1)); }\n", s.unit)
			b.WriteString("if [ \"$(systemctl is-active $u 2>/dev/null)\" != active ]; then systemctl start $u || fail start $u; ch=$((ch+1)); restart=$(echo \" $restart \" | sed \"s/ $u / /\"); fi\n")
		case kUser:
			fmt.Fprintf(&b, "if ! getent passwd %s >/dev/null; then useradd -m -U -s %s -G %s %s || fail useradd; ch=$((ch+1)); fi\n", s.user, s.shell, strings.Join(s.groups, ","), s.user)
		case kTimezone:
			z := "/usr/share/zoneinfo/" + s.tz
			fmt.Fprintf(&b, "if [ \"$(readlink %s/etc/localtime)\" != %s ] || [ \"$(cat %s/etc/timezone 2>/dev/null)\" != %s ]; then ln -sfn %s %s/etc/localtime && echo %s > %s/etc/timezone; ch=$((ch+1)); fi\n",
				root, z, root, s.tz, z, root, s.tz, root)
		}
	}
	b.WriteString("for u in $restart; do systemctl restart $u || fail restart $u; done\necho \"changed=$ch\"\n")
	return b.String()
}
