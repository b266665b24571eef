package roles

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/scalelite"
)

const scaleliteGroup = `    pool:
      url: https://rs1.omc.test
      secret: env:OMC_E2E_LB
      # No TURN node here (TestE2ERoles checks TURN): the gate checks the
      # BBB API and its certificate.
      checks: [tls]
    # The stand-in reports the release it is built as: 4.1.0, the line
    # the nodes run, so the pool gate admits them.
    settings: {bbb_packages: [bigbluebutton=4.1.0]}
    nodes:
      - {name: rs1, roles: [scalelite], domain: rs1.omc.test, settings: {scalelite: {multitenancy: true}}}
      - {name: rb1, roles: [bbb], domain: rb1.omc.test}
      - {name: rb2, roles: [bbb], domain: rb2.omc.test}
`

// A scalelite node and two BBB nodes on real local hosts, brought up by
// the omc binary as an operator does (omc up e2e): Scalelite's images are
// stand-ins (testdata/standin/scalelite) imported into the node's Docker
// under their real names before omc runs, so the pull steps find them
// and the units, env file and nginx site run unchanged. Checked: omc up
// registers both BBB nodes in Scalelite, enabled, through its API over
// TLS with the pool's secret; a second omc up changes nothing, on the
// hosts or in the pool; the containers run; the API made its database in
// the node's real PostgreSQL with omc's role, and migrates it on a
// restart; a recording published on each BBB node travels over
// rsync/SSH into the spool, is imported, and is served through
// Scalelite's API and nginx.
func TestE2EScalelite(t *testing.T) {
	e := baseE2E(t, dockerNspawnEnv, dockerNspawnArgs...)
	const lb = "e2e-loadbalancer-secret-0123456789"
	t.Setenv("OMC_E2E_LB", lb)
	e.writeInventory(dockerInventory("omc-scalelite-e2e", e.keyPath, scaleliteGroup))
	e.boot("rs1", "rb1", "rb2")
	e.prepareHosts()
	e.omcSeesHosts()
	repo := buildStandinRepo(t, "4.1.0")
	for _, rb := range []string{"rb1", "rb2"} {
		e.uploadDir(rb, repo, "/srv/omc-standin/")
	}

	e.scaleliteStandins("rs1")

	steps, lines := e.upEvents("first omc up")
	t.Logf("first omc up changed %d steps", steps)
	var added []string
	for _, l := range lines {
		if l["type"] == "pool" {
			added = append(added, fmt.Sprint(l["node"], " ", l["action"]))
		}
	}
	t.Logf("pool changes: %v", added)
	steps, lines = e.upEvents("second omc up")
	for _, l := range lines {
		if l["type"] == "pool" {
			t.Errorf("the second omc up changed the pool: %v", l)
		}
	}
	if steps != 0 {
		t.Fatalf("the second omc up changed %d steps", steps)
	}

	// The containers, the env file, the database Scalelite made.
	e.mustSh("rs1", "systemctl is-active scalelite.target scalelite-api scalelite-poller scalelite-recording-importer")
	if got := e.mustSh("rs1", "stat -c '%a %U' /etc/default/scalelite"); strings.TrimSpace(got) != "600 root" {
		t.Errorf("/etc/default/scalelite: %s", got)
	}
	if got := e.mustSh("rs1", "cd /tmp && runuser -u postgres -- psql -tAc 'SELECT version FROM schema_migrations' scalelite_production"); strings.TrimSpace(got) != "standin" {
		t.Errorf("Scalelite's database as the API left it: %q", got)
	}
	// The unit's journal holds every start's output: the first made the
	// database, later ones (Docker restarted for its daemon.json, this
	// restart) migrate it.
	logs := func() string { return e.mustSh("rs1", "journalctl -u scalelite-api --no-pager -o cat") }
	if l := logs(); !strings.Contains(l, ">>> Database initialization") {
		t.Errorf("the API's first start did not make its database:\n%s", l)
	}

	// Scalelite's API through nginx over TLS, signed with the pool's secret.
	root := e.mustSh("rs1", "curl -fsS --cacert /etc/omc-e2e/pebble-ca.pem https://127.0.0.1:15000/roots/0")
	e.mustSh("rs1", "printf '%s' "+shellQuote(root)+" > /tmp/pebble-root.pem")
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(root)) {
		t.Fatalf("pebble's root: %q", root)
	}
	addr := e.machines["rs1"].Address
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "rs1.omc.test"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, net.JoinHostPort(addr, "443"))
		}}}
	c := &scalelite.Client{URL: "https://rs1.omc.test", Secret: lb, HTTP: hc}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	servers, err := c.List(ctx)
	if err != nil {
		t.Fatalf("Scalelite's servers: %v", err)
	}
	state := map[string]string{}
	for _, sv := range servers {
		state[sv.URL] = sv.State
	}
	for _, rb := range []string{"rb1", "rb2"} {
		if u := "https://" + rb + ".omc.test/bigbluebutton/api"; state[u] != pool.Enabled {
			t.Errorf("%s in Scalelite: %q (servers %+v), want enabled", rb, state[u], servers)
		}
	}
	if len(servers) != 2 {
		t.Errorf("Scalelite has %d servers, want rb1 and rb2: %+v", len(servers), servers)
	}
	bad := &scalelite.Client{URL: "https://rs1.omc.test", Secret: "not-the-pool-secret", HTTP: hc}
	if _, err := bad.List(ctx); err == nil {
		t.Error("Scalelite took another secret than the pool's")
	}

	// A recording published on each BBB node reaches Scalelite and is
	// served.
	for _, rb := range []string{"rb1", "rb2"} {
		e.relaySSH(rb, "rs1")
		rec := "rec-e2e-" + rb
		e.mustSh(rb, `set -e
install -d -o bigbluebutton -g bigbluebutton /var/bigbluebutton/published/presentation/`+rec+` /var/bigbluebutton/recording/status/published
echo '<recording><id>`+rec+`</id></recording>' > /var/bigbluebutton/published/presentation/`+rec+`/metadata.xml
chown -R bigbluebutton: /var/bigbluebutton/published/presentation/`+rec+`
runuser -u bigbluebutton -- `+transferScript+` `+rec+`
test -f /var/bigbluebutton/recording/status/published/`+rec+`-sender.done`)
		waitFor(t, "Scalelite to import "+rec, func() bool {
			_, err := e.sh("rs1", "test -f /var/bigbluebutton/published/presentation/"+rec+"/metadata.xml")
			return err == nil
		})
		for path, want := range map[string]string{
			"/presentation/" + rec + "/metadata.xml": "<recording><id>" + rec + "</id></recording>",
			"/playback/presentation/2.3/" + rec:      "STAND-IN player",
		} {
			if got := e.mustSh("rs1", "curl -fsS --cacert /tmp/pebble-root.pem https://rs1.omc.test"+path); !strings.Contains(got, want) {
				t.Errorf("GET %s through Scalelite: %q, want %q", path, got, want)
			}
		}
	}
	// Last, as the stand-in keeps the pool's servers in memory (Scalelite
	// keeps them in Redis): the API migrates its database on a restart.
	n := strings.Count(logs(), ">>> Database migration")
	e.mustSh("rs1", "systemctl restart scalelite-api")
	waitFor(t, "the API to migrate on its next start", func() bool { return strings.Count(logs(), ">>> Database migration") > n })
	e.testTenantCertificate(t, e.invPath, lb, roots)
}

