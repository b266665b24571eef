package roles

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/shell"
)

// TestE2EBackup runs the omc binary against a real local BBB node (the
// stand-in package, as TestE2ERoles): omc up installs restic, the nightly
// timer and the node exporter; a backup run goes to a restic repository
// in a directory on the host; omc backup status reports it; the node's
// configuration and recordings are damaged; omc restore refuses while a
// meeting is live and then brings them back; a second converge changes
// nothing. The exporter answers the test (its monitoring source) on the
// node's address, and the firewall rule exists.
func TestE2EBackup(t *testing.T) {
	b := newBackupE2E(t, "omc-backup-e2e", "bk1")
	b.writeInventory("/var/backups/omc-e2e-restic/{node}")
	b.create(false)
	e, omcRun, up := b.e2eEnv, b.omc, b.up
	addr := e.machines["bk1"].Address
	prepareBackupHost(e, "bk1", buildStandinRepo(t, "1.0"))

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
		if out := e.mustSh("bk1", "curl -fsS "+shell.Quote("http://127.0.0.1:8090/bigbluebutton/api/"+call+"?"+query+"&checksum="+h)); !strings.Contains(out, "SUCCESS") {
			t.Fatalf("%s: %s", call, out)
		}
	}
	// bbb-web.properties is gone, but BBB still runs with the secret omc
	// recorded when it last restarted it.
	meeting("create", "meetingID=class")
	if _, errs, code := omcRun("restore", "bk1", "--yes"); code != 1 || !strings.Contains(errs, "1 meeting(s) are live") {
		t.Fatalf("restore during a meeting: exit %d\n%s", code, errs)
	}
	if out := e.mustSh("bk1", "ls /var/bigbluebutton/published/presentation/ | wc -l"); strings.TrimSpace(out) != "0" {
		t.Fatal("a refused restore restored something")
	}
	meeting("end", "meetingID=class")

	if out, errs, code := omcRun("restore", "bk1", "--yes"); code != 0 || !strings.Contains(errs, "now run omc up bk1") {
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
	if _, errs, code := omcRun("restore", "bk1", "--yes", "--snapshot", targets["config"]); code != 0 {
		t.Fatalf("restore --snapshot: exit %d\n%s", code, errs)
	}
	if _, errs, code := omcRun("restore", "bk1", "--yes", "--snapshot", "deadbeef"); code == 0 {
		t.Errorf("restore of a snapshot that does not exist succeeded: %s", errs)
	}
	if n := up("converge after the restore"); n != 0 {
		t.Fatalf("the restored node differs from what omc converges: %d steps changed", n)
	}
}

// prepareBackupHost readies the rig's host (its name, Debian's pebble as
// the ACME CA) and gives it the stand-in BBB package repository.
func prepareBackupHost(e *e2eEnv, name, repo string) {
	e.t.Helper()
	e.prepareHosts()
	e.uploadDir(name, repo, "/srv/omc-standin/")
}

func sha256sum(s string) string { return sha([]byte(s)) }
