package roles

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omc-coop/omc/inventory"
)

// The E2E tests converge the roles on real Debian hosts (systemd-nspawn,
// from providers/local) over SSH. They need root and OMC_E2E=1.

const e2eInventory = `apiVersion: omc/v1
name: omc-roles-e2e
secrets:
  bbb_seed: env:OMC_E2E_ROLES_SEED
defaults:
  ssh: {key: %q}
  settings:
    timezone: Europe/Berlin
    admin_cidrs: [%s]
    admins: [{name: ops, keys: [%q]}]
    acme_directory: https://127.0.0.1:14000/dir
    acme_ca_file: /etc/omc-e2e/pebble-ca.pem
    acme_email: ops@omc.test
    # Each BBB line as its stand-in package built for Debian (bbb_os and
    # bbb_repo: the line's Ubuntu sources, Java, Node and Docker are left
    # out; its keys and layouts hold).
    bbb_version: "4.1"
    bbb_os: debian-12
    bbb_repo: {url: "file:/srv/omc-standin", suite: standin, components: main, trusted: true}
    bbb_packages: [%s]
    bandwidth: {egress: 4mbit, ingress: 4mbit, interface: eth0}
    bbb: {max_participants: 25, welcome: "Grüß Gott", client_title: omc e2e%s}
    # A container's network namespace may not raise the machine's buffer
    # limits (the kernel refuses the write); the rest of the set applies.
    sysctl: {net.core.rmem_max: null, net.core.wmem_max: null, net.core.somaxconn: 8192}
groups:
  e2e:
    provider: local
    image: debian-12
    nodes:
      - {name: rt1, roles: [turn], domain: rt1.omc.test}
      - {name: rb1, roles: [bbb], domain: rb1.omc.test}
      - name: rb2
        roles: [bbb]
        domain: rb2.omc.test
        settings:
          bbb_version: "4.0"
          bbb_repo: {url: "file:/srv/omc-standin-4.0", suite: standin, components: main, trusted: true}
      - name: rb3
        roles: [bbb]
        domain: rb3.omc.test
        settings:
          bbb_version: "3.0"
          bbb_repo: {url: "file:/srv/omc-standin-3.0", suite: standin, components: main, trusted: true}
          bbb: {default_layout: SMART_LAYOUT}
      # No roles here: omc install makes it a BBB server (testInstall).
      - {name: ri1}
`

func newE2E(t *testing.T) *e2eEnv {
	t.Helper()
	e := baseE2E(t, nil)
	e.load("10.250.0.0/16", "bigbluebutton=1.0")
	e.boot("rt1", "rb1", "rb2", "rb3", "ri1")
	return e
}

// load (re)reads the inventory with these knobs; tune is more of the
// bbb: mapping (", key: value").
func (e *e2eEnv) load(adminCIDR, pkg string, tune ...string) {
	e.t.Helper()
	text := fmt.Sprintf(e2eInventory, e.keyPath, adminCIDR, e.pub, pkg, strings.Join(tune, ""))
	inv, err := inventory.LoadReader(filepath.Join(e.t.TempDir(), "omc.yaml"), strings.NewReader(text))
	must(e.t, err)
	e.inv, e.fleet = inv, inv.Nodes()
	e.setAddresses()
}

// prepare gives each host what the test world needs and omc does not do:
// the other host's name, and a private ACME CA (Debian's pebble) serving
// http-01 against the host itself.
func (e *e2eEnv) prepare(repo string) {
	e.t.Helper()
	e.prepareHosts()
	uploads := map[string]map[string]string{"rb1": {"/srv/omc-standin/": repo}, "ri1": {"/srv/omc-standin/": repo}}
	// rb2's repository also has a newer stand-in, for testUpgradeWithinLine.
	for name, line := range map[string]string{"rb2": "4.0", "rb3": "3.0"} {
		versions := []string{"1.0"}
		if name == "rb2" {
			versions = append(versions, "1.1")
		}
		uploads[name] = map[string]string{"/srv/omc-standin-" + line + "/": buildStandinLineRepo(e.t, line, versions...)}
	}
	for name, dirs := range uploads {
		for dest, dir := range dirs {
			e.uploadDir(name, dir, dest)
		}
	}
}

