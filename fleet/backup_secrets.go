package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/restic"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision/roles"
)

// The operator's side of the nightly backups: what cannot be rebuilt and
// lives on the operator's machine, not on a node (the inventory file, the
// files behind its file: secrets, omc's pinned host keys), backed up with
// restic from that machine.
//
// Repository: the nodes' settings.backup.repository with {node} replaced
// by "omc-secrets" (a repository without {node} is shared, the tag keeps
// the snapshots apart); password and environment: the same secrets the
// nodes use (settings.backup.password_secret, .environment). All nodes
// with backup settings must agree on these three, or omc says which one
// differs. Snapshots have host "omc-secrets" and tag "omc-secrets".
const (
	SecretsTarget = "secrets"
	SecretsHost   = "omc-secrets"
)

// SecretsBackup is a backup of the operator's files, planned: where to,
// and what (Files), and the env: secrets it cannot keep (EnvSecrets,
// names only), which the caller warns about before Run.
type SecretsBackup struct {
	Repository string // masked
	Files      []string
	EnvSecrets []string

	repo restic.Repo
	red  func(string) string
}

// SecretsBackupResult is a finished backup of the operator's files.
type SecretsBackupResult struct {
	Repository string   // masked
	Snapshot   string   // its short ID
	Files      []string // backed up
	EnvSecrets []string // not backed up (names only)
}

// PlanSecretsBackup reads the repository from the nodes' backup settings
// (an *InventoryError when they disagree or name no readable password)
// and lists the operator's files.
func PlanSecretsBackup(inv *inventory.Inventory) (*SecretsBackup, error) {
	red := redactorOf(inv)
	repo, err := secretsRepo(inv)
	if err != nil {
		return nil, err
	}
	files, envs := secretsFiles(inv)
	return &SecretsBackup{Repository: red(repo.Repository), Files: files, EnvSecrets: envs, repo: *repo, red: red}, nil
}

// Run backs the files up with restic (bin, default "restic" on PATH) on
// this machine, initialising the repository on the first run (telling
// initialising first). A file that is gone fails it before restic runs.
func (b *SecretsBackup) Run(ctx context.Context, bin string, initialising func(repository string)) (*SecretsBackupResult, error) {
	var missing []string
	for _, f := range b.Files {
		if !fileExists(f) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("cannot back up %s: no such file", strings.Join(missing, ", "))
	}
	rr, err := restic.New(bin, b.repo, b.red)
	if err != nil {
		return nil, err
	}
	defer rr.Close()
	if _, _, err := rr.Run(ctx, "--no-lock", "cat", "config"); err != nil {
		if initialising != nil {
			initialising(b.Repository)
		}
		if _, _, err := rr.Run(ctx, "init"); err != nil {
			return nil, fmt.Errorf("restic init: %w", err)
		}
	}
	out, _, err := rr.Run(ctx, append([]string{"backup", "--json", "--host", SecretsHost, "--tag", "omc-" + SecretsTarget}, b.Files...)...)
	if err != nil {
		return nil, fmt.Errorf("restic backup: %w", err)
	}
	res := &SecretsBackupResult{Repository: b.Repository, Files: b.Files, EnvSecrets: b.EnvSecrets}
	for _, l := range strings.Split(out, "\n") {
		var m struct {
			MessageType string `json:"message_type"`
			SnapshotID  string `json:"snapshot_id"`
		}
		if json.Unmarshal([]byte(l), &m) == nil && m.MessageType == "summary" {
			res.Snapshot = m.SnapshotID
		}
	}
	if len(res.Snapshot) > 8 {
		res.Snapshot = res.Snapshot[:8]
	}
	if res.EnvSecrets == nil {
		res.EnvSecrets = []string{}
	}
	return res, nil
}

// secretsRepo reads the repository from the nodes' backup settings.
func secretsRepo(inv *inventory.Inventory) (*restic.Repo, error) {
	var first *inventory.Node
	var fb *inventory.BackupSettings
	for _, n := range inv.Nodes() {
		if len(n.Roles) == 0 {
			continue
		}
		b := n.Settings.Backup
		if b == nil {
			continue
		}
		if first == nil {
			first, fb = n, b
			continue
		}
		if b.Repository != fb.Repository || b.PasswordSecret != fb.PasswordSecret || !sameEnv(b.Environment, fb.Environment) {
			return nil, &InventoryError{Err: fmt.Errorf("%s:%d:%d: node %s's settings.backup (repository, password_secret, environment) differs from node %s's; omc backup secrets needs one repository for the operator's files (%q with {node} as %q)",
				inv.Path, n.Pos.Line, n.Pos.Col, n.Name, first.Name, fb.Repository, SecretsHost)}
		}
	}
	if first == nil {
		return nil, &InventoryError{Err: fmt.Errorf("%s: no node with roles has backup settings (settings.backup.repository names the repository; see omc help settings)", inv.Path)}
	}
	r := &restic.Repo{Repository: strings.ReplaceAll(fb.Repository, "{node}", SecretsHost)}
	v, ok := inv.Secret(fb.PasswordSecret)
	if !ok || v == "" {
		return nil, &InventoryError{Err: fmt.Errorf("%s:%d:%d: settings.backup.password_secret: %v", inv.Path, first.Pos.Line, first.Pos.Col, inv.SecretError(fb.PasswordSecret))}
	}
	r.Password = v
	keys := make([]string, 0, len(fb.Environment))
	for k := range fb.Environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, ok := inv.Secret(fb.Environment[k])
		if !ok {
			return nil, &InventoryError{Err: fmt.Errorf("%s:%d:%d: settings.backup.environment.%s: %v", inv.Path, first.Pos.Line, first.Pos.Col, k, inv.SecretError(fb.Environment[k]))}
		}
		r.Env = append(r.Env, k+"="+v)
	}
	return r, nil
}

