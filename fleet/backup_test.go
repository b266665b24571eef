package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/remote"
)

const backupInventory = `apiVersion: omc/v1
name: t
secrets:
  bbb_seed: env:OMC_FLEET_TEST_SEED
  restic_password: env:OMC_FLEET_TEST_RESTIC
  turn_key: file:turn.key
defaults:
  settings:
    bbb_version: "3.0"
    backup: {repository: "REPO/{node}"}
groups:
  eu:
    provider: static
    nodes:
      - {name: bbb-1, roles: [bbb], address: 203.0.113.10, domain: bbb-1.example.org, settings: {bbb: {recording: false}}}
      - {name: bbb-2, roles: [bbb], address: 203.0.113.11, domain: bbb-2.example.org, settings: {bbb: {recording: false}}}
      - {name: plain, address: 203.0.113.12}
`

func loadBackupInventory(t *testing.T) *inventory.Inventory {
	t.Helper()
	d := t.TempDir()
	t.Setenv("OMC_STATE_DIR", filepath.Join(d, "state"))
	t.Setenv("OMC_FLEET_TEST_SEED", "FAKE-seed")
	t.Setenv("OMC_FLEET_TEST_RESTIC", "FAKE-restic-pw")
	os.WriteFile(filepath.Join(d, "turn.key"), []byte("FAKE-turn\n"), 0o600)
	p := filepath.Join(d, "omc.yaml")
	os.WriteFile(p, []byte(strings.ReplaceAll(backupInventory, "REPO", filepath.Join(d, "repo"))), 0o644)
	inv, err := inventory.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// QueryBackups asks each node with backup settings, and says per node
// and target what is there; a node that cannot be asked is a status,
// not an error.
func TestQueryBackups(t *testing.T) {
	inv := loadBackupInventory(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	exec := func(_ context.Context, n *inventory.Node, _ providers.Machine, script string) (remote.Result, error) {
		if n.Name == "bbb-2" {
			return remote.Result{}, errors.New("dial: connection refused (FAKE-restic-pw)")
		}
		return remote.Result{Stdout: []byte(`result=success
snapshots=[{"time":"2026-11-20T02:00:00Z","hostname":"bbb-1","tags":["omc-config"],"paths":["/etc"],"id":"` + strings.Repeat("ab", 32) + `","short_id":"abababab"}]
`)}, nil
	}
	st, err := QueryBackups(context.Background(), inv, inv.Nodes(), BackupStatusOptions{MaxAge: 24 * time.Hour,
		Now: func() time.Time { return now }, Exec: exec})
	if err != nil {
		t.Fatal(err)
	}
	if st.OK || len(st.Nodes) != 2 || st.Stale() != 1 || !st.Now.Equal(now) {
		t.Fatalf("status %+v", st)
	}
	b1, b2 := st.Nodes[0], st.Nodes[1]
	if !b1.OK || b1.LastRun != "success" || len(b1.Targets) != 1 || b1.Targets[0].Snapshot != "abababab" || *b1.Targets[0].AgeSeconds != 10*3600 {
		t.Errorf("bbb-1: %+v", b1)
	}
	if b2.OK || !strings.Contains(b2.Error, "connection refused") || strings.Contains(b2.Error, "FAKE-restic-pw") || b2.Targets[0].Problem == "" {
		t.Errorf("bbb-2 (unreachable, its error masked): %+v", b2)
	}
	if _, err := QueryBackups(context.Background(), inv, inv.Nodes()[2:], BackupStatusOptions{MaxAge: time.Hour}); !errors.Is(err, ErrNoBackups) {
		t.Errorf("plain only: %v", err)
	}
}

// fakeResticBackup is a restic whose repository does not exist yet: init
// makes it, backup prints a summary line as restic backup --json does.
const fakeResticBackup = `#!/bin/sh
case "$*" in
"--no-lock cat config") exit 1 ;;
init) echo "created restic repository" ;;
backup*) echo '{"message_type":"summary","snapshot_id":"0123456789abcdef"}' ;;
esac
`

// A secrets backup plans the operator's files and env: secrets, then
// runs restic here, initialising the repository first.
func TestSecretsBackup(t *testing.T) {
	inv := loadBackupInventory(t)
	b, err := PlanSecretsBackup(inv)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(inv.Path)
	if b.Repository != filepath.Join(dir, "repo", SecretsHost) || fmt.Sprint(b.Files) != fmt.Sprint([]string{inv.Path, filepath.Join(dir, "turn.key")}) ||
		fmt.Sprint(b.EnvSecrets) != "[bbb_seed (env:OMC_FLEET_TEST_SEED) restic_password (env:OMC_FLEET_TEST_RESTIC)]" {
		t.Fatalf("plan %+v", b)
	}
	bin := filepath.Join(t.TempDir(), "restic")
	os.WriteFile(bin, []byte(fakeResticBackup), 0o755)
	var initialised string
	res, err := b.Run(context.Background(), bin, func(repo string) { initialised = repo })
	if err != nil {
		t.Fatal(err)
	}
	if initialised != b.Repository || res.Snapshot != "01234567" || len(res.Files) != 2 || len(res.EnvSecrets) != 2 {
		t.Fatalf("initialised %q, result %+v", initialised, res)
	}

	// A file behind a secret gone: nothing runs.
	os.Remove(filepath.Join(dir, "turn.key"))
	if _, err := b.Run(context.Background(), bin, nil); err == nil || !strings.Contains(err.Error(), "turn.key: no such file") {
		t.Errorf("missing file: %v", err)
	}
}

// Nodes that disagree on the repository are an inventory error at the
// node that differs.
func TestSecretsBackupNeedsOneRepository(t *testing.T) {
	inv := loadBackupInventory(t)
	inv.Nodes()[1].Settings.Backup.Repository = "elsewhere"
	_, err := PlanSecretsBackup(inv)
	var ie *InventoryError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "node bbb-2's settings.backup") {
		t.Fatalf("%v", err)
	}
}
