package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/restic"
	"github.com/omc-coop/omc/internal/testenv"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/remote"
)

const (
	secretsTestPassword = "FAKE-restic-pass-3b7e1c"
	secretsTestSeed     = "FAKE-seed-env-value-91af"
	secretsTestFile     = "FAKE-file-secret-value-5d20\n"
)

// writeSecretsInv: one bbb node backing up to a local repository under
// the test's directory, a file: secret and two env: secrets.
func writeSecretsInv(t *testing.T) (dir, inv, secretFile string) {
	t.Helper()
	if _, err := exec.LookPath("restic"); err != nil {
		testenv.Missing(t, "restic is not installed (apt-get install restic; .ci/packages.txt lists it)")
	}
	dir = isolate(t)
	t.Setenv("OMC_TEST_SEC_SEED", secretsTestSeed)
	t.Setenv("OMC_TEST_SEC_RESTIC", secretsTestPassword)
	t.Setenv("RESTIC_PASSWORD", "not-the-inventory-one") // must be ignored
	t.Setenv("RESTIC_CACHE_DIR", filepath.Join(dir, "cache"))
	secretFile = filepath.Join(dir, "secrets", "turn.key")
	os.MkdirAll(filepath.Dir(secretFile), 0o700)
	if err := os.WriteFile(secretFile, []byte(secretsTestFile), 0o600); err != nil {
		t.Fatal(err)
	}
	inv = filepath.Join(dir, "omc.yaml")
	y := `apiVersion: omc/v1
name: coop
secrets:
  bbb_seed: env:OMC_TEST_SEC_SEED
  restic_password: env:OMC_TEST_SEC_RESTIC
  turn_key: file:secrets/turn.key
defaults:
  settings:
    bbb_version: "3.0"
    backup: {repository: "` + filepath.Join(dir, "repo", "{node}") + `"}
groups:
  eu:
    provider: static
    nodes:
      - {name: bbb-1, roles: [bbb], address: 203.0.113.10, domain: bbb-1.example.org}
`
	if err := os.WriteFile(inv, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, inv, secretFile
}

func runSecrets(t *testing.T, inv string, o *backupSecretsOptions, json bool, with ...func(*factory)) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	s := &ui.Streams{In: strings.NewReader(""), Out: &out, Err: &errb, CI: true}
	g := &globalOptions{Inventory: inv, Output: "text", f: testFactory()}
	for _, w := range with {
		w(g.f)
	}
	if json {
		g.Output = "json"
	}
	err := runBackupSecrets(context.Background(), s, g, o)
	if err != nil {
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), exitCode(err)
}

func noSecretsIn(t *testing.T, what string, texts ...string) {
	t.Helper()
	for _, x := range texts {
		for _, v := range []string{secretsTestPassword, secretsTestSeed, strings.TrimSpace(secretsTestFile)} {
			if strings.Contains(x, v) {
				t.Errorf("%s shows a secret value: %s", what, x)
			}
		}
	}
}

func resticAt(t *testing.T, repo string, args ...string) []byte {
	t.Helper()
	c := exec.Command("restic", append([]string{"-r", repo, "--no-cache"}, args...)...)
	c.Env = append(os.Environ(), "RESTIC_PASSWORD="+secretsTestPassword)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("restic %v: %v\n%s", args, err, out)
	}
	return out
}

