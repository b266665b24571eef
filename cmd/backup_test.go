package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/golden"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/remote"
)

const fakeResticPassword = "FAKE-restic-password-for-cmd-tests"

// opsInventory: three static nodes with backups (one without), two of
// them monitored, in two groups.
const opsInventory = `apiVersion: omc/v1
name: coop
secrets:
  bbb_seed: env:OMC_TEST_OPS_SEED
  restic_password: env:OMC_TEST_OPS_RESTIC
defaults:
  settings:
    bbb_version: "3.0"
    backup: {repository: "sftp:backup@192.0.2.99:/srv/restic/{node}"}
    monitoring: {sources: [192.0.2.0/24]}
groups:
  eu:
    provider: static
    nodes:
      - {name: bbb-1, roles: [bbb], address: 203.0.113.10, domain: bbb-1.example.org, settings: {private_ip: 10.0.0.10}}
      - {name: sl-1, roles: [scalelite], address: 203.0.113.30, settings: {monitoring: {listen: 127.0.0.1}}}
  school:
    provider: static
    nodes:
      - {name: school-bbb, roles: [bbb, turn], address: 192.0.2.50, domain: bbb.school.example, settings: {bbb: {recording: false}, monitoring: {listen: 192.0.2.50}}}
      - {name: plain, address: 192.0.2.51}
`

