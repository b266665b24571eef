package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/omc-coop/omc/internal/atomicfile"
	"github.com/omc-coop/omc/inventory"
)

// The incident log: every status look (plain, --watch, --html) compares
// each node's health with what the last one saw and records the turns.
// It is local state (0600) and may hold a node's problem; the public
// page shows only each region's latest incident's time and kind.

// IncidentLog is the incident log's file.
type IncidentLog struct {
	V int `json:"v"`
	// Nodes is each node's health as last seen, by group then node.
	Nodes map[string]map[string]bool `json:"nodes"`
	// Scalelite is whether each group's Scalelite answered last time.
	Scalelite map[string]bool `json:"scalelite"`
	// Incidents are oldest first; at most KeepIncidents per group stay.
	Incidents []Incident `json:"incidents"`
}

// Incident is one turn of a node's health, or of its pool's Scalelite.
type Incident struct {
	At    time.Time `json:"at"`
	Group string    `json:"group"`
	// Node is "" when the pool's Scalelite stopped or started answering.
	Node string `json:"node,omitempty"`
	// Healthy is what it turned into.
	Healthy bool `json:"healthy"`
	// Problem is the first problem seen (redacted); never on the page.
	Problem string `json:"problem,omitempty"`
}

// KeepIncidents is how many incidents of each group the log keeps.
const KeepIncidents = 50

// IncidentPath is where inv's incident log is kept, in the state dir.
func IncidentPath(inv *inventory.Inventory) string {
	return filepath.Join(StateDir(), "pools", inv.Name, "incidents.json")
}

// NewIncidentLog is an empty log.
func NewIncidentLog() *IncidentLog {
	return &IncidentLog{V: 1, Nodes: map[string]map[string]bool{}, Scalelite: map[string]bool{}}
}

// ReadIncidents reads inv's incident log (an empty one when there is none).
func ReadIncidents(inv *inventory.Inventory) (*IncidentLog, error) {
	l := NewIncidentLog()
	b, err := os.ReadFile(IncidentPath(inv))
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(b, l); err != nil {
		return l, fmt.Errorf("%s: %w", IncidentPath(inv), err)
	}
	if l.Nodes == nil {
		l.Nodes = map[string]map[string]bool{}
	}
	if l.Scalelite == nil {
		l.Scalelite = map[string]bool{}
	}
	return l, nil
}

// Observe records the turns in st seen at `at`, and says whether
// anything changed. A node seen for the first time is an incident only
// when it is unhealthy; a pool whose Scalelite could not be asked keeps
// its nodes' last health (nothing is known of them).
func (l *IncidentLog) Observe(st *StatusResult, at time.Time) bool {
	changed := false
	for _, p := range st.Pools {
		up := p.Error == ""
		if up || len(p.Nodes) > 0 {
			changed = l.observeNodes(p, at) || changed
		}
		// The pool's own turn comes after its nodes': it is the cause,
		// so the one the page shows.
		was, ok := l.Scalelite[p.Group]
		if (ok && was != up) || (!ok && !up) {
			l.Incidents = append(l.Incidents, Incident{At: at.UTC().Truncate(time.Second), Group: p.Group, Healthy: up})
		}
		if !ok || was != up {
			l.Scalelite[p.Group] = up
			changed = true
		}
	}
	l.trim()
	return changed
}

func (l *IncidentLog) observeNodes(p PoolStatus, at time.Time) bool {
	seen := map[string]bool{}
	for _, n := range p.Nodes {
		seen[n.Node] = n.Healthy
		was, ok := l.Nodes[p.Group][n.Node]
		if (ok && was != n.Healthy) || (!ok && !n.Healthy) {
			in := Incident{At: at.UTC().Truncate(time.Second), Group: p.Group, Node: n.Node, Healthy: n.Healthy}
			if len(n.Problems) > 0 {
				in.Problem = n.Problems[0]
			}
			l.Incidents = append(l.Incidents, in)
		}
	}
	if sameHealth(l.Nodes[p.Group], seen) {
		return false
	}
	l.Nodes[p.Group] = seen
	return true
}

func sameHealth(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// trim keeps the newest KeepIncidents of each group.
func (l *IncidentLog) trim() {
	count := map[string]int{}
	var keep []Incident
	for i := len(l.Incidents) - 1; i >= 0; i-- {
		in := l.Incidents[i]
		if count[in.Group]++; count[in.Group] <= KeepIncidents {
			keep = append(keep, in)
		}
	}
	slices.Reverse(keep)
	l.Incidents = keep
}

// Latest is group's newest incident.
func (l *IncidentLog) Latest(group string) (Incident, bool) {
	for i := len(l.Incidents) - 1; i >= 0; i-- {
		if l.Incidents[i].Group == group {
			return l.Incidents[i], true
		}
	}
	return Incident{}, false
}

// RecordIncidents adds st's turns to inv's incident log and returns it;
// the file is rewritten (atomically) only when something changed. Two
// runs at the same moment may lose one's update; the next run sees the
// turn again.
func RecordIncidents(inv *inventory.Inventory, st *StatusResult, at time.Time) (*IncidentLog, error) {
	l, err := ReadIncidents(inv)
	if err != nil {
		return l, err
	}
	if !l.Observe(st, at) {
		return l, nil
	}
	p := IncidentPath(inv)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return l, err
	}
	b, _ := json.MarshalIndent(l, "", "  ")
	return l, atomicfile.Write(p, append(b, '\n'), 0o600)
}