func TestBackupSecrets(t *testing.T) {
	dir, inv, secretFile := writeSecretsInv(t)
	knownHosts := fleet.KnownHostsPath()
	os.MkdirAll(filepath.Dir(knownHosts), 0o700)
	os.WriteFile(knownHosts, []byte("203.0.113.10 ssh-ed25519 AAAAfake\n"), 0o600)

	out, errs, code := runSecrets(t, inv, &backupSecretsOptions{}, false)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	noSecretsIn(t, "backup secrets", out, errs)
	if !strings.Contains(errs, "warning:") || !strings.Contains(errs, "restic_password (env:OMC_TEST_SEC_RESTIC)") || !strings.Contains(errs, "bbb_seed") {
		t.Errorf("env: secrets should be named in a warning: %s", errs)
	}
	if strings.Contains(errs, "turn_key") {
		t.Errorf("a file: secret is backed up, not warned about: %s", errs)
	}

	// The snapshot: tag omc-secrets, host omc-secrets, the three files.
	repo := filepath.Join(dir, "repo", "omc-secrets")
	var snaps []restic.Snapshot
	if err := json.Unmarshal(resticAt(t, repo, "snapshots", "--json"), &snaps); err != nil || len(snaps) != 1 {
		t.Fatalf("%v: %+v", err, snaps)
	}
	sn := snaps[0]
	if !slices.Contains(sn.Tags, "omc-secrets") || sn.Hostname != "omc-secrets" {
		t.Errorf("snapshot: %+v", sn)
	}
	for _, p := range []string{inv, secretFile, knownHosts} {
		if !slices.Contains(sn.Paths, p) {
			t.Errorf("snapshot paths %v lack %s", sn.Paths, p)
		}
	}
	if !strings.Contains(out, sn.ShortID) {
		t.Errorf("output should name snapshot %s: %s", sn.ShortID, out)
	}

	// Restored elsewhere, the bytes are the same.
	to := t.TempDir()
	resticAt(t, repo, "restore", "latest", "--tag", "omc-secrets", "--target", to)
	for _, p := range []string{inv, secretFile, knownHosts} {
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(to, p))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s restored as %q (%v), want %q", p, got, err, want)
		}
	}

	// A second run (repository there) with -o json.
	out, errs, code = runSecrets(t, inv, &backupSecretsOptions{}, true)
	var res backupSecretsV1
	if code != ExitOK || json.Unmarshal([]byte(out), &res) != nil || res.Type != "backup_secrets" || len(res.Files) != 3 || len(res.EnvSecrets) != 2 || res.Snapshot == "" {
		t.Fatalf("json: exit %d %s %s", code, out, errs)
	}
	noSecretsIn(t, "backup secrets -o json", out, errs)

	// backup status --secrets: fresh, then stale a day later (exit 6).
	status := func(now time.Time, args ...string) (string, string, int) {
		var o, e bytes.Buffer
		s := &ui.Streams{In: strings.NewReader(""), Out: &o, Err: &e, CI: true}
		g := &globalOptions{Inventory: inv, Output: "text", f: testFactory()}
		g.f.Now = func() time.Time { return now }
		if slices.Contains(args, "json") {
			g.Output = "json"
		}
		fresh := func(_ context.Context, n *inventory.Node, _ providers.Machine, _ string) (remote.Result, error) {
			return remote.Result{Stdout: []byte("result=success\n" + snapshotsLine(n.Name, [2]string{"config", now.Format(time.RFC3339)}, [2]string{"recordings", now.Format(time.RFC3339)}) + "\n")}, nil
		}
		g.f.Exec = fresh
		err := runBackupStatus(context.Background(), s, g, &backupStatusOptions{MaxAge: 24 * time.Hour, Secrets: true})
		return o.String(), e.String(), exitCode(err)
	}
	out, errs, code = status(time.Now())
	if code != ExitOK || !strings.Contains(out, "omc-secrets  secrets") || !strings.Contains(out, res.Snapshot) {
		t.Fatalf("fresh: exit %d\n%s%s", code, out, errs)
	}
	noSecretsIn(t, "status", out, errs)
	out, errs, code = status(time.Now().Add(25*time.Hour), "json")
	var st backupStatusV1
	if code != ExitBackupStale || json.Unmarshal([]byte(out), &st) != nil || st.OK {
		t.Fatalf("stale: exit %d\n%s%s", code, out, errs)
	}
	var sec *fleet.BackupNodeStatus
	for i := range st.Nodes {
		if st.Nodes[i].Node == "omc-secrets" {
			sec = &st.Nodes[i]
		} else if !st.Nodes[i].OK {
			t.Errorf("the node itself is fresh: %+v", st.Nodes[i])
		}
	}
	if sec == nil || sec.OK || len(sec.Targets) != 1 || sec.Targets[0].Target != "secrets" || sec.Targets[0].Problem != "older than 24h0m0s" {
		t.Errorf("stale secrets target: %+v", sec)
	}
	noSecretsIn(t, "status -o json", out, errs)

	// Without --secrets, status does not run restic here.
	var o, e bytes.Buffer
	s := &ui.Streams{In: strings.NewReader(""), Out: &o, Err: &e, CI: true}
	f := testFactory()
	f.Restic = "restic-is-not-here"
	f.Exec = func(_ context.Context, n *inventory.Node, _ providers.Machine, _ string) (remote.Result, error) {
		return remote.Result{Stdout: []byte("result=success\n" + snapshotsLine(n.Name, [2]string{"config", time.Now().Format(time.RFC3339)}, [2]string{"recordings", time.Now().Format(time.RFC3339)}) + "\n")}, nil
	}
	err := runBackupStatus(context.Background(), s, &globalOptions{Inventory: inv, Output: "text", f: f}, &backupStatusOptions{MaxAge: 24 * time.Hour})
	if err != nil || strings.Contains(o.String(), "omc-secrets") {
		t.Errorf("status without --secrets: %v\n%s", err, o.String())
	}
}

