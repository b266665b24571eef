package roles

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/providers/local"
)

// TestE2EBackup runs the omc binary against a real local BBB node (the
// stand-in package, as TestE2ERoles): omc up installs restic, the nightly
// timer and the node exporter; a backup run goes to a restic repository
// in a directory on the host; omc backup status reports it; the node's
// configuration and recordings are damaged; omc restore refuses while a
// meeting is live and then brings them back; a second converge changes
// nothing. The exporter answers the test (its monitoring source) on the
// node's address, and the firewall rule exists.

const e2eBackupInventory = `apiVersion: omc/v1
name: omc-backup-e2e
secrets:
  bbb_seed: env:OMC_E2E_BACKUP_SEED
  restic_password: env:OMC_E2E_RESTIC_PASSWORD
defaults:
  ssh: {key: %q}
  settings:
    acme_directory: https://127.0.0.1:14000/dir
    acme_ca_file: /etc/omc-e2e/pebble-ca.pem
    bbb_version: 9.9-standin
    bbb_os: debian-12
    bbb_repo: {url: "file:/srv/omc-standin", suite: standin, components: main, trusted: true}
    bbb_packages: [bigbluebutton=1.0]
    sysctl: {net.core.rmem_max: null, net.core.wmem_max: null}
    backup: {repository: "/var/backups/omc-e2e-restic/{node}", keep: {daily: 3, weekly: 1, monthly: 1}}
    monitoring: {sources: [10.250.0.0/16]}
groups:
  e2e:
    provider: local
    image: debian-12
    nodes:
      - {name: bk1, roles: [bbb], domain: bk1.omc.test}
`

const (
	e2eBackupSeed   = "FAKE-e2e-backup-seed-not-a-real-one"
	e2eResticSecret = "FAKE-e2e-restic-password-not-a-real-one"
)

