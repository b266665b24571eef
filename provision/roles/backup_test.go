package roles

import (
	"slices"
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
)

const (
	fakeRestic = "FAKE-restic-password-not-a-real-one"
	fakeS3     = "FAKE-s3-key-'quoted'-not-a-real-one"
)

func loadOpsFleet(t *testing.T) (*inventory.Inventory, []*inventory.Node) {
	t.Helper()
	t.Setenv("OMC_TEST_SEED", fakeSeed)
	t.Setenv("OMC_TEST_RESTIC", fakeRestic)
	t.Setenv("OMC_TEST_S3_KEY", fakeS3)
	inv, err := inventory.Load("testdata/ops-fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return inv, inv.Nodes()
}

// The whole step list of each node with backup and monitoring is pinned,
// secrets masked; what matters in it is checked on its own (checkOpsFacts).
func TestOpsStepsGolden(t *testing.T) {
	inv, fleet := loadOpsFleet(t)
	secretVals := append(inv.SecretValues(), SecretValues(inv, fleet)...)
	for _, n := range fleet {
		t.Run(n.Name, func(t *testing.T) {
			steps, err := Steps(inv, n, fleet)
			if err != nil {
				t.Fatal(err)
			}
			got := describe(steps, secretVals)
			for _, v := range []string{fakeRestic, fakeS3, shell.Quote(fakeS3)} {
				if strings.Contains(got, v) {
					t.Fatalf("a backup secret is left unmasked in the listing")
				}
			}
			golden(t, "steps-ops-"+n.Name, got)
			checkOpsFacts(t, n, steps)
		})
	}
}

// The restic password and the backend credentials are masked by the
// roles' SecretValues (the environment file holds them sh-quoted), and
// never appear in an ID or a command (summaries of real runs:
// TestConvergedCopyOfThisMachinePlansNothing, the E2E tests).
func TestBackupSecrets(t *testing.T) {
	inv, fleet := loadOpsFleet(t)
	vals := SecretValues(inv, fleet)
	for _, v := range []string{fakeRestic, fakeS3, shell.Quote(fakeS3)} {
		if !slices.Contains(vals, v) {
			t.Errorf("SecretValues lacks a backup secret")
		}
	}
	for _, n := range fleet {
		steps, err := Steps(inv, n, fleet)
		if err != nil {
			t.Fatal(err)
		}
		var pw, env bool
		for _, s := range steps {
			text := s.ID()
			if c, ok := s.(*provision.CommandStep); ok {
				text += c.Run + c.Unless + c.Creates
			}
			if strings.Contains(text, fakeRestic) || strings.Contains(text, "s3-key") {
				t.Errorf("%s: step %q shows a backup secret", n.Name, s.ID())
			}
			if f, ok := s.(*provision.FileStep); ok {
				switch f.Path {
				case backupPassword:
					pw = string(f.Content) == fakeRestic && f.Mode == 0o600
				case backupEnv:
					env = strings.Contains(string(f.Content), "AWS_SECRET_ACCESS_KEY="+shell.Quote(fakeS3)+"\n") && f.Mode == 0o600
				}
			}
		}
		if !pw || !env {
			t.Errorf("%s: password file %v, credentials file %v: want both, 0600", n.Name, pw, env)
		}
	}
}

func TestBackupTargets(t *testing.T) {
	_, fleet := loadOpsFleet(t)
	targets := func(name string) map[string][]string {
		ts, err := BackupTargets(node(t, fleet, name), fleet)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string][]string{}
		for _, t := range ts {
			m[t.Name] = t.Paths
		}
		return m
	}
	b1 := targets("bbb-1")
	for _, p := range []string{"/etc/bigbluebutton", fsVars, bbbNginxSite, "/etc/letsencrypt", "/etc/default/greenlight"} {
		if !slices.Contains(b1[TargetConfig], p) {
			t.Errorf("bbb-1 config lacks %s: %v", p, b1[TargetConfig])
		}
	}
	if slices.Contains(b1[TargetConfig], "/etc/turnserver.conf") {
		t.Error("bbb-1's group has a TURN node: no coturn config on bbb-1")
	}
	if !slices.Contains(b1[TargetRecordings], "/var/bigbluebutton/published") {
		t.Errorf("bbb-1 records (BBB's default): recordings %v", b1[TargetRecordings])
	}
	if _, ok := targets("bbb-2")[TargetRecordings]; ok {
		t.Error("bbb-2 has bbb.recording: false: no recordings target")
	}
	if tc := targets("turn-1")[TargetConfig]; !slices.Contains(tc, "/etc/turnserver.conf") || !slices.Contains(tc, "/etc/turnserver") {
		t.Errorf("turn-1 config: %v", tc)
	}
	sl := targets("sl-1")
	if !slices.Equal(sl[TargetScaleliteDB], []string{scaleliteDump}) || len(sl[TargetRecordings]) != 0 {
		t.Errorf("sl-1 targets: %v", sl)
	}
	inv2, err := inventory.LoadReader("x.yaml", strings.NewReader("apiVersion: omc/v1\nname: x\ngroups:\n  g:\n    provider: static\n    nodes:\n      - {name: a, roles: [bbb], address: 192.0.2.1, domain: a.example}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if ts, err := BackupTargets(inv2.Nodes()[0], inv2.Nodes()); err != nil || ts != nil {
		t.Errorf("no backup settings: targets %v, err %v", ts, err)
	}
}

func TestBackupNeedsItsPasswordSecret(t *testing.T) {
	// A password secret the inventory lacks fails the build, naming it.
	text := "apiVersion: omc/v1\nname: x\ngroups:\n  g:\n    provider: static\n    nodes:\n      - {name: a, address: 192.0.2.1, roles: [scalelite], settings: {firewall: false, backup: {repository: /r}}}\n"
	inv, _ := inventory.LoadReader("x.yaml", strings.NewReader(text))
	if _, err := Steps(inv, inv.Nodes()[0], inv.Nodes()); err == nil || !strings.Contains(err.Error(), `no secret named "restic_password"`) {
		t.Errorf("missing password secret: %v", err)
	}
}

func TestRestorePlan(t *testing.T) {
	ts := []BackupTarget{{Name: TargetConfig, Paths: []string{"/etc/bigbluebutton"}}, {Name: TargetRecordings, Paths: []string{"/var/bigbluebutton/published"}}}
	s := &RestoreStep{Node: "bbb-1", Targets: ts}
	if _, err := s.Plan([]string{"meetings=3"}); err == nil || !strings.Contains(err.Error(), "3 meeting(s) are live") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("live meetings: %v", err)
	}
	if _, err := s.Plan([]string{"meetings=unknown:connection refused"}); err == nil || !strings.Contains(err.Error(), "cannot tell") {
		t.Errorf("unknown meetings: %v", err)
	}
	if _, err := s.Plan(nil); err == nil {
		t.Error("no probe output must fail")
	}
	for _, obs := range []string{"meetings=0", "meetings=none"} {
		c, err := s.Plan([]string{obs})
		if err != nil || c == nil {
			t.Fatalf("%s: %v", obs, err)
		}
		for _, want := range []string{"staged '/etc/bigbluebutton' latest --host 'bbb-1' --tag 'omc-config';",
			"restore latest --host 'bbb-1' --tag 'omc-recordings' --target /", "snapshots --json --host 'bbb-1' --tag 'omc-config'",
			"owners '/etc/bigbluebutton' -s latest --host 'bbb-1' --tag 'omc-config'\n",
			"owners '/var/bigbluebutton/published' -s latest --host 'bbb-1' --tag 'omc-recordings'\n",
			`cp -a "$st$f" "$f.omc-restore"`, `mv -f -T "$f.omc-restore" "$f"`, `chown -h "$u:$g" "$p"`} {
			if !strings.Contains(c.Script, want) {
				t.Errorf("%s: script lacks %q:\n%s", obs, want, c.Script)
			}
		}
		// The staging directory itself (0700) must never be copied over /:
		// no service running as its own user could chdir to / then.
		for _, bad := range []string{`"$st"/. /`, `"$st"/.`, "chown -R"} {
			if strings.Contains(c.Script, bad) {
				t.Errorf("%s: script holds %q:\n%s", obs, bad, c.Script)
			}
		}
		if !strings.Contains(c.Summary, "config, recordings") || !strings.Contains(c.Summary, "omc up") {
			t.Errorf("summary %q", c.Summary)
		}
	}
	forced := &RestoreStep{Node: "bbb-1", Targets: ts, Force: true, Snapshot: "0123abcd"}
	c, err := forced.Plan([]string{"meetings=5"})
	if err != nil || !strings.Contains(c.Script, `grep -q '"hostname":"bbb-1"'`) || !strings.Contains(c.Script, "staged '/etc/bigbluebutton /var/bigbluebutton/published' '0123abcd'\n") {
		t.Errorf("forced restore of one snapshot: %v\n%v", err, c)
	}
	if _, err := (&RestoreStep{Node: "bbb-1", Targets: ts, Snapshot: "latest; rm -rf /"}).Plan([]string{"meetings=0"}); err == nil {
		t.Error("a snapshot ID that is not one must be refused")
	}
	if !strings.Contains(s.Probe(), bbbPackageProps) || !strings.Contains(s.Probe(), "getMeetings") {
		t.Error("the probe must ask BBB for live meetings where BBB is installed")
	}
}

