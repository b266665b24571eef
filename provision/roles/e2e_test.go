package roles

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/internal/testenv"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/providers/local"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/remote"
)

// The E2E tests converge the roles on real Debian hosts (systemd-nspawn,
// from providers/local) over SSH. They need root and OMC_E2E=1.

const e2eSeed = "FAKE-e2e-seed-not-a-real-one"

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

// e2eEnv is one test's hosts and how to reach them.
type e2eEnv struct {
	t        *testing.T
	p        *local.Provider
	keyPath  string
	pub      string
	signer   ssh.Signer
	machines map[string]providers.Machine
	inv      *inventory.Inventory
	fleet    []*inventory.Node
}

func newE2E(t *testing.T) *e2eEnv {
	t.Helper()
	e := baseE2E(t, nil)
	e.load("10.250.0.0/16", "bigbluebutton=1.0")
	e.boot("rt1", "rb1", "rb2", "rb3", "ri1")
	return e
}

// baseE2E makes the provider (with nspawnEnv and nspawnArgs for its
// hosts) and the test's SSH key; load an inventory, then boot its hosts.
func baseE2E(t *testing.T, nspawnEnv []string, nspawnArgs ...string) *e2eEnv {
	t.Helper()
	if os.Getenv("OMC_E2E") == "" {
		t.Skip("E2E on real local hosts: set OMC_E2E=1 (needs root, systemd-nspawn, debootstrap, apt-cacher-ng)")
	}
	if err := local.Check(); err != nil {
		testenv.MissingE2E(t, "this machine cannot run local hosts: %v", err)
	}
	dir := os.Getenv("OMC_LOCAL_DIR")
	if dir == "" {
		dir = "/var/cache/omc-test"
	}
	p, err := local.New(local.Options{Dir: dir, Stderr: logWriter{t}, NspawnArgs: nspawnArgs, NspawnEnv: nspawnEnv})
	must(t, err)
	e := &e2eEnv{t: t, p: p, keyPath: filepath.Join(t.TempDir(), "id_ed25519")}
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "omc-e2e", "-f", e.keyPath).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	b, _ := os.ReadFile(e.keyPath)
	e.signer, err = ssh.ParsePrivateKey(b)
	must(t, err)
	pub, _ := os.ReadFile(e.keyPath + ".pub")
	e.pub = strings.TrimSpace(string(pub))
	t.Setenv("OMC_E2E_ROLES_SEED", e2eSeed)
	return e
}

// boot (re)creates the named hosts of group e2e, removed again when the
// test ends.
func (e *e2eEnv) boot(names ...string) {
	t := e.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	g := e.inv.Group("e2e")
	inv := e.inv
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := e.p.Delete(ctx, inv, g, names); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	// A clean slate: a host an interrupted run left would start again
	// with that run's key, which this run's key does not log in to.
	must(t, e.p.Delete(ctx, e.inv, g, names))
	ms, err := e.p.Create(ctx, e.inv, g, e.fleet)
	must(t, err)
	e.machines = map[string]providers.Machine{}
	for _, m := range ms {
		e.machines[m.Name] = m
	}
	e.setAddresses()
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
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

// loadFile reads the inventory at path.
func (e *e2eEnv) loadFile(path string) {
	e.t.Helper()
	inv, err := inventory.Load(path)
	must(e.t, err)
	e.inv, e.fleet = inv, inv.Nodes()
	e.setAddresses()
}

func (e *e2eEnv) setAddresses() {
	for _, n := range e.fleet {
		if m, ok := e.machines[n.Name]; ok {
			n.Address = m.Address
		}
	}
}

func (e *e2eEnv) node(name string) *inventory.Node {
	for _, n := range e.fleet {
		if n.Name == name {
			return n
		}
	}
	e.t.Fatalf("no node %s", name)
	return nil
}

func (e *e2eEnv) dial(ctx context.Context, name string) (*sshConn, error) {
	m := e.machines[name]
	hk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(m.HostKeys[0]))
	if err != nil {
		return nil, err
	}
	return dialSSH(ctx, net.JoinHostPort(m.Address, "22"), &ssh.ClientConfig{User: "root",
		Auth: []ssh.AuthMethod{ssh.PublicKeys(e.signer)}, HostKeyCallback: ssh.FixedHostKey(hk), Timeout: 10 * time.Second})
}

// sh runs a command on a host and returns its combined output.
func (e *e2eEnv) sh(name, cmd string) (string, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := e.dial(ctx, name)
	if err != nil {
		return "", err
	}
	defer c.Close()
	r, err := c.Run(ctx, cmd)
	out := string(r.Stdout) + string(r.Stderr)
	if err == nil && r.ExitCode != 0 {
		err = fmt.Errorf("exit %d", r.ExitCode)
	}
	return out, err
}

func (e *e2eEnv) mustSh(name, cmd string) string {
	e.t.Helper()
	out, err := e.sh(name, cmd)
	if err != nil {
		e.t.Fatalf("%s: %s: %v\n%s", name, cmd, err, out)
	}
	return out
}

