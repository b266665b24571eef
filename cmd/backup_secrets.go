package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
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
	secretsTarget = "secrets"
	secretsHost   = "omc-secrets"
)

type backupSecretsOptions struct {
	PrintTimer bool
	// Restic is the restic program (default: "restic" on PATH); for tests.
	Restic string
}

func newBackupSecretsCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &backupSecretsOptions{}
	c := &cobra.Command{
		Use:   "secrets",
		Short: "Back up the inventory, its file: secrets and omc's host keys with restic, from this machine",
		Long: `Run restic on this machine (restic must be on PATH) to back up what
cannot be rebuilt and is not on a node: the inventory file, the files
behind its file: secrets, and omc's pinned host keys (known_hosts in the
state directory), tagged omc-secrets.

The repository is the nodes' settings.backup.repository with {node}
replaced by "omc-secrets"; the password is the nodes' restic password
secret (settings.backup.password_secret), given to restic in a 0600
temporary file, never as a flag. The repository is initialised on the
first run. env: secrets cannot be backed up: their names (never their
values) are listed as a warning on stderr.

Run it nightly (--print-timer prints systemd user units) and check it
with omc backup status --secrets.`,
		Example: `  omc backup secrets
  omc backup secrets --print-timer`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return runBackupSecrets(c.Context(), s, g, o)
		},
	}
	c.Flags().BoolVar(&o.PrintTimer, "print-timer", false, "print a systemd user service and timer that run this nightly, and exit")
	return c
}

// secretsRepo is what restic needs to reach the operator's repository.
type secretsRepo struct {
	Repository string
	Password   string
	Env        []string // NAME=value from settings.backup.environment
}