func writeOps(t *testing.T) string {
	t.Helper()
	d := isolate(t)
	t.Setenv("OMC_TEST_OPS_SEED", "FAKE-seed-for-cmd-tests")
	t.Setenv("OMC_TEST_OPS_RESTIC", fakeResticPassword)
	p := filepath.Join(d, "omc.yaml")
	if err := os.WriteFile(p, []byte(opsInventory), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var backupNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// fakeNodes answers the status script per node, and records scripts.
type fakeNodes map[string]remote.Result

func (f fakeNodes) exec(_ context.Context, n *inventory.Node, _ providers.Machine, script string) (remote.Result, error) {
	if !strings.Contains(script, "snapshots --json --host '"+n.Name+"'") || !strings.Contains(script, "--no-lock") {
		return remote.Result{}, fmt.Errorf("unexpected script for %s: %s", n.Name, script)
	}
	r, ok := f[n.Name]
	if !ok {
		return remote.Result{}, fmt.Errorf("dial %s: connection refused", n.Name)
	}
	return r, nil
}

func snapshotsLine(node string, snaps ...[2]string) string {
	var l []map[string]any
	for i, s := range snaps {
		l = append(l, map[string]any{"time": s[1], "hostname": node, "tags": []string{"omc-" + s[0]}, "paths": []string{"/etc"},
			"id": fmt.Sprintf("%08x%056d", i+0xabc00, 0), "short_id": fmt.Sprintf("%08x", i+0xabc00), "username": "root", "tree": "t"})
	}
	b, _ := json.Marshal(l)
	return "snapshots=" + string(b)
}

func runStatusWith(t *testing.T, inv string, f fakeNodes, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	s := &ui.Streams{In: strings.NewReader(""), Out: &out, Err: &errb, CI: true}
	g := &globalOptions{Inventory: inv, Output: "text", f: testFactory()}
	g.f.Now, g.f.Exec = func() time.Time { return backupNow }, f.exec
	o := &backupStatusOptions{MaxAge: 24 * time.Hour}
	var rest []string
	for _, a := range args {
		if a == "-o=json" {
			g.Output = "json"
		} else {
			rest = append(rest, a)
		}
	}
	o.Targets = rest
	err := runBackupStatus(context.Background(), s, g, o)
	return out.String(), errb.String(), exitCode(err)
}

func TestBackupStatus(t *testing.T) {
	inv := writeOps(t)
	fresh := fakeNodes{
		"bbb-1": {Stdout: []byte("result=success\nran=Fri 2026-11-20 02:14:09 UTC\n" +
			snapshotsLine("bbb-1", [2]string{"config", "2026-11-19T02:10:00Z"}, [2]string{"config", "2026-11-20T02:14:00+01:00"}, [2]string{"recordings", "2026-11-20T02:15:00Z"}) + "\n")},
		"sl-1": {Stdout: []byte("result=success\nran=x\n" + snapshotsLine("sl-1", [2]string{"config", "2026-11-20T01:00:00Z"}, [2]string{"scalelite-db", "2026-11-20T01:01:00Z"},
			[2]string{"scalelite-redis", "2026-11-20T01:02:00Z"}, [2]string{"recordings", "2026-11-20T01:03:00Z"}) + "\n")},
		"school-bbb": {Stdout: []byte("result=success\nran=x\n" + snapshotsLine("school-bbb", [2]string{"config", "2026-11-20T03:00:00Z"}) + "\n")},
	}
	out, errs, code := runStatusWith(t, inv, fresh)
	if code != ExitOK {
		t.Fatalf("all fresh: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		"bbb-1       config           2026-11-20T01:14:00Z", // the newest, in UTC
		"bbb-1       recordings       2026-11-20T02:15:00Z  9h45m",
		"sl-1        scalelite-db",
		"sl-1        scalelite-redis  2026-11-20T01:02:00Z", // a Scalelite omc runs: its Redis and recordings too
		"sl-1        recordings       2026-11-20T01:03:00Z",
		"school-bbb  config",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "school-bbb  recordings") || strings.Contains(out, "plain") {
		t.Errorf("school-bbb does not record, plain has no backup:\n%s", out)
	}

	// A day and more: stale; a node that cannot be reached and one whose
	// repository refuses are not ok either, and exit 6.
	stale := fakeNodes{
		"bbb-1": {Stdout: []byte("result=exit-code\nran=x\n" + snapshotsLine("bbb-1", [2]string{"config", "2026-11-19T11:00:00Z"}) + "\n")},
		"sl-1":  {Stdout: []byte("result=success\nerror=Fatal: wrong password or no key found " + fakeResticPassword + "\n")},
	}
	out, errs, code = runStatusWith(t, inv, stale, "-o=json")
	if code != ExitBackupStale {
		t.Fatalf("stale: exit %d, want %d\n%s%s", code, ExitBackupStale, out, errs)
	}
	if strings.Contains(out+errs, fakeResticPassword) {
		t.Fatal("the restic password reached the output")
	}
	var st backupStatusV1
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if st.V != 1 || st.Type != "backup_status" || st.OK || len(st.Nodes) != 3 {
		t.Fatalf("status: %+v", st)
	}
	byNode := map[string]fleet.BackupNodeStatus{}
	for _, n := range st.Nodes {
		byNode[n.Node] = n
	}
	b1 := byNode["bbb-1"]
	if b1.OK || b1.LastRun != "exit-code" || len(b1.Targets) != 2 {
		t.Fatalf("bbb-1: %+v", b1)
	}
	if c := b1.Targets[0]; c.Target != "config" || c.OK || c.Problem != "older than 24h0m0s" || *c.AgeSeconds != 25*3600 || c.Snapshot != "000abc00" {
		t.Errorf("bbb-1 config: %+v", c)
	}
	if r := b1.Targets[1]; r.Target != "recordings" || r.OK || r.Problem != "no snapshot yet" || r.Time != nil {
		t.Errorf("bbb-1 recordings: %+v", r)
	}
	if sl := byNode["sl-1"]; sl.OK || !strings.Contains(sl.Error, "wrong password") || len(sl.Targets) != 4 || sl.Targets[1].OK {
		t.Errorf("sl-1: %+v", sl)
	}
	if sb := byNode["school-bbb"]; sb.OK || !strings.Contains(sb.Error, "connection refused") {
		t.Errorf("school-bbb: %+v", sb)
	}

	// Selecting nodes without backups is an error, not a silent ok.
	// plain has the settings by default, but no roles: omc installs nothing there.
	if _, _, code := runStatusWith(t, inv, fresh, "plain"); code != ExitError {
		t.Errorf("plain: exit %d", code)
	}
	if _, _, code := runStatusWith(t, inv, fresh, "school"); code != ExitOK {
		t.Errorf("school group, fresh: exit %d", code)
	}
	if _, _, code := runStatusWith(t, inv, stale, "school"); code != ExitBackupStale {
		t.Errorf("school group, school-bbb unreachable: exit %d", code)
	}
}

func TestBackupStatusAbsent(t *testing.T) {
	inv := writeOps(t)
	out, _, code := runStatusWith(t, inv, fakeNodes{"bbb-1": {Stdout: []byte("state=absent\n")}}, "bbb-1", "-o=json")
	if code != ExitBackupStale || !strings.Contains(out, "no backup installed on the node yet; run omc up") {
		t.Errorf("exit %d: %s", code, out)
	}
}

func TestRestoreUsage(t *testing.T) {
	inv := writeOps(t)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"restore", "-i", inv}, ExitUsage, "exactly one NODE"},
		{[]string{"restore", "-i", inv, "eu"}, ExitUsage, "one node at a time"},
		{[]string{"restore", "-i", inv, "plain"}, ExitInventory, "no backup settings"},
		{[]string{"restore", "-i", inv, "nope"}, ExitUsage, "nope"},
		{[]string{"backup", "status", "-i", inv, "--max-age", "0s"}, ExitUsage, "--max-age"},
	} {
		_, errs, code := run(t, "", c.args...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("%v: exit %d, want %d with %q: %s", c.args, code, c.code, c.msg, errs)
		}
	}
}

