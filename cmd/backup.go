package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/provision/roles"
)

type backupStatusOptions struct {
	Targets []string
	MaxAge  time.Duration
	// Secrets adds the operator's target (omc backup secrets).
	Secrets bool
	// Now, Exec and Restic are for tests (default: the clock, SSH,
	// restic on PATH).
	Now    func() time.Time
	Exec   fleet.NodeExec
	Restic string
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
	V     int                  `json:"v"`
	Type  string               `json:"type"` // "backup_status"
	OK    bool                 `json:"ok"`
	Nodes []backupNodeStatusV1 `json:"nodes"`
}

type backupNodeStatusV1 struct {
	Node  string `json:"node"`
	Group string `json:"group"`
	// LastRun is systemd's result of the last nightly run ("success",
	// "exit-code", …; "" when it never ran).
	LastRun   string `json:"last_run"`
	LastRunAt string `json:"last_run_at,omitempty"`
	// Error says why the node's snapshots could not be read.
	Error   string               `json:"error,omitempty"`
	Targets []backupTargetStatus `json:"targets"`
	OK      bool                 `json:"ok"`
}

type backupTargetStatus struct {
	Target string `json:"target"`
	// Snapshot is the newest snapshot's short ID ("" when there is none).
	Snapshot string     `json:"snapshot"`
	Time     *time.Time `json:"time"`
	// AgeSeconds is how old the newest snapshot is.
	AgeSeconds *int64   `json:"age_seconds"`
	Paths      []string `json:"paths"`
	OK         bool     `json:"ok"`
	Problem    string   `json:"problem,omitempty"`
}

// resticSnapshot is what restic snapshots --json says of one snapshot.
type resticSnapshot struct {
	Time     time.Time `json:"time"`
	Paths    []string  `json:"paths"`
	Hostname string    `json:"hostname"`
	Tags     []string  `json:"tags"`
	ID       string    `json:"id"`
	ShortID  string    `json:"short_id"`
}

func runBackupStatus(ctx context.Context, s *ui.Streams, g *globalOptions, o *backupStatusOptions) error {
	inv, nodes, err := selectNodes(s, g, o.Targets, nil)
	if err != nil {
		return err
	}
	all := inv.Nodes()
	targets := map[string][]roles.BackupTarget{}
	var backed []*inventory.Node
	for _, n := range nodes {
		ts, err := roles.BackupTargets(n, all)
		if err != nil {
			return &exitError{Code: ExitInventory, Err: fmt.Errorf("%s:%d:%d: %w", inv.Path, n.Pos.Line, n.Pos.Col, err)}
		}
		if ts != nil {
			targets[n.Name] = ts
			backed = append(backed, n)
		}
	}
	if len(backed) == 0 && !o.Secrets {
		return &exitError{Code: ExitError, Err: fmt.Errorf("none of the selected nodes with roles has backup settings (settings.backup; see omc help settings)")}
	}
	red := redact.New(fleet.SecretValues(inv)...)
	machines, _, err := machinesFor(ctx, s, inv, backed, provision.Plan)
	if err != nil {
		return err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	exec := o.Exec
	if exec == nil {
		exec = fleet.SSHExec
	}

	st := backupStatusV1{V: 1, Type: "backup_status", OK: true, Nodes: make([]backupNodeStatusV1, len(backed))}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	for i, n := range backed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ns := backupNodeStatusV1{Node: n.Name, Group: n.Group, Targets: []backupTargetStatus{}}
			m, ok := machines[n.Name]
			var out string
			switch {
			case !ok:
				ns.Error = "no machine (provider " + n.Provider + "); run omc up"
			default:
				r, err := exec(ctx, n, m, roles.BackupStatusScript(n))
				switch {
				case err != nil:
					ns.Error = red.String(err.Error())
				case r.ExitCode != 0:
					ns.Error = red.String(fmt.Sprintf("the status script exited %d: %s", r.ExitCode, strings.TrimSpace(string(r.Stderr))))
				default:
					out = string(r.Stdout)
				}
			}
			st.Nodes[i] = nodeBackupStatus(ns, out, targets[n.Name], now(), o.MaxAge, red)
		}()
	}
	wg.Wait()
	if o.Secrets {
		st.Nodes = append(st.Nodes, secretsBackupStatus(ctx, inv, o.Restic, now(), o.MaxAge, red))
	}
	for _, n := range st.Nodes {
		st.OK = st.OK && n.OK
	}

	if g.json() {
		if err := g.jsonOut(s).Redacting(red.String).Write(st); err != nil {
			return err
		}
	} else {
		writeBackupStatus(s.Out, st, now())
	}
	if !st.OK {
		bad := 0
		for _, n := range st.Nodes {
			if !n.OK {
				bad++
			}
		}
		msg := fmt.Sprintf("%d of %d nodes lack a good backup newer than %s", bad, len(st.Nodes), o.MaxAge)
		if !g.json() {
			fmt.Fprintln(s.Err, msg)
		}
		return &exitError{Code: ExitBackupStale, Silent: true, Err: fmt.Errorf("%s", msg)}
	}
	return nil
}

// nodeBackupStatus reads the status script's output (see
// roles.BackupStatusScript) into a node's status.
func nodeBackupStatus(ns backupNodeStatusV1, out string, targets []roles.BackupTarget, now time.Time, maxAge time.Duration, red *redact.Redactor) backupNodeStatusV1 {
	var snaps []resticSnapshot
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "state":
			if v == "absent" {
				ns.Error = "no backup installed on the node yet; run omc up"
			}
		case "result":
			ns.LastRun = v
		case "ran":
			ns.LastRunAt = v
		case "error":
			ns.Error = "restic could not list the snapshots: " + red.String(strings.TrimSpace(v))
		case "snapshots":
			if err := json.Unmarshal([]byte(v), &snaps); err != nil {
				ns.Error = "restic's snapshot list did not parse: " + err.Error()
			}
		}
	}
	if ns.Error == "" && out == "" {
		ns.Error = "the node printed nothing"
	}
	ns.OK = ns.Error == ""
	for _, t := range targets {
		ts := backupTargetStatus{Target: t.Name, Paths: t.Paths, OK: false}
		var newest *resticSnapshot
		for i := range snaps {
			sn := &snaps[i]
			if sn.Hostname == ns.Node && slices.Contains(sn.Tags, t.Tag()) && (newest == nil || sn.Time.After(newest.Time)) {
				newest = sn
			}
		}
		switch {
		case ns.Error != "":
			ts.Problem = "unknown: " + ns.Error
		case newest == nil:
			ts.Problem = "no snapshot yet"
		default:
			tm := newest.Time
			age := now.Sub(tm)
			secs := int64(age / time.Second)
			ts.Snapshot, ts.Time, ts.AgeSeconds = newest.ShortID, &tm, &secs
			if ts.Snapshot == "" && len(newest.ID) >= 8 {
				ts.Snapshot = newest.ID[:8]
			}
			ts.OK = age <= maxAge
			if !ts.OK {
				ts.Problem = "older than " + maxAge.String()
			}
		}
		ns.OK = ns.OK && ts.OK
		ns.Targets = append(ns.Targets, ts)
	}
	return ns
}

func writeBackupStatus(w io.Writer, st backupStatusV1, now time.Time) {
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