// converge runs the roles on the named hosts with the engine.
func (e *e2eEnv) converge(names ...string) ([]provision.Result, []provision.Event) {
	e.t.Helper()
	var hosts []provision.Host
	for _, name := range names {
		steps, err := Steps(e.inv, e.node(name), e.fleet)
		must(e.t, err)
		m := e.machines[name]
		hosts = append(hosts, provision.Host{Name: name, Steps: steps, Dial: func(ctx context.Context) (provision.Conn, error) {
			c, err := remote.Dial(ctx, remote.Config{Name: name, Address: m.Address, Port: 22, User: "root",
				KeyFile: e.keyPath, HostKeys: m.HostKeys, Timeout: 10 * time.Second})
			if err != nil {
				return nil, err
			}
			return provision.SSH(c), nil
		}})
	}
	var mu sync.Mutex
	var events []provision.Event
	secrets := append(e.inv.SecretValues(), SecretValues(e.inv, e.fleet)...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	rs := provision.Run(ctx, hosts, provision.Options{Mode: provision.Apply,
		Redact: func(s string) string {
			for _, v := range secrets {
				s = strings.ReplaceAll(s, v, "***")
			}
			return s
		},
		Observer: provision.ObserverFunc(func(ev provision.Event) { mu.Lock(); events = append(events, ev); mu.Unlock() })})
	for _, ev := range events {
		for _, v := range secrets {
			if strings.Contains(fmt.Sprintf("%+v", ev), v) {
				e.t.Fatalf("a secret leaked into an event of step %q", ev.Step)
			}
		}
	}
	return rs, events
}

func changedSteps(events []provision.Event) []string {
	var out []string
	for _, ev := range events {
		if ev.Type == "step" && ev.Status == "changed" {
			out = append(out, ev.Host+": "+ev.Step+" ("+ev.Summary+")")
		}
	}
	return out
}

func (e *e2eEnv) mustConverge(names ...string) []string {
	e.t.Helper()
	rs, events := e.converge(names...)
	for _, r := range rs {
		if r.Err != nil {
			e.t.Fatalf("converge %s: %v", r.Host, r.Err)
		}
	}
	return changedSteps(events)
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

// uploadDir copies the files under dir to dest (ending in /) on a host.
func (e *e2eEnv) uploadDir(name, dir, dest string) {
	e.t.Helper()
	c, err := e.dial(context.Background(), name)
	must(e.t, err)
	defer c.Close()
	must(e.t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		return c.upload(p, dest+rel)
	}))
}

// prepareHosts: every host knows the others' names and runs pebble.
func (e *e2eEnv) prepareHosts() {
	e.t.Helper()
	var hosts strings.Builder
	for name, m := range e.machines {
		fmt.Fprintf(&hosts, "%s %s.omc.test\n", m.Address, name)
	}
	for name := range e.machines {
		e.mustSh(name, `set -e
printf '%s' `+shell.Quote(hosts.String())+` >> /etc/hosts
export DEBIAN_FRONTEND=noninteractive
apt-get -q update >/dev/null && apt-get -y -q install pebble openssl curl ca-certificates >/dev/null
mkdir -p /etc/omc-e2e && cd /etc/omc-e2e
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=pebble-e2e-ca -keyout ca.key -out pebble-ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout pebble.key -out pebble.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > san.ext
openssl x509 -req -in pebble.csr -CA pebble-ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out pebble.pem 2>/dev/null
cat > pebble.json <<'PEBBLE'
{"pebble": {"listenAddress": "127.0.0.1:14000", "managementListenAddress": "127.0.0.1:15000",
 "certificate": "/etc/omc-e2e/pebble.pem", "privateKey": "/etc/omc-e2e/pebble.key",
 "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
PEBBLE
systemd-run --quiet --unit=omc-e2e-pebble -E PEBBLE_VA_NOSLEEP=1 -E PEBBLE_WFE_NONCEREJECT=0 /usr/bin/pebble -config /etc/omc-e2e/pebble.json
i=0; until curl -s --cacert pebble-ca.pem https://127.0.0.1:14000/dir >/dev/null; do i=$((i+1)); [ $i -lt 30 ] || exit 1; sleep 1; done`)
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

// mustStayConverged runs the roles again on hosts they converged: the
// real probe output of every step must plan nothing, so no step changes
// and each one reports ok.
func (e *e2eEnv) mustStayConverged(names ...string) {
	e.t.Helper()
	rs, events := e.converge(names...)
	for _, r := range rs {
		if r.Err != nil {
			e.t.Fatalf("second run on %s: %v", r.Host, r.Err)
		}
	}
	if again := changedSteps(events); len(again) != 0 {
		e.t.Fatalf("a second run changed something:\n%s", strings.Join(again, "\n"))
	}
	ok := map[string]bool{}
	for _, ev := range events {
		if ev.Type == "step" && ev.Status == "ok" {
			ok[ev.Host+": "+ev.Step] = true
		}
	}
	for _, name := range names {
		steps, err := Steps(e.inv, e.node(name), e.fleet)
		must(e.t, err)
		for _, s := range steps {
			if !ok[name+": "+s.ID()] {
				e.t.Errorf("second run on %s: %s was not found in sync", name, s.ID())
			}
		}
	}
}
