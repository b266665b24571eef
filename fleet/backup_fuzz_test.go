package fleet

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/provision/roles"
)

// resticSnapshots is what `restic snapshots --json` (restic 0.14, Debian
// 12's; cmd/restic/cmd_snapshots.go prints internal/restic/snapshot.go's
// Snapshot plus id and short_id) says of two snapshots, on one line as
// roles.BackupStatusScript prints it. Written from those files.
const resticSnapshots = `[{"time":"2026-03-01T02:00:03.123456789+00:00","tree":"` + hex64 + `","paths":["/etc/bigbluebutton","/var/bigbluebutton"],"hostname":"bbb-1","username":"root","uid":0,"gid":0,"tags":["omc-bbb"],"id":"` + hex64 + `","short_id":"0123abcd"},` +
	`{"time":"2026-03-02T02:00:03+00:00","parent":"` + hex64 + `","tree":"` + hex64 + `","paths":["/etc/letsencrypt"],"hostname":"bbb-1","username":"root","uid":0,"gid":0,"excludes":["*.tmp"],"tags":["omc-tls"],"id":"` + hex64 + `","short_id":"4567cdef"}]`

const hex64 = "0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd"

// FuzzBackupStatus feeds any output of the backup status script, which
// a node prints (restic's JSON among it), to the reader. It must not
// panic; each target gets one status, OK only when the node has a
// snapshot with the target's tag no older than the limit and nothing went
// wrong; a secret restic printed in its error never shows.
func FuzzBackupStatus(f *testing.F) {
	f.Add("result=success\nran=Mon 2026-03-02 02:00:10 UTC\nsnapshots=" + resticSnapshots + "\n")
	f.Add("result=exit-code\nran=\nerror=Fatal: wrong password or no key found (repo s3:https://u:fuzz-restic-secret@s3.example.org/b)\n")
	f.Add("state=absent\n")
	f.Add("snapshots=[]\n")
	f.Add("snapshots=[{\"time\":\"yesterday\"}]\n")
	const secret = "fuzz-restic-secret"
	targets := []roles.BackupTarget{{Name: "bbb", Paths: []string{"/etc/bigbluebutton"}}, {Name: "tls", Paths: []string{"/etc/letsencrypt"}}}
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, out string) {
		ns := NodeBackupStatus(BackupNodeStatus{Node: "bbb-1", Group: "eu"}, out, targets, now, 36*time.Hour, redact.New(secret).String)
		if len(ns.Targets) != len(targets) {
			t.Fatalf("%d target statuses for %d targets", len(ns.Targets), len(targets))
		}
		allOK := ns.Error == ""
		for i, ts := range ns.Targets {
			if ts.Target != targets[i].Name {
				t.Fatalf("status %d is for %q, want %q", i, ts.Target, targets[i].Name)
			}
			if ts.OK && (ns.Error != "" || ts.Time == nil || now.Sub(*ts.Time) > 36*time.Hour) {
				t.Fatalf("target %s OK with error %q, snapshot time %v", ts.Target, ns.Error, ts.Time)
			}
			allOK = allOK && ts.OK
		}
		if ns.OK != allOK {
			t.Fatalf("node OK %v, targets and error say %v", ns.OK, allOK)
		}
		// Only the error line can carry restic's words about the repository.
		var errLines []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "error=") {
				errLines = append(errLines, l)
			}
		}
		if strings.Contains(ns.Error, secret) && slices.ContainsFunc(errLines, func(l string) bool { return strings.Contains(l, secret) }) {
			t.Fatalf("the secret shows: %q", ns.Error)
		}
	})
}

// The seed above is read as restic means it: each target's newest
// snapshot of this node, by tag.
func TestBackupStatusReadsResticJSON(t *testing.T) {
	targets := []roles.BackupTarget{{Name: "bbb"}, {Name: "tls"}}
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	ns := NodeBackupStatus(BackupNodeStatus{Node: "bbb-1"}, "result=success\nsnapshots="+resticSnapshots+"\n", targets, now, 36*time.Hour, redact.New().String)
	if !ns.OK || ns.Targets[0].Snapshot != "0123abcd" || ns.Targets[1].Snapshot != "4567cdef" || *ns.Targets[1].AgeSeconds != 10*3600-3 {
		t.Fatalf("%+v", ns)
	}
}