func TestBackupSecretsWrongPasswordIsRedacted(t *testing.T) {
	dir, inv, _ := writeSecretsInv(t)
	if _, errs, code := runSecrets(t, inv, &backupSecretsOptions{}, false); code != ExitOK {
		t.Fatal(errs)
	}
	// The same repository, another password: restic fails, omc says why
	// without the value.
	os.Setenv("OMC_TEST_SEC_RESTIC", "FAKE-other-password-77")
	out, errs, code := runSecrets(t, inv, &backupSecretsOptions{}, false)
	if code != ExitError || !strings.Contains(errs, "restic") || strings.Contains(out+errs, "FAKE-other-password-77") {
		t.Errorf("wrong password: exit %d\n%s%s", code, out, errs)
	}
	_ = dir
}

func TestBackupSecretsNoRestic(t *testing.T) {
	_, inv, _ := writeSecretsInv(t)
	out, errs, code := runSecrets(t, inv, &backupSecretsOptions{}, false, func(f *factory) { f.Restic = "restic-is-not-here" })
	if code != ExitError || !strings.Contains(errs, "restic is not installed on this machine") || !strings.Contains(errs, "apt-get install restic") {
		t.Errorf("exit %d: %s%s", code, out, errs)
	}
	noSecretsIn(t, "no restic", out, errs)

	// status --secrets reports the target as not ok, exit 6.
	var o, e bytes.Buffer
	s := &ui.Streams{In: strings.NewReader(""), Out: &o, Err: &e, CI: true}
	f := testFactory()
	f.Restic = "restic-is-not-here"
	f.Exec = func(_ context.Context, n *inventory.Node, _ providers.Machine, _ string) (remote.Result, error) {
		return remote.Result{Stdout: []byte("result=success\n" + snapshotsLine(n.Name, [2]string{"config", time.Now().Format(time.RFC3339)}, [2]string{"recordings", time.Now().Format(time.RFC3339)}) + "\n")}, nil
	}
	err := runBackupStatus(context.Background(), s, &globalOptions{Inventory: inv, Output: "json", f: f}, &backupStatusOptions{MaxAge: 24 * time.Hour, Secrets: true})
	if exitCode(err) != ExitBackupStale || !strings.Contains(o.String(), "restic is not installed") {
		t.Errorf("status without restic: %v\n%s", err, o.String())
	}
}

func TestBackupSecretsPrintTimer(t *testing.T) {
	_, inv, _ := writeSecretsInv(t)
	out, errs, code := run(t, "", "backup", "secrets", "-i", inv, "--print-timer")
	if code != ExitOK || !strings.Contains(out, "OnCalendar=") || !strings.Contains(out, "backup secrets -i "+inv) {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
	noSecretsIn(t, "print-timer", out, errs)
}
