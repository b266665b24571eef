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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/scalelite"
)

const scaleliteGroup = `    pool:
      url: https://rs1.omc.test
      secret: env:OMC_E2E_LB
    nodes:
      - {name: rs1, roles: [scalelite], domain: rs1.omc.test, settings: {scalelite: {multitenancy: true}}}
      - {name: rb1, roles: [bbb], domain: rb1.omc.test}
`

// A scalelite node and a BBB node on real local hosts: Scalelite's
// images are stand-ins (testdata/standin/scalelite) imported into the
// node's Docker under their real names before omc runs, so the pull
// steps find them and the units, env file and nginx site run unchanged.
// Checked: a second run changes nothing; the containers run; the API
// made its database in the node's real PostgreSQL with omc's role, and
// migrates it on a restart; Scalelite answers through nginx over TLS with
// the pool's secret (a server added as omc's pool sync does); a
// recording published on the BBB node travels over rsync/SSH into the
// spool, is imported, and is served through Scalelite's API and nginx.
func TestE2EScalelite(t *testing.T) {
	e := baseE2E(t, dockerNspawnEnv, dockerNspawnArgs...)
	const lb = "e2e-loadbalancer-secret-0123456789"
	t.Setenv("OMC_E2E_LB", lb)
	invFile := filepath.Join(t.TempDir(), "omc.yaml")
	must(t, os.WriteFile(invFile, []byte(dockerInventory("omc-scalelite-e2e", e.keyPath, scaleliteGroup)), 0o600))
	e.loadFile(invFile)
	e.boot("rs1", "rb1")
	e.prepareHosts()
	e.uploadDir("rb1", buildStandinRepo(t, "1.0"), "/srv/omc-standin/")

	e.uploadStandin("rs1", "./testdata/standin/scalelite")
	sl := scaleliteOf(settingsOf(e.node("rs1")))
	image := func(suffix string) string { return sl.Image + ":" + sl.Version + "-" + suffix }
	out, err := e.sh("rs1", `set -e
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
	t.Logf("docker on rs1:\n%s", out)
	if err != nil {
		t.Fatalf("Docker does not run on the local host: %v", err)
	}

	first := e.mustConverge("rs1", "rb1")
	t.Logf("first run changed %d steps", len(first))
	if again := e.mustConverge("rs1", "rb1"); len(again) != 0 {
		t.Fatalf("a second run changed something:\n%s", strings.Join(again, "\n"))
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
	n := strings.Count(logs(), ">>> Database migration")
	e.mustSh("rs1", "systemctl restart scalelite-api")
	waitFor(t, "the API to migrate on its next start", func() bool { return strings.Count(logs(), ">>> Database migration") > n })

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
	api, err := APISecret(e.inv, e.node("rb1"))
	must(t, err)
	if _, err := c.Add(ctx, pool.ServerSpec{URL: "https://rb1.omc.test/bigbluebutton/api", Secret: api, LoadMultiplier: 1}); err != nil {
		t.Fatalf("adding rb1 to the pool: %v", err)
	}
	servers, err := c.List(ctx)
	if err != nil || len(servers) != 1 || servers[0].URL != "https://rb1.omc.test/bigbluebutton/api" {
		t.Fatalf("Scalelite's servers: %+v, %v", servers, err)
	}
	bad := &scalelite.Client{URL: "https://rs1.omc.test", Secret: "not-the-pool-secret", HTTP: hc}
	if _, err := bad.List(ctx); err == nil {
		t.Error("Scalelite took another secret than the pool's")
	}

	// Local hosts never reach each other (providers/local isolates them),
	// so rb1 reaches rs1's sshd through a relay on the machine's end of
	// rb1's link: on rb1 a route sends rs1's address there, and a NAT rule
	// of the test's own (beside omc's ruleset) turns port 22 into the
	// relay's.
	rb1 := netip.MustParseAddr(e.machines["rb1"].Address)
	machineEnd := rb1.Prev() // each link is a /30: .1 the machine, .2 the host
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
	e.mustSh("rb1", fmt.Sprintf(`set -e
ip route replace %[1]s/32 via %[2]s
nft add table ip omc_e2e_relay
nft add chain ip omc_e2e_relay out '{ type nat hook output priority -100; }'
nft add rule ip omc_e2e_relay out ip daddr %[1]s tcp dport 22 dnat to %[2]s:2222`, addr, machineEnd))

	// A recording published on rb1 reaches Scalelite and is served.
	e.mustSh("rb1", `set -e
install -d -o bigbluebutton -g bigbluebutton /var/bigbluebutton/published/presentation/rec-e2e /var/bigbluebutton/recording/status/published
echo '<recording><id>rec-e2e</id></recording>' > /var/bigbluebutton/published/presentation/rec-e2e/metadata.xml
chown -R bigbluebutton: /var/bigbluebutton/published/presentation/rec-e2e
runuser -u bigbluebutton -- `+transferScript+` rec-e2e
test -f /var/bigbluebutton/recording/status/published/rec-e2e-sender.done`)
	waitFor(t, "Scalelite to import rec-e2e", func() bool {
		_, err := e.sh("rs1", "test -f /var/bigbluebutton/published/presentation/rec-e2e/metadata.xml")
		return err == nil
	})
	for path, want := range map[string]string{
		"/presentation/rec-e2e/metadata.xml": "<recording><id>rec-e2e</id></recording>",
		"/playback/presentation/2.3/rec-e2e": "STAND-IN player",
	} {
		if got := e.mustSh("rs1", "curl -fsS --cacert /tmp/pebble-root.pem https://rs1.omc.test"+path); !strings.Contains(got, want) {
			t.Errorf("GET %s through Scalelite: %q, want %q", path, got, want)
		}
	}
	e.testTenantCertificate(t, invFile, lb, roots)
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
