package fleet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision/roles"
)

// omc status --transfers: a bbb node whose group has a managed scalelite
// node packs each published recording into a tar and sends it there; a
// tar a failed transfer left waits in roles.TransferWork for the retry
// timer. Asking means an SSH connection to every such node, so it is
// asked for, never done by default.

// TransferOptions are how omc status --transfers asks.
type TransferOptions struct {
	// Dir is where the tars wait on a node, {node} replaced by its name
	// (default roles.TransferWork). Only tests change it.
	Dir string
	// StuckAfter is the age of the oldest tar that makes a node stuck
	// (default roles.TransferStuckAfter, two tries of the timer).
	StuckAfter time.Duration
	// Parallel bounds the nodes asked at once (default 8).
	Parallel int
}

// TransferStatus is what waits on a node to go to Scalelite.
type TransferStatus struct {
	// Waiting counts the tars that wait.
	Waiting int `json:"waiting"`
	// Oldest is the oldest tar's time; null when none waits.
	Oldest *time.Time `json:"oldest"`
	// OldestAge is its age in seconds by the node's clock (0: none waits).
	OldestAge int64 `json:"oldest_age_seconds"`
	// Stuck: the oldest has waited longer than the threshold (StuckAfter).
	Stuck bool `json:"stuck"`
	// Error says why the node could not be asked; the rest is then zero.
	Error string `json:"error,omitempty"`
}

// Age is how long the oldest tar has waited.
func (t *TransferStatus) Age() time.Duration { return time.Duration(t.OldestAge) * time.Second }

// transferScript prints the node's time, the number of tars waiting in
// dir and the oldest one's time (seconds since the epoch; "-" when none
// waits). It only reads.
func transferScript(dir string) string {
	return `d=` + shell.Quote(dir) + `
now=$(date +%s)
if [ ! -d "$d" ]; then echo "$now 0 -"; exit 0; fi
find "$d" -maxdepth 1 -type f -name '*.tar' -printf '%T@\n' |
  awk -v now="$now" '{ t = int($1); if (n == 0 || t < o) o = t; n++ } END { if (n) print now, n, o; else print now, 0, "-" }'
`
}

// parseTransfers reads transferScript's line.
func parseTransfers(out string, stuckAfter time.Duration) (TransferStatus, error) {
	var now, n int64
	var oldest string
	if _, err := fmt.Sscan(out, &now, &n, &oldest); err != nil {
		return TransferStatus{}, fmt.Errorf("unexpected answer %q", strings.TrimSpace(out))
	}
	ts := TransferStatus{Waiting: int(n)}
	if n == 0 {
		return ts, nil
	}
	var o int64
	if _, err := fmt.Sscan(oldest, &o); err != nil {
		return TransferStatus{}, fmt.Errorf("unexpected answer %q", strings.TrimSpace(out))
	}
	t := time.Unix(o, 0).UTC()
	ts.Oldest, ts.OldestAge = &t, max(now-o, 0)
	ts.Stuck = ts.Age() > stuckAfter
	return ts, nil
}

// checkTransfers asks each shown bbb node that sends its recordings to a
// managed Scalelite what waits, a few nodes at once. A node that cannot
// be asked says why in its own row.
func checkTransfers(ctx context.Context, inv *inventory.Inventory, st *StatusResult, machines map[string]providers.Machine, deps *PoolDeps, o TransferOptions, red *redact.Redactor) {
	if o.Dir == "" {
		o.Dir = roles.TransferWork
	}
	if o.StuckAfter <= 0 {
		o.StuckAfter = roles.TransferStuckAfter
	}
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	nodes := map[string]*inventory.Node{}
	for _, n := range inv.Nodes() {
		if roles.ScaleliteTarget(n, inv.Nodes()) != nil {
			nodes[n.Name] = n
		}
	}
	var rows []*NodeStatus
	for i := range st.Pools {
		for j := range st.Pools[i].Nodes {
			rows = append(rows, &st.Pools[i].Nodes[j])
		}
	}
	for j := range st.Nodes {
		rows = append(rows, &st.Nodes[j])
	}
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for _, row := range rows {
		n, ok := nodes[row.Node]
		if !ok {
			continue
		}
		row.Transfers = &TransferStatus{}
		m, ok := machines[n.Name]
		if !ok {
			// Its pool could not be opened, so its provider was not asked.
			m, ok = machineOf(ctx, inv, n, deps, machines)
		}
		if !ok {
			row.Transfers.Error = "no machine (run omc up " + n.Name + ")"
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ts, err := askTransfers(ctx, n, m, deps, strings.ReplaceAll(o.Dir, "{node}", n.Name), o.StuckAfter)
			if err != nil {
				ts = TransferStatus{Error: red.String(err.Error())}
			}
			*row.Transfers = ts
		})
	}
	wg.Wait()
}

// machineOf asks n's provider for its group's machines and adds them
// to machines.
func machineOf(ctx context.Context, inv *inventory.Inventory, n *inventory.Node, deps *PoolDeps, machines map[string]providers.Machine) (providers.Machine, bool) {
	if _, ms, err := MachinesOf(ctx, inv, inv.Group(n.Group), deps); err == nil {
		maps.Copy(machines, ms)
	}
	m, ok := machines[n.Name]
	return m, ok
}

func askTransfers(ctx context.Context, n *inventory.Node, m providers.Machine, deps *PoolDeps, dir string, stuckAfter time.Duration) (TransferStatus, error) {
	r, err := deps.Executor()(ctx, n, m, transferScript(dir))
	switch {
	case err != nil:
		return TransferStatus{}, err
	case r.ExitCode != 0:
		msg := strings.TrimSpace(string(r.Stderr))
		if msg == "" {
			msg = fmt.Sprintf("exit %d", r.ExitCode)
		}
		return TransferStatus{}, errors.New(msg)
	}
	return parseTransfers(string(r.Stdout), stuckAfter)
}
