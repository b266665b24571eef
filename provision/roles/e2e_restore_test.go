package roles

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/shell"
)

// TestE2ERestoreRebuilt backs a local BBB node up to a restic repository
// off the node (restic's REST backend, served by the test on the machine's
// end of the host's link), rebuilds the host from the image (a fresh
// rootfs, same address and host key), checks that its configuration and
// recordings are gone, runs omc restore on the bare node (it installs
// restic and the repository's credentials itself), converges it with omc
// up, and checks that the files came back byte for byte with their modes
// and owners, that BBB answers and that the nightly backup runs again.
func TestE2ERestoreRebuilt(t *testing.T) {
	const node = "rs1"
	b := newBackupE2E(t, "omc-restore-e2e", node)
	// The repository's address is the host's link, known once it exists.
	b.writeInventory("/var/backups/omc-e2e-restic/{node}")
	b.create(false)
	machineEnd := netip.MustParseAddr(b.machines[node].Address).Prev()
	b.writeInventory(serveResticREST(t, machineEnd.String(), t.TempDir()) + "{node}")
	standin := buildStandinRepo(t, "1.0")
	prepareBackupHost(b.e2eEnv, node, standin)

	b.up("first converge")
	// Configuration omc does not write (an operator's own file) and a
	// recording, as BBB publishes it.
	const (
		custom = "/etc/bigbluebutton/omc-e2e-custom.yml"
		rec    = "/var/bigbluebutton/published/presentation/rec-7"
	)
	b.mustSh(node, `set -e
printf 'public:\n  app:\n    clientTitle: restored-by-omc\n' > `+custom+`
chown root:bigbluebutton `+custom+` && chmod 0640 `+custom+`
mkdir -p `+rec+`
echo '<recording><id>rec-7</id></recording>' > `+rec+`/metadata.xml
head -c 262144 /dev/urandom > `+rec+`/video.webm
chown -R bigbluebutton:bigbluebutton /var/bigbluebutton/published
systemctl start omc-backup.service`)
	if out := b.mustSh(node, "systemctl show -p Result --value omc-backup.service"); out != "success\n" {
		t.Fatalf("backup run: %q", out)
	}
	files := custom + " " + rec + "/metadata.xml " + rec + "/video.webm /etc/bigbluebutton/bbb-web.properties /opt/freeswitch/conf/vars.xml"
	sums := "sha256sum " + files
	// / and /etc too: the restore once copied its 0700 staging directory
	// over /, and coturn (its own user) then failed with 200/CHDIR.
	meta := "stat -c '%n %U:%G %a' " + files + " " + rec + " / /etc"
	before, beforeMeta := b.mustSh(node, sums), b.mustSh(node, meta)

	b.create(true)
	if out := b.mustSh(node, "for p in "+files+" /usr/bin/restic "+ResticWrapper+"; do [ ! -e $p ] || echo left: $p; done"); out != "" {
		t.Fatalf("the rebuilt host is not fresh:\n%s", out)
	}
	prepareBackupHost(b.e2eEnv, node, standin)

	out, errs, code := b.omc("restore", node, "--yes")
	if code != 0 || !strings.Contains(errs, "now run omc up "+node) {
		t.Fatalf("restore onto the rebuilt node: exit %d\n%s\n%s", code, out, errs)
	}
	b.up("converge after the restore")
	if n := b.up("second converge after the restore"); n != 0 {
		t.Fatalf("the restored node differs from what omc converges: %d steps changed", n)
	}
	if after := b.mustSh(node, sums); after != before {
		t.Errorf("restored files differ:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if afterMeta := b.mustSh(node, meta); afterMeta != beforeMeta {
		t.Errorf("restored owners and modes differ:\nbefore:\n%s\nafter:\n%s", beforeMeta, afterMeta)
	}

	// coturn runs as its own user; the restore's staging directory and its
	// list of owners to put back are gone.
	if out := b.mustSh(node, "systemctl is-active coturn; ls -d /var/lib/omc/restore* 2>/dev/null || true"); out != "active\n" {
		t.Errorf("coturn after the restore, and what the restore left behind: %q", out)
	}

	// BBB answers with the secret omc derives, and the backup runs again.
	secret := derive(purposeAPI, node, e2eBackupSeed)
	query := "meetingID=after-restore"
	h := sha256sum("create" + query + secret)
	if out := b.mustSh(node, "curl -fsS "+shell.Quote("http://127.0.0.1:8090/bigbluebutton/api/create?"+query+"&checksum="+h)); !strings.Contains(out, "SUCCESS") {
		t.Errorf("BBB after the restore: %s", out)
	}
	if out := b.mustSh(node, "systemctl is-active omc-backup.timer; systemctl start omc-backup.service; systemctl show -p Result --value omc-backup.service"); out != "active\nsuccess\n" {
		t.Errorf("backup after the restore: %q", out)
	}
}