func TestMonitoringFirewallAndTarget(t *testing.T) {
	inv, fleet := loadOpsFleet(t)
	conf := func(name string) string {
		steps, err := Steps(inv, node(t, fleet, name), fleet)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range steps {
			if f, ok := s.(*NftablesStep); ok {
				return string(f.Conf)
			}
		}
		t.Fatalf("%s: no firewall", name)
		return ""
	}
	c := conf("bbb-1")
	for _, want := range []string{`ip saddr { 192.0.2.0/24 } tcp dport 9100 accept`, `ip6 saddr { 2001:db8:9::/48 } tcp dport 9100 accept`} {
		if !strings.Contains(c, want) {
			t.Errorf("bbb-1 firewall lacks %q:\n%s", want, c)
		}
	}
	if strings.Contains(c, "\t\ttcp dport 9100") {
		t.Error("9100 must never be open to everyone")
	}
	// Cloud firewalls build on Ports(NodeRoles): no exporter port there.
	for _, p := range Ports(NodeRoles(node(t, fleet, "bbb-1"), fleet)) {
		if p.From == NodeExporterPort {
			t.Error("the exporter port must only come with the monitoring sources")
		}
	}
	for name, want := range map[string]string{"bbb-1": "10.0.0.10:9100", "turn-1": "203.0.113.20:9100", "bbb-2": ""} {
		got, ok, err := MonitoringTarget(node(t, fleet, name))
		if err != nil || got != want || ok != (want != "") {
			t.Errorf("%s: target %q %v %v, want %q", name, got, ok, err, want)
		}
	}
}