func sameEnv(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// secretsFiles: the inventory file, the files behind file: secrets, and
// omc's known_hosts when it exists; and the names of the env: secrets.
func secretsFiles(inv *inventory.Inventory) (files, envSecrets []string) {
	seen := map[string]bool{}
	addFile := func(p string) {
		if p == "" {
			return
		}
		if a, err := filepath.Abs(p); err == nil {
			p = a
		}
		if !seen[p] {
			seen[p] = true
			files = append(files, p)
		}
	}
	if inv.Path != "" && inv.Path != "<stdin>" {
		addFile(inv.Path)
	}
	dir := filepath.Dir(inv.Path)
	var names []string
	for name := range inv.Secrets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := inv.Secrets[name]
		switch s.Kind {
		case "env":
			envSecrets = append(envSecrets, name+" ("+s.Ref+")")
		case "file":
			p := s.Arg
			if p == "~" || strings.HasPrefix(p, "~/") {
				if h, err := os.UserHomeDir(); err == nil {
					p = filepath.Join(h, p[1:])
				}
			}
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			addFile(p)
		}
	}
	for _, g := range inv.Groups {
		gname := g.Name
		for _, s := range []*inventory.Secret{g.Token, g.RobotUser, g.RobotPassword, poolSecret(g)} {
			if s == nil {
				continue
			}
			if s.Kind == "env" {
				envSecrets = append(envSecrets, "group "+gname+" ("+s.Ref+")")
			} else if s.Kind == "file" {
				p := s.Arg
				if !filepath.IsAbs(p) {
					p = filepath.Join(dir, p)
				}
				addFile(p)
			}
		}
	}
	if kh := KnownHostsPath(); fileExists(kh) {
		addFile(kh)
	}
	return files, envSecrets
}

func poolSecret(g *inventory.Group) *inventory.Secret {
	if g.Pool == nil {
		return nil
	}
	return g.Pool.Secret
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// redactorOf masks every secret value the inventory holds.
func redactorOf(inv *inventory.Inventory) func(string) string {
	return redact.New(SecretValues(inv)...).String
}

// secretsBackupStatus is the status of the operator's target, as a
// pseudo-node named omc-secrets (group "operator").
func secretsBackupStatus(ctx context.Context, inv *inventory.Inventory, bin string, now time.Time, maxAge time.Duration, red func(string) string) BackupNodeStatus {
	ns := BackupNodeStatus{Node: SecretsHost, Group: "operator", Targets: []BackupTargetStatus{}}
	files, _ := secretsFiles(inv)
	targets := []roles.BackupTarget{{Name: SecretsTarget, Paths: files}}
	repo, err := secretsRepo(inv)
	if err != nil {
		ns.Error = red(err.Error())
		return NodeBackupStatus(ns, "", targets, now, maxAge, red)
	}
	rr, err := restic.New(bin, *repo, red)
	if err != nil {
		ns.Error = red(err.Error())
		return NodeBackupStatus(ns, "", targets, now, maxAge, red)
	}
	defer rr.Close()
	out, _, err := rr.Run(ctx, "--no-lock", "snapshots", "--json", "--host", SecretsHost, "--tag", "omc-"+SecretsTarget)
	if err != nil {
		return NodeBackupStatus(ns, "error="+strings.ReplaceAll(err.Error(), "\n", " "), targets, now, maxAge, red)
	}
	return NodeBackupStatus(ns, "snapshots="+strings.ReplaceAll(strings.TrimSpace(out), "\n", ""), targets, now, maxAge, red)
}

// SecretsTimer is the systemd user units that run omc backup secrets
// nightly with this inventory (self: omc's path, "" for this program's).
func SecretsTimer(inv *inventory.Inventory, self string) (string, error) {
	if self == "" {
		var err error
		if self, err = os.Executable(); err != nil {
			self = "omc"
		}
	}
	p, err := filepath.Abs(inv.Path)
	if err != nil || inv.Path == "<stdin>" {
		return "", usageErrorf("--print-timer needs the inventory as a file (-i FILE)")
	}
	return fmt.Sprintf(`# ~/.config/systemd/user/omc-backup-secrets.service
[Unit]
Description=omc: back up the inventory's secret store (restic)

[Service]
Type=oneshot
# The env: secrets the inventory names (the restic password among them)
# must be set here, e.g. EnvironmentFile=%%h/.config/omc/backup.env
ExecStart=%s backup secrets -i %s

# ~/.config/systemd/user/omc-backup-secrets.timer
[Unit]
Description=omc: nightly backup of the inventory's secret store

[Timer]
OnCalendar=*-*-* 01:30:00
RandomizedDelaySec=1h
Persistent=true

[Install]
WantedBy=timers.target

# Then: systemctl --user daemon-reload && systemctl --user enable --now omc-backup-secrets.timer
# (and loginctl enable-linger $USER so it runs while you are logged out)
`, self, p), nil
}