// scaleliteStandins installs Debian's Docker on host name and imports the
// stand-in Scalelite images under the names and tags the node's settings
// pull, so omc's pull steps find them present.
func (e *e2eEnv) scaleliteStandins(name string) {
	t := e.t
	t.Helper()
	e.uploadStandin(name, "./testdata/standin/scalelite")
	sl := scaleliteOf(settingsOf(e.node(name)))
	image := func(suffix string) string { return sl.Image + ":" + sl.Version + "-" + suffix }
	out, err := e.sh(name, `set -e
export DEBIAN_FRONTEND=noninteractive
`+installDocker()+`chmod 755 /root/standin/scalelite
mk() {
  image=$1; shift
  d=$(mktemp -d)
  cp /root/standin/scalelite $d/scalelite
  mkdir -p $d/var/bigbluebutton/playback/presentation/2.3
  echo 'STAND-IN player' > $d/var/bigbluebutton/playback/presentation/2.3/index.html
  tar -C $d -c . | docker import "$@" - $image >/dev/null
  rm -rf $d
}
mk `+image("api")+` -c 'ENTRYPOINT ["/scalelite", "api"]'
mk `+image("poller")+` -c 'ENTRYPOINT ["/scalelite", "poller"]'
mk `+image("recording-importer")+` -c 'ENTRYPOINT ["/scalelite", "recording-importer"]'
mk `+image("nginx")+` -c 'ENTRYPOINT ["/scalelite", "nginx"]'
docker image ls --format '{{.Repository}}:{{.Tag}}'`)
	t.Logf("docker on %s:\n%s", name, out)
	if err != nil {
		t.Fatalf("Docker does not run on the local host: %v", err)
	}
}

// relaySSH lets host from reach host to's sshd. Local hosts never reach
// each other (providers/local isolates them), so the test relays: a
// listener on the machine's end of from's link forwards to to's port 22;
// on from, a route sends to's address there and a NAT rule of the test's
// own (beside omc's ruleset) turns port 22 into the relay's.
func (e *e2eEnv) relaySSH(from, to string) {
	t := e.t
	t.Helper()
	addr := e.machines[to].Address
	machineEnd := netip.MustParseAddr(e.machines[from].Address).Prev() // each link is a /30: .1 the machine, .2 the host
	relay, err := net.Listen("tcp", net.JoinHostPort(machineEnd.String(), "2222"))
	must(t, err)
	t.Cleanup(func() { relay.Close() })
	go func() {
		for {
			in, err := relay.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.DialTimeout("tcp", net.JoinHostPort(addr, "22"), 10*time.Second)
				if err != nil {
					return
				}
				defer out.Close()
				go io.Copy(out, in)
				io.Copy(in, out)
			}()
		}
	}()
	e.mustSh(from, fmt.Sprintf(`set -e
ip route replace %[1]s/32 via %[2]s
nft add table ip omc_e2e_relay
nft add chain ip omc_e2e_relay out '{ type nat hook output priority -100; }'
nft add rule ip omc_e2e_relay out ip daddr %[1]s tcp dport 22 dnat to %[2]s:2222`, addr, machineEnd))
}

// waitFor polls cond for up to 60 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 60; i++ {
		if cond() {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("waited 60 s for %s", what)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
