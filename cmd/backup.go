package cmd

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/providers"
)

type backupStatusOptions struct {
	Targets []string
	MaxAge  time.Duration
	// Secrets adds the operator's target (omc backup secrets).
	Secrets bool
}

func newBackupCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "backup",
		Short: "Nightly restic backups of the nodes (settings.backup)",
		Long: `Nodes whose settings have a backup block back up nightly with restic, to the
repository the inventory names (omc up installs and schedules it; see
omc help settings). These commands look at the backups.`,
		Args: noArgs,
	}
	c.AddCommand(newBackupStatusCmd(s, g), newBackupSecretsCmd(s, g))
	return c
}

func newBackupStatusCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &backupStatusOptions{}
	c := &cobra.Command{
		Use:   "status [GROUP|NODE...]",
		Short: "Show the last good backup of each node and target; fail when one is too old",
		Long: `Ask each selected node with backup settings (all of them without arguments)
for its restic snapshots (restic snapshots --json on the node, over SSH,
read-only) and show, per node and target (config, recordings,
scalelite-db), the newest snapshot, its age, and the result of the last
nightly run. With --secrets, also the operator's own target (omc backup
secrets: the inventory and its file: secrets), read with restic on this
machine, shown as node omc-secrets, target secrets.

A target is not ok when it has no snapshot, when its newest is older than
--max-age (a day), or when the repository cannot be read; a failed last
run is reported too. Then omc backup status exits 6, so monitoring can run
it. With -o json it prints one object (version 1: fields are only ever
added within a version).`,
		Example: `  omc backup status
  omc backup status eu-1 -o json
  omc backup status --secrets`,
		RunE: func(c *cobra.Command, args []string) error {
			o.Targets = args
			if o.MaxAge <= 0 {
				return usageError("--max-age must be positive")
			}
			return runBackupStatus(c.Context(), s, g, o)
		},
	}
	c.Flags().DurationVar(&o.MaxAge, "max-age", 24*time.Hour, "a newest snapshot older than this is too old")
	c.Flags().BoolVar(&o.Secrets, "secrets", false, "also check the operator's files (omc backup secrets; restic runs on this machine)")
	return c
}

// backupStatusV1 is omc backup status -o json, version 1. Fields are
// only ever added.
type backupStatusV1 struct {
	V     int                      `json:"v"`
	Type  string                   `json:"type"` // "backup_status"
	OK    bool                     `json:"ok"`
	Nodes []fleet.BackupNodeStatus `json:"nodes"`
}

func runBackupStatus(ctx context.Context, s *ui.Streams, g *globalOptions, o *backupStatusOptions) error {
	inv, nodes, err := selectNodes(s, g, o.Targets, nil)
	if err != nil {
		return err
	}
	red := redact.New(fleet.SecretValues(inv)...)
	pe := newProviderEvents(ctx, s)
	f := g.deps()
	st, err := fleet.QueryBackups(ctx, inv, nodes, fleet.BackupStatusOptions{MaxAge: o.MaxAge, Secrets: o.Secrets,
		Now: f.Now, Exec: f.Exec, Restic: f.Restic, Transport: f.Transport, Redact: red.String,
		Provider: func(name string) (providers.Provider, error) { return f.provider(s, pe, name) }})
	pe.close()
	if err != nil {
		return err
	}
	if g.json() {
		if err := g.jsonOut(s).Redacting(red.String).Write(backupStatusV1{V: 1, Type: "backup_status", OK: st.OK, Nodes: st.Nodes}); err != nil {
			return err
		}
	} else {
		writeBackupStatus(s.Out, st)
	}
	if !st.OK {
		msg := fmt.Sprintf("%d of %d nodes lack a good backup newer than %s", st.Stale(), len(st.Nodes), o.MaxAge)
		if !g.json() {
			fmt.Fprintln(s.Err, msg)
		}
		return &exitError{Code: ExitBackupStale, Silent: true, Err: fmt.Errorf("%s", msg)}
	}
	return nil
}

func writeBackupStatus(w io.Writer, st *fleet.BackupStatus) {
	now := st.Now
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tTARGET\tLAST BACKUP\tAGE\tSNAPSHOT\tLAST RUN\tSTATUS")
	for _, n := range st.Nodes {
		for _, t := range n.Targets {
			when, age := "-", "-"
			if t.Time != nil {
				when = t.Time.UTC().Format(time.RFC3339)
				age = backupAge(now.Sub(*t.Time))
			}
			status := "ok"
			if !t.OK {
				status = t.Problem
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Node, t.Target, when, age, backupDash(t.Snapshot), backupDash(n.LastRun), status)
		}
	}
	tw.Flush()
}

func backupAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "<1m"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func backupDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