func TestMonitoringTargets(t *testing.T) {
	inv := writeOps(t)
	out, errs, code := run(t, "", "monitoring", "targets", "-i", inv)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "sl-1: the exporter listens on a loopback address") {
		t.Errorf("sl-1 should be reported as left out: %s", errs)
	}
	golden.AssertString(t, "monitoring-targets.golden", out)
	var groups []sdTargetGroup
	if err := json.Unmarshal([]byte(out), &groups); err != nil || len(groups) != 2 || groups[0].Targets[0] != "10.0.0.10:9100" {
		t.Fatalf("%v: %+v", err, groups)
	}

	// --file writes the same bytes, atomically (no temporary file left).
	dir := t.TempDir()
	file := filepath.Join(dir, "omc-targets.json")
	if _, errs, code := run(t, "", "monitoring", "targets", "-i", inv, "--file", file); code != ExitOK || !strings.Contains(errs, "wrote 2 targets to "+file) {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(file)
	if err != nil || string(b) != out {
		t.Fatalf("file differs from stdout: %v\n%s", err, b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left files behind: %v", ents)
	}
	if out, _, code := run(t, "", "monitoring", "targets", "-i", inv, "school", "--file", file, "-o", "json"); code != ExitOK || !strings.Contains(out, `"targets":1`) {
		t.Errorf("json summary: %d %s", code, out)
	}
	if _, errs, code := run(t, "", "monitoring", "targets", "-i", inv, "plain"); code != ExitError || !strings.Contains(errs, "has monitoring settings") {
		t.Errorf("plain: %d %s", code, errs)
	}
}

func TestExitCodeSixAndOpsCommandsAreDocumented(t *testing.T) {
	out, _, code := run(t, "", "help", "exit-codes")
	if code != 0 || !strings.Contains(out, `6    "omc backup status" only`) {
		t.Fatalf("%d\n%s", code, out)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil || !strings.Contains(string(readme), "| 6 | `omc backup status` only") {
		t.Fatal("README's exit code table lacks 6")
	}
	for _, c := range []string{"backup status", "backup secrets", "restore", "monitoring targets"} {
		if !strings.Contains(string(readme), "| `omc "+c) {
			t.Errorf("README's command table lacks omc %s", c)
		}
	}
}