// secretsBackupRepo reads the repository from the nodes' backup settings.
func secretsBackupRepo(inv *inventory.Inventory) (*secretsRepo, error) {
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
			return nil, &exitError{Code: ExitInventory, Err: fmt.Errorf("%s:%d:%d: node %s's settings.backup (repository, password_secret, environment) differs from node %s's; omc backup secrets needs one repository for the operator's files (%q with {node} as %q)",
				inv.Path, n.Pos.Line, n.Pos.Col, n.Name, first.Name, fb.Repository, secretsHost)}
		}
	}
	if first == nil {
		return nil, &exitError{Code: ExitInventory, Err: fmt.Errorf("%s: no node with roles has backup settings (settings.backup.repository names the repository; see omc help settings)", inv.Path)}
	}
	r := &secretsRepo{Repository: strings.ReplaceAll(fb.Repository, "{node}", secretsHost)}
	v, ok := inv.Secret(fb.PasswordSecret)
	if !ok || v == "" {
		return nil, &exitError{Code: ExitInventory, Err: fmt.Errorf("%s:%d:%d: settings.backup.password_secret: %v", inv.Path, first.Pos.Line, first.Pos.Col, inv.SecretError(fb.PasswordSecret))}
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
			return nil, &exitError{Code: ExitInventory, Err: fmt.Errorf("%s:%d:%d: settings.backup.environment.%s: %v", inv.Path, first.Pos.Line, first.Pos.Col, k, inv.SecretError(fb.Environment[k]))}
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
	if kh := fleet.KnownHostsPath(); fileExists(kh) {
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

// backupSecretsV1 is omc backup secrets -o json, version 1.
type backupSecretsV1 struct {
	V          int      `json:"v"`
	Type       string   `json:"type"` // "backup_secrets"
	Repository string   `json:"repository"`
	Snapshot   string   `json:"snapshot"`
	Files      []string `json:"files"`
	// EnvSecrets are the env: secrets not backed up (names only).
	EnvSecrets []string `json:"env_secrets"`
}

func runBackupSecrets(ctx context.Context, s *ui.Streams, g *globalOptions, o *backupSecretsOptions) error {
	inv, err := loadInventory(s, g)
	if err != nil {
		return err
	}
	if o.PrintTimer {
		if g.json() {
			var b strings.Builder
			if err := printSecretsTimer(&b, inv); err != nil {
				return err
			}
			return g.jsonOut(s).Write(textV1{V: 1, Type: "systemd-units", Text: b.String()})
		}
		return printSecretsTimer(s.Out, inv)
	}
	red := redact.New(fleet.SecretValues(inv)...)
	repo, err := secretsBackupRepo(inv)
	if err != nil {
		return err
	}
	files, envs := secretsFiles(inv)
	if len(envs) > 0 {
		fmt.Fprintf(s.Err, "warning: %d env: secret(s) cannot be backed up, keep them elsewhere: %s\n", len(envs), strings.Join(envs, ", "))
	}
	var missing []string
	var present []string
	for _, f := range files {
		if fileExists(f) {
			present = append(present, f)
		} else {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return &exitError{Code: ExitError, Err: fmt.Errorf("cannot back up %s: no such file", strings.Join(missing, ", "))}
	}
	rr, err := newResticRunner(o.Restic, repo, red)
	if err != nil {
		return err
	}
	defer rr.close()
	if _, _, err := rr.run(ctx, "--no-lock", "cat", "config"); err != nil {
		fmt.Fprintf(s.Err, "initialising the restic repository %s\n", red.String(repo.Repository))
		if _, _, err := rr.run(ctx, "init"); err != nil {
			return &exitError{Code: ExitError, Err: fmt.Errorf("restic init: %w", err)}
		}
	}
	out, _, err := rr.run(ctx, append([]string{"backup", "--json", "--host", secretsHost, "--tag", "omc-" + secretsTarget}, present...)...)
	if err != nil {
		return &exitError{Code: ExitError, Err: fmt.Errorf("restic backup: %w", err)}
	}
	res := backupSecretsV1{V: 1, Type: "backup_secrets", Repository: red.String(repo.Repository), Files: present, EnvSecrets: envs}
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
	if g.json() {
		return g.jsonOut(s).Redacting(red.String).Write(res)
	}
	fmt.Fprintf(s.Out, "snapshot %s of %d file(s) in %s (tag omc-%s):\n", backupDash(res.Snapshot), len(present), res.Repository, secretsTarget)
	for _, f := range present {
		fmt.Fprintln(s.Out, "  "+red.String(f))
	}
	return nil
}

// resticRunner runs restic on this machine against the operator's
// repository; the password goes in a 0600 file only restic reads.
type resticRunner struct {
	bin     string
	env     []string
	pwfile  string
	tmpdir  string
	red     *redact.Redactor
	cacheOK bool
}

func newResticRunner(bin string, repo *secretsRepo, red *redact.Redactor) (*resticRunner, error) {
	if bin == "" {
		bin = "restic"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, &exitError{Code: ExitError, Err: fmt.Errorf("restic is not installed on this machine (%q not found on PATH); install it (apt-get install restic) to back up the operator's files", bin)}
	}
	dir, err := os.MkdirTemp("", "omc-restic-")
	if err != nil {
		return nil, err
	}
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte(repo.Password), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	var env []string
	for _, e := range os.Environ() {
		if k, _, _ := strings.Cut(e, "="); strings.HasPrefix(k, "RESTIC_") {
			continue // the inventory says which repository and password
		}
		env = append(env, e)
	}
	env = append(env, "RESTIC_REPOSITORY="+repo.Repository, "RESTIC_PASSWORD_FILE="+pw)
	env = append(env, repo.Env...)
	return &resticRunner{bin: path, env: env, pwfile: pw, tmpdir: dir, red: red}, nil
}

func (r *resticRunner) close() { os.RemoveAll(r.tmpdir) }

// run runs restic with args; errors carry its (redacted) stderr.
func (r *resticRunner) run(ctx context.Context, args ...string) (string, string, error) {
	c := exec.CommandContext(ctx, r.bin, args...)
	c.Env = r.env
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	if err != nil {
		msg := strings.TrimSpace(errb.String())
		if len(msg) > 400 {
			msg = msg[:400]
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("exit %d: %s", ee.ExitCode(), r.red.String(msg))
		} else {
			err = errors.New(r.red.String(err.Error()))
		}
	}
	return out.String(), errb.String(), err
}

// secretsBackupStatus is the status of the operator's target, as a
// pseudo-node named omc-secrets (group "operator").
func secretsBackupStatus(ctx context.Context, inv *inventory.Inventory, bin string, now time.Time, maxAge time.Duration, red *redact.Redactor) backupNodeStatusV1 {
	ns := backupNodeStatusV1{Node: secretsHost, Group: "operator", Targets: []backupTargetStatus{}}
	files, _ := secretsFiles(inv)
	targets := []roles.BackupTarget{{Name: secretsTarget, Paths: files}}
	repo, err := secretsBackupRepo(inv)
	if err != nil {
		ns.Error = red.String(err.Error())
		return nodeBackupStatus(ns, "", targets, now, maxAge, red)
	}
	rr, err := newResticRunner(bin, repo, red)
	if err != nil {
		ns.Error = red.String(err.Error())
		return nodeBackupStatus(ns, "", targets, now, maxAge, red)
	}
	defer rr.close()
	out, _, err := rr.run(ctx, "--no-lock", "snapshots", "--json", "--host", secretsHost, "--tag", "omc-"+secretsTarget)
	if err != nil {
		return nodeBackupStatus(ns, "error="+strings.ReplaceAll(err.Error(), "\n", " "), targets, now, maxAge, red)
	}
	return nodeBackupStatus(ns, "snapshots="+strings.ReplaceAll(strings.TrimSpace(out), "\n", ""), targets, now, maxAge, red)
}

// printSecretsTimer prints systemd user units that run omc backup
// secrets nightly with this inventory.
func printSecretsTimer(w io.Writer, inv *inventory.Inventory) error {
	self, err := os.Executable()
	if err != nil {
		self = "omc"
	}
	p, err := filepath.Abs(inv.Path)
	if err != nil || inv.Path == "<stdin>" {
		return usageError("--print-timer needs the inventory as a file (-i FILE)")
	}
	fmt.Fprintf(w, `# ~/.config/systemd/user/omc-backup-secrets.service
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
`, self, p)
	return nil
}
