package cmd

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
)

// backupSecretsOptions are omc backup secrets': the operator's files
// (fleet.PlanSecretsBackup), backed up with restic from this machine.
type backupSecretsOptions struct {
	PrintTimer bool
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
		units, err := fleet.SecretsTimer(inv, "")
		if err != nil {
			return err
		}
		if g.json() {
			return g.jsonOut(s).Write(textV1{V: 1, Type: "systemd-units", Text: units})
		}
		_, err = io.WriteString(s.Out, units)
		return err
	}
	red := redact.New(fleet.SecretValues(inv)...)
	b, err := fleet.PlanSecretsBackup(inv)
	if err != nil {
		return err
	}
	if envs := b.EnvSecrets; len(envs) > 0 {
		fmt.Fprintf(s.Err, "warning: %d env: secret(s) cannot be backed up, keep them elsewhere: %s\n", len(envs), strings.Join(envs, ", "))
	}
	res, err := b.Run(ctx, g.deps().Restic, func(repo string) {
		fmt.Fprintf(s.Err, "initialising the restic repository %s\n", repo)
	})
	if err != nil {
		return err
	}
	if g.json() {
		return g.jsonOut(s).Redacting(red.String).Write(backupSecretsV1{V: 1, Type: "backup_secrets",
			Repository: res.Repository, Snapshot: res.Snapshot, Files: res.Files, EnvSecrets: res.EnvSecrets})
	}
	fmt.Fprintf(s.Out, "snapshot %s of %d file(s) in %s (tag omc-%s):\n", backupDash(res.Snapshot), len(res.Files), res.Repository, fleet.SecretsTarget)
	for _, f := range res.Files {
		fmt.Fprintln(s.Out, "  "+red.String(f))
	}
	return nil
}
