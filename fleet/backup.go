package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/omc-coop/omc/internal/restic"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/provision/roles"
)

// BackupStatusOptions are backup status's. Secrets adds the operator's
// own target (BackupSecrets). Provider opens a group's provider (by its
// name); Now, Exec and Restic default to the clock, SSH and restic on
// PATH; Redact masks the secrets restic or SSH may print.
type BackupStatusOptions struct {
	MaxAge   time.Duration
	Secrets  bool
	Provider func(name string) (providers.Provider, error)
	Now      func() time.Time
	Exec     NodeExec
	Restic   string
	Redact   func(string) string
	// Transport reaches the nodes when Exec is unset.
	Transport Transport
}

// BackupStatus is the newest snapshot of each node's backup targets.
type BackupStatus struct {
	OK     bool
	Nodes  []BackupNodeStatus
	MaxAge time.Duration
	// Now is when the ages were taken.
	Now time.Time
}

// Stale counts the nodes that lack a good backup.
func (s *BackupStatus) Stale() int {
	n := 0
	for _, ns := range s.Nodes {
		if !ns.OK {
			n++
		}
	}
	return n
}

// BackupNodeStatus is one node's targets (omc backup status -o json).
type BackupNodeStatus struct {
	Node  string `json:"node"`
	Group string `json:"group"`
	// LastRun is systemd's result of the last nightly run ("success",
	// "exit-code", …; "" when it never ran).
	LastRun   string `json:"last_run"`
	LastRunAt string `json:"last_run_at,omitempty"`
	// Error says why the node's snapshots could not be read.
	Error   string               `json:"error,omitempty"`
	Targets []BackupTargetStatus `json:"targets"`
	OK      bool                 `json:"ok"`
}

// BackupTargetStatus is one target's newest snapshot.
type BackupTargetStatus struct {
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

// ErrNoBackups is a selection in which no node has backup settings.
var ErrNoBackups = errors.New("none of the selected nodes with roles has backup settings (settings.backup; see omc help settings)")

// QueryBackups asks each selected node with backup settings for its
// restic snapshots (read-only, over SSH, ten nodes at once), and with
// Secrets restic here for the operator's target. A node that cannot be
// asked is a node status with an Error, not an error; settings the roles
// refuse are an *InventoryError.
func QueryBackups(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, o BackupStatusOptions) (*BackupStatus, error) {
	all := inv.Nodes()
	targets := map[string][]roles.BackupTarget{}
	var backed []*inventory.Node
	for _, n := range nodes {
		ts, err := roles.BackupTargets(n, all)
		if err != nil {
			return nil, &InventoryError{Err: fmt.Errorf("%s:%d:%d: %w", inv.Path, n.Pos.Line, n.Pos.Col, err)}
		}
		if ts != nil {
			targets[n.Name] = ts
			backed = append(backed, n)
		}
	}
	if len(backed) == 0 && !o.Secrets {
		return nil, ErrNoBackups
	}
	red := o.Redact
	if red == nil {
		red = redactorOf(inv)
	}
	open := o.Provider
	if open == nil {
		open = func(name string) (providers.Provider, error) { return NewProvider(name, ProviderOptions{}) }
	}
	machines, _, err := Machines(ctx, inv, backed, provision.Plan, open)
	if err != nil {
		return nil, err
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	exec := o.Exec
	if exec == nil {
		exec = o.Transport.Exec
	}
	st := &BackupStatus{OK: true, MaxAge: o.MaxAge, Nodes: make([]BackupNodeStatus, len(backed))}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	for i, n := range backed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ns := BackupNodeStatus{Node: n.Name, Group: n.Group, Targets: []BackupTargetStatus{}}
			m, ok := machines[n.Name]
			var out string
			switch {
			case !ok:
				ns.Error = "no machine (provider " + n.Provider + "); run omc up"
			default:
				r, err := exec(ctx, n, m, roles.BackupStatusScript(n))
				switch {
				case err != nil:
					ns.Error = red(err.Error())
				case r.ExitCode != 0:
					ns.Error = red(fmt.Sprintf("the status script exited %d: %s", r.ExitCode, strings.TrimSpace(string(r.Stderr))))
				default:
					out = string(r.Stdout)
				}
			}
			st.Nodes[i] = NodeBackupStatus(ns, out, targets[n.Name], now(), o.MaxAge, red)
		}()
	}
	wg.Wait()
	if o.Secrets {
		st.Nodes = append(st.Nodes, secretsBackupStatus(ctx, inv, o.Restic, now(), o.MaxAge, red))
	}
	for _, n := range st.Nodes {
		st.OK = st.OK && n.OK
	}
	st.Now = now()
	return st, nil
}

// NodeBackupStatus reads the status script's output (see
// roles.BackupStatusScript) into a node's status: each target's newest
// snapshot of this node, by tag, ok when no older than maxAge.
func NodeBackupStatus(ns BackupNodeStatus, out string, targets []roles.BackupTarget, now time.Time, maxAge time.Duration, red func(string) string) BackupNodeStatus {
	var snaps []restic.Snapshot
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
			ns.Error = "restic could not list the snapshots: " + red(strings.TrimSpace(v))
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
		ts := BackupTargetStatus{Target: t.Name, Paths: t.Paths, OK: false}
		var newest *restic.Snapshot
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