func TestE2EBackup(t *testing.T) {
	if os.Getenv("OMC_E2E") == "" {
		t.Skip("E2E on real local hosts: set OMC_E2E=1 (needs root, systemd-nspawn, debootstrap, apt-cacher-ng)")
	}
	if err := local.Check(); err != nil {
		t.Skipf("OMC_E2E is set but this machine cannot run local hosts: %v", err)
	}
	dir := os.Getenv("OMC_LOCAL_DIR")
	if dir == "" {
		dir = "/var/cache/omc-test"
	}
	work := t.TempDir()
	omc := filepath.Join(work, "omc")
	if out, err := exec.Command("go", "build", "-o", omc, "github.com/omc-coop/omc").CombinedOutput(); err != nil {
		t.Fatalf("building omc: %v\n%s", err, out)
	}
	p, err := local.New(local.Options{Dir: dir, Stderr: logWriter{t}})
	must(t, err)
	e := &e2eEnv{t: t, p: p, keyPath: filepath.Join(work, "id_ed25519")}
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "omc-e2e-backup", "-f", e.keyPath).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	b, _ := os.ReadFile(e.keyPath)
	e.signer, err = ssh.ParsePrivateKey(b)
	must(t, err)
	invPath := filepath.Join(work, "omc.yaml")
	must(t, os.WriteFile(invPath, []byte(fmt.Sprintf(e2eBackupInventory, e.keyPath)), 0o644))
	t.Setenv("OMC_E2E_BACKUP_SEED", e2eBackupSeed)
	t.Setenv("OMC_E2E_RESTIC_PASSWORD", e2eResticSecret)
	e.inv, err = inventory.Load(invPath)
	must(t, err)
	e.fleet = e.inv.Nodes()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	g := e.inv.Group("e2e")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := p.Delete(ctx, e.inv, g, []string{"bk1"}); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	ms, err := p.Create(ctx, e.inv, g, e.fleet)
	must(t, err)
	e.machines = map[string]providers.Machine{}
	for _, m := range ms {
		e.machines[m.Name] = m
	}
	e.setAddresses()
	addr := e.machines["bk1"].Address
	prepareBackupHost(e, "bk1", buildStandinRepo(t, "1.0"))

	// omc itself, as an operator runs it.
	env := append(os.Environ(), "OMC_LOCAL_DIR="+dir, "OMC_STATE_DIR="+filepath.Join(work, "state"), "CI=true", "NO_COLOR=1", "OMC_INVENTORY="+invPath)
	omcRun := func(args ...string) (string, string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, omc, args...)
		c.Env = env
		var out, errb strings.Builder
		c.Stdout, c.Stderr = &out, &errb
		err := c.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("omc %v: %v", args, err)
		}
		if strings.Contains(out.String()+errb.String(), e2eResticSecret) {
			t.Fatalf("omc %v: the restic password reached the output", args)
		}
		return out.String(), errb.String(), code
	}
	up := func(what string) int {
		t.Helper()
		out, errs, code := omcRun("up", "e2e", "-o", "json")
		if code != 0 {
			t.Fatalf("%s: omc up: exit %d\n%s\n%s", what, code, out, errs)
		}
		var sum struct {
			Type  string `json:"type"`
			Steps int    `json:"steps_changed"`
		}
		var changed []string
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev["type"] == "step" && ev["status"] == "changed" {
				changed = append(changed, fmt.Sprint(ev["step"], " (", ev["summary"], ")"))
			}
			json.Unmarshal(sc.Bytes(), &sum)
		}
		if sum.Type != "summary" {
			t.Fatalf("%s: no summary line:\n%s", what, out)
		}
		t.Logf("%s: %d steps changed: %s", what, sum.Steps, strings.Join(changed, "; "))
		return sum.Steps
	}

	up("first converge")
	if n := up("second converge"); n != 0 {
		t.Fatalf("a second converge changed %d steps", n)
	}

	t.Run("monitoring", func(t *testing.T) {
		out := e.mustSh("bk1", "ss -Hltn 'sport = :9100'; systemctl is-active prometheus-node-exporter; nft list table inet omc")
		if !strings.Contains(out, addr+":9100") || strings.Contains(out, "*:9100") || strings.Contains(out, "0.0.0.0:9100") {
			t.Errorf("the exporter must listen on %s:9100 only:\n%s", addr, out)
		}
		if !strings.Contains(out, "ip saddr 10.250.0.0/16 tcp dport 9100 accept") {
			t.Errorf("no firewall rule for the monitoring sources:\n%s", out)
		}
		hc := &http.Client{Timeout: 10 * time.Second}
		resp, err := hc.Get("http://" + net.JoinHostPort(addr, "9100") + "/metrics")
		if err != nil {
			t.Fatalf("scraping the exporter from the monitoring source: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "node_exporter_build_info") {
			t.Errorf("scrape: %d %.300s", resp.StatusCode, body)
		}
		sd, errs, code := omcRun("monitoring", "targets")
		if code != 0 || !strings.Contains(sd, `"`+addr+`:9100"`) || !strings.Contains(sd, `"node": "bk1"`) {
			t.Errorf("monitoring targets: %d %s %s", code, sd, errs)
		}
	})

	// A recording (as BBB publishes it), then the nightly run, started now.
	e.mustSh("bk1", `set -e
mkdir -p /var/bigbluebutton/published/presentation/rec-1
echo '<recording><id>rec-1</id></recording>' > /var/bigbluebutton/published/presentation/rec-1/metadata.xml
chown -R bigbluebutton:bigbluebutton /var/bigbluebutton/published
systemctl is-enabled omc-backup.timer; systemctl is-active omc-backup.timer
systemctl start omc-backup.service`)
	before := e.mustSh("bk1", "sha256sum /etc/bigbluebutton/bbb-web.properties /etc/bigbluebutton/bbb-html5.yml /opt/freeswitch/conf/vars.xml /var/bigbluebutton/published/presentation/rec-1/metadata.xml")
	if out := e.mustSh("bk1", "systemctl show -p Result --value omc-backup.service; stat -c %a /etc/omc/backup/password /etc/omc/backup/env"); out != "success\n600\n600\n" {
		t.Fatalf("backup run: %q", out)
	}

	var status struct {
		OK    bool `json:"ok"`
		Nodes []struct {
			Node    string `json:"node"`
			LastRun string `json:"last_run"`
			Targets []struct {
				Target, Snapshot string
				OK               bool
			}
		}
	}
	out, errs, code := omcRun("backup", "status", "-o", "json")
	if code != 0 || json.Unmarshal([]byte(out), &status) != nil || !status.OK || len(status.Nodes) != 1 {
		t.Fatalf("backup status: exit %d\n%s\n%s", code, out, errs)
	}
	targets := map[string]string{}
	for _, tg := range status.Nodes[0].Targets {
		if tg.OK {
			targets[tg.Target] = tg.Snapshot
		}
	}
	if targets["config"] == "" || targets["recordings"] == "" || status.Nodes[0].LastRun != "success" {
		t.Fatalf("backup status: %s", out)
	}
	if text, _, code := omcRun("backup", "status"); code != 0 || !strings.Contains(text, "bk1") || !strings.Contains(text, targets["config"]) {
		t.Errorf("backup status table: %d\n%s", code, text)
	}

	// Lose and damage what the backup holds.
	e.mustSh("bk1", `set -e
rm -f /etc/bigbluebutton/bbb-web.properties
echo 'public: {app: {clientTitle: broken}}' >> /etc/bigbluebutton/bbb-html5.yml
rm -rf /var/bigbluebutton/published/presentation/rec-1`)

	// A live meeting stops the restore, unless forced.
	secret := derive(purposeAPI, "bk1", e2eBackupSeed)
	meeting := func(call, query string) {
		h := sha256sum(call + query + secret)
		if out := e.mustSh("bk1", "curl -fsS "+q("http://127.0.0.1:8090/bigbluebutton/api/"+call+"?"+query+"&checksum="+h)); !strings.Contains(out, "SUCCESS") {
			t.Fatalf("%s: %s", call, out)
		}
	}
	// bbb-web.properties is gone, but BBB still runs with the secret omc
	// recorded when it last restarted it.
	meeting("create", "meetingID=class")
	if _, errs, code := omcRun("restore", "bk1"); code != 1 || !strings.Contains(errs, "1 meeting(s) are live") {
		t.Fatalf("restore during a meeting: exit %d\n%s", code, errs)
	}
	if out := e.mustSh("bk1", "ls /var/bigbluebutton/published/presentation/ | wc -l"); strings.TrimSpace(out) != "0" {
		t.Fatal("a refused restore restored something")
	}
	meeting("end", "meetingID=class")

	if out, errs, code := omcRun("restore", "bk1"); code != 0 || !strings.Contains(errs, "now run omc up bk1") {
		t.Fatalf("restore: exit %d\n%s\n%s", code, out, errs)
	}
	after := e.mustSh("bk1", "sha256sum /etc/bigbluebutton/bbb-web.properties /etc/bigbluebutton/bbb-html5.yml /opt/freeswitch/conf/vars.xml /var/bigbluebutton/published/presentation/rec-1/metadata.xml")
	if after != before {
		t.Fatalf("restored files differ:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if own := e.mustSh("bk1", "stat -c '%U:%G %a' /var/bigbluebutton/published/presentation/rec-1/metadata.xml /etc/bigbluebutton/bbb-web.properties"); own != "bigbluebutton:bigbluebutton 644\nroot:bigbluebutton 640\n" {
		t.Errorf("restored owners and modes: %q", own)
	}
	// One snapshot by ID, too.
	if _, errs, code := omcRun("restore", "bk1", "--snapshot", targets["config"]); code != 0 {
		t.Fatalf("restore --snapshot: exit %d\n%s", code, errs)
	}
	if _, errs, code := omcRun("restore", "bk1", "--snapshot", "deadbeef"); code == 0 {
		t.Errorf("restore of a snapshot that does not exist succeeded: %s", errs)
	}
	if n := up("converge after the restore"); n != 0 {
		t.Fatalf("the restored node differs from what omc converges: %d steps changed", n)
	}
}

// prepareBackupHost gives the host what the test world needs and omc
// does not do: its name, a private ACME CA (Debian's pebble) and the
// stand-in BBB package repository.
func prepareBackupHost(e *e2eEnv, name, repo string) {
	e.t.Helper()
	m := e.machines[name]
	e.mustSh(name, `set -e
echo `+q(m.Address+" "+name+".omc.test")+` >> /etc/hosts
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
	c, err := e.dial(context.Background(), name)
	must(e.t, err)
	defer c.Close()
	must(e.t, filepath.Walk(repo, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(repo, p)
		return c.upload(p, "/srv/omc-standin/"+rel)
	}))
}

func sha256sum(s string) string { return sha([]byte(s)) }