func TestE2ERoles(t *testing.T) {
	e := newE2E(t)
	repo := buildStandinRepo(t, "1.0", "1.1")
	e.prepare(repo)

	// rb1 is BBB 4.1, rb2 4.0, rb3 3.0: each line's stand-in refuses what
	// that line's package would ignore.
	first := e.mustConverge("rt1", "rb1", "rb2", "rb3")
	t.Logf("first run changed %d steps", len(first))
	// The real probe output of the hosts just converged plans nothing,
	// for every step of every role and line.
	e.mustStayConverged("rt1", "rb1", "rb2", "rb3")
	t.Run("lines", func(t *testing.T) { e.testLines(t) })

	t.Run("base", func(t *testing.T) {
		for _, h := range []string{"rt1", "rb1"} {
			out := e.mustSh(h, `hostname; cat /etc/timezone; sshd -T | grep -iE '^(passwordauthentication|permitrootlogin)'; id ops; sudo -l -U ops | tail -n1; apt-config dump | grep -c 'Package-Blacklist::'`)
			for _, want := range []string{h + "\n", "Europe/Berlin", "passwordauthentication no", "permitrootlogin without-password", "uid=", "NOPASSWD: ALL"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s: %q missing in:\n%s", h, want, out)
				}
			}
		}
	})
	t.Run("firewall", func(t *testing.T) {
		out := e.mustSh("rt1", "nft list table inet omc; systemctl is-enabled nftables; cmp /etc/nftables.conf /var/lib/omc/firewall/next.nft && echo persisted")
		for _, want := range []string{"udp dport 32769-65535 accept", "tcp dport 3478 accept", "ip saddr @admin4 tcp dport 22 accept", "enabled", "persisted"} {
			if !strings.Contains(out, want) {
				t.Errorf("rt1 firewall: %q missing in:\n%s", want, out)
			}
		}
		if strings.Contains(out, "16384-32768") {
			t.Error("rt1 is a TURN node: no BBB media ports")
		}
	})
	t.Run("tls", func(t *testing.T) {
		e.mustSh("rb1", "curl -fsS --cacert /etc/omc-e2e/pebble-ca.pem https://127.0.0.1:15000/roots/0 > /tmp/pebble-root.pem")
		out := e.mustSh("rb1", "curl -fsS --cacert /tmp/pebble-root.pem https://rb1.omc.test/bigbluebutton/api; systemctl is-enabled certbot.timer; grep -c renew_hook /etc/letsencrypt/renewal/rb1.omc.test.conf")
		if !strings.Contains(out, "<returncode>SUCCESS</returncode>") || !strings.Contains(out, "enabled") {
			t.Errorf("rb1: BBB API over verified TLS: %s", out)
		}
		e.mustSh("rt1", "cmp /etc/letsencrypt/live/rt1.omc.test/fullchain.pem /etc/turnserver/fullchain.pem && ss -ltn | grep -q ':443 '")
		// omc's drop-in is loaded (a drop-in new since systemd's last
		// reload is invisible to NeedDaemonReload; the guard sees it).
		if out := e.mustSh("rt1", "systemctl show -p LimitNOFILE --value coturn; systemctl show -p DropInPaths --value coturn"); !strings.HasPrefix(out, "1048576\n") || !strings.Contains(out, "/etc/systemd/system/coturn.service.d/50-omc.conf") {
			t.Errorf("rt1: coturn runs without omc's drop-in: %q", out)
		}
	})
	t.Run("turn", func(t *testing.T) { e.testTURN(t) })
	t.Run("sysctl", func(t *testing.T) {
		if out := e.mustSh("rb1", "cat /proc/sys/net/core/somaxconn /proc/sys/net/ipv4/tcp_slow_start_after_idle /etc/sysctl.d/90-omc-net.core.somaxconn.conf"); out != "8192\n0\nnet.core.somaxconn = 8192\n" {
			t.Errorf("sysctl: %q", out)
		}
	})
	t.Run("bandwidth", func(t *testing.T) { e.testBandwidth(t, "rt1") })
	t.Run("bbb", func(t *testing.T) { e.testBBB(t) })
	t.Run("strict-standin", func(t *testing.T) { e.testStrictStandin(t) })
	t.Run("firewall-revert", func(t *testing.T) { e.testFirewallRevert(t) })
	t.Run("install", func(t *testing.T) { e.testInstall(t) })
	t.Run("upgrade", func(t *testing.T) { e.testUpgradeWithinLine(t) })
}
