package templates

import (
	"testing"

	"github.com/omc-coop/omc/internal/golden"
)

// The backup and monitoring templates' samples join the shared table, so
// TestGolden pins them like every other template.
func init() {
	samples[ResticWrapper] = Restic{Node: "bbb-1", Repository: "sftp:backup@backup.example.org:/srv/restic/bbb-1"}
	samples[BackupEnv] = BackupEnvironment{Node: "bbb-1", Env: []KV{{"AWS_ACCESS_KEY_ID", "'FAKE-KEY-ID'"}, {"AWS_SECRET_ACCESS_KEY", "'" + fakeSecret + "'"}}}
	samples[BackupScript] = sampleBackup
	samples[BackupUnit] = sampleBackup
	samples[BackupTimer] = sampleBackup
	samples[NodeExporterOverride] = NodeExporter{Node: "bbb-1", Listen: "10.0.0.10:9100"}
}

var sampleBackup = Backup{Node: "bbb-1", KeepDaily: 7, KeepWeekly: 4, KeepMonthly: 6, Schedule: "*-*-* 01:30:00", RandomDelay: "2h",
	Targets: []BackupTarget{
		{Name: "config", Paths: []string{"/etc/bigbluebutton", "/etc/letsencrypt", "/etc/turnserver.conf"}},
		{Name: "recordings", Paths: []string{"/var/bigbluebutton/published", "/var/bigbluebutton/unpublished"}},
	}}

// A Scalelite node dumps its database first; an empty environment file
// still renders (omc-restic sources it).
func TestGoldenBackupVariants(t *testing.T) {
	cases := map[string]struct {
		name string
		data any
	}{
		"omc-backup-scalelite.sh": {BackupScript, Backup{Node: "sl-1", KeepDaily: 14, KeepWeekly: 8, KeepMonthly: 12,
			Targets: []BackupTarget{
				{Name: "config", Paths: []string{"/etc/default/scalelite"}},
				{Name: "scalelite-db", Paths: []string{"/var/backups/omc/scalelite.pgdump"}, Dump: "runuser -u postgres -- pg_dump --format=custom scalelite_production"},
			}}},
		"omc-backup-empty.env": {BackupEnv, BackupEnvironment{Node: "sl-1"}},
		"nftables-monitoring": {Nftables, Firewall{Node: "bbb-1", SSHPort: 22, Rules: []Rule{{Proto: "tcp", Ports: "443", Comment: "https"}},
			Limited: []LimitedRule{{Proto: "tcp", Ports: "9100", Comment: "prometheus node exporter", V4: []string{"192.0.2.0/24", "198.51.100.7/32"}, V6: []string{"2001:db8::/32"}}}}},
	}
	for file, c := range cases {
		t.Run(file, func(t *testing.T) {
			got, err := Render(c.name, c.data)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, file+".golden", got)
		})
	}
}
