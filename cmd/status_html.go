package cmd

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/atomicfile"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
)

// omc status --html FILE: a static status page a co-op can publish.
//
// The page is public, so it shows only what a member may see: each
// region (a group with a pool) by name, whether it is up, degraded or
// down, how many of its servers are serving, the users it carries
// against its capacity, its last incident (when and what kind), and when
// the page was made. It never shows node names, addresses, URLs, BBB
// versions, problem details, meeting or tenant names, or any secret.
// One self-contained file: inline CSS, no scripts, no external assets.

// Region states, on the page and in the watch view.
const (
	regionUp       = "up"       // every node healthy
	regionDegraded = "degraded" // some node unhealthy, but some serving
	regionDown     = "down"     // Scalelite did not answer, or no node serving
)

// regionSummary counts one pool (or, added up, the fleet).
type regionSummary struct {
	State     string
	Nodes     int
	Serving   int // enabled, online and healthy
	Unhealthy int
	Meetings  int
	Users     int
	// Capacity is users per node × the nodes enabled in Scalelite and
	// online (the capacity model of the inventory's pool.capacity).
	Capacity int
}

func summarizeRegion(p statusPoolV1, usersPerNode int) regionSummary {
	r := regionSummary{Nodes: len(p.Nodes)}
	for _, n := range p.Nodes {
		if n.Meetings != nil {
			r.Meetings += *n.Meetings
		}
		if n.Users != nil {
			r.Users += *n.Users
		}
		enabled := n.PoolState == pool.Enabled && n.Online
		if enabled {
			r.Capacity += usersPerNode
		}
		if enabled && n.Healthy {
			r.Serving++
		}
		if !n.Healthy {
			r.Unhealthy++
		}
	}
	switch {
	case p.Error != "" || r.Serving == 0:
		r.State = regionDown
	case r.Unhealthy > 0:
		r.State = regionDegraded
	default:
		r.State = regionUp
	}
	return r
}

func (r *regionSummary) add(o regionSummary) {
	r.Nodes += o.Nodes
	r.Serving += o.Serving
	r.Unhealthy += o.Unhealthy
	r.Meetings += o.Meetings
	r.Users += o.Users
	r.Capacity += o.Capacity
}

// Percent is the capacity used, rounded; -1 when there is no capacity.
func (r regionSummary) Percent() int {
	if r.Capacity <= 0 {
		return -1
	}
	return (r.Users*100 + r.Capacity/2) / r.Capacity
}

// line is the summary in words, for the watch view.
func (r regionSummary) line() string {
	parts := []string{fmt.Sprintf("%d nodes", r.Nodes), fmt.Sprintf("%d serving", r.Serving)}
	if r.Unhealthy > 0 {
		parts = append(parts, fmt.Sprintf("%d unhealthy", r.Unhealthy))
	}
	parts = append(parts, fmt.Sprintf("%d meetings", r.Meetings))
	if p := r.Percent(); p >= 0 {
		parts = append(parts, fmt.Sprintf("%d users of %d (%d%%)", r.Users, r.Capacity, p))
	} else {
		parts = append(parts, fmt.Sprintf("%d users, no capacity enabled", r.Users))
	}
	return strings.Join(parts, " · ")
}

// The incident log: every status run (plain, --watch, --html) compares
// each node's health with what the last run saw and records the turns.
// It is local state (0600) and may hold a node's problem; the page shows
// only each region's latest incident's time and kind.

type incidentLog struct {
	V int `json:"v"`
	// Nodes is each node's health as last seen, by group then node.
	Nodes map[string]map[string]bool `json:"nodes"`
	// Scalelite is whether each group's Scalelite answered last time.
	Scalelite map[string]bool `json:"scalelite"`
	// Incidents are oldest first; at most keepIncidents per group stay.
	Incidents []incident `json:"incidents"`
}

type incident struct {
	At    time.Time `json:"at"`
	Group string    `json:"group"`
	// Node is "" when the pool's Scalelite stopped or started answering.
	Node string `json:"node,omitempty"`
	// Healthy is what it turned into.
	Healthy bool `json:"healthy"`
	// Problem is the first problem seen (redacted); never on the page.
	Problem string `json:"problem,omitempty"`
}

const keepIncidents = 50

func incidentPath(inv *inventory.Inventory) string {
	return filepath.Join(fleet.StateDir(), "pools", inv.Name, "incidents.json")
}

func readIncidents(inv *inventory.Inventory) (*incidentLog, error) {
	l := &incidentLog{V: 1, Nodes: map[string]map[string]bool{}, Scalelite: map[string]bool{}}
	b, err := os.ReadFile(incidentPath(inv))
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(b, l); err != nil {
		return l, fmt.Errorf("%s: %w", incidentPath(inv), err)
	}
	if l.Nodes == nil {
		l.Nodes = map[string]map[string]bool{}
	}
	if l.Scalelite == nil {
		l.Scalelite = map[string]bool{}
	}
	return l, nil
}

// observe records the turns in st seen at `at`, and says whether
// anything changed. A node seen for the first time is an incident only
// when it is unhealthy; a pool whose Scalelite could not be asked keeps
// its nodes' last health (nothing is known of them).
func (l *incidentLog) observe(st statusV1, at time.Time) bool {
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
			l.Incidents = append(l.Incidents, incident{At: at.UTC().Truncate(time.Second), Group: p.Group, Healthy: up})
		}
		if !ok || was != up {
			l.Scalelite[p.Group] = up
			changed = true
		}
	}
	l.trim()
	return changed
}

func (l *incidentLog) observeNodes(p statusPoolV1, at time.Time) bool {
	seen := map[string]bool{}
	for _, n := range p.Nodes {
		seen[n.Node] = n.Healthy
		was, ok := l.Nodes[p.Group][n.Node]
		if (ok && was != n.Healthy) || (!ok && !n.Healthy) {
			in := incident{At: at.UTC().Truncate(time.Second), Group: p.Group, Node: n.Node, Healthy: n.Healthy}
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

// trim keeps the newest keepIncidents of each group.
func (l *incidentLog) trim() {
	count := map[string]int{}
	var keep []incident
	for i := len(l.Incidents) - 1; i >= 0; i-- {
		in := l.Incidents[i]
		if count[in.Group]++; count[in.Group] <= keepIncidents {
			keep = append(keep, in)
		}
	}
	slices.Reverse(keep)
	l.Incidents = keep
}

// latest is group's newest incident.
func (l *incidentLog) latest(group string) (incident, bool) {
	for i := len(l.Incidents) - 1; i >= 0; i-- {
		if l.Incidents[i].Group == group {
			return l.Incidents[i], true
		}
	}
	return incident{}, false
}

// recordIncidents adds st's turns to the incident log and returns it;
// the file is rewritten (atomically) only when something changed. Two
// runs at the same moment may lose one's update; the next run sees the
// turn again.
func recordIncidents(inv *inventory.Inventory, st statusV1, at time.Time) (*incidentLog, error) {
	l, err := readIncidents(inv)
	if err != nil {
		return l, err
	}
	if !l.observe(st, at) {
		return l, nil
	}
	p := incidentPath(inv)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return l, err
	}
	b, _ := json.MarshalIndent(l, "", "  ")
	return l, atomicfile.Write(p, append(b, '\n'), 0o600)
}

// The page.

//go:embed status_html.tmpl
var statusPageSrc string

var statusPageTmpl = template.Must(template.New("status").Parse(statusPageSrc))

// statusPage is all the page shows: nothing else reaches the template.
type statusPage struct {
	Fleet string // status_page.title, else the inventory's name
	// Refresh is the browser's reload interval in seconds (0: none):
	// status_page.refresh, as a meta refresh (the page has no scripts).
	Refresh      int
	Generated    string
	GeneratedISO string
	Overall      string // up, degraded, down
	Headline     string
	Regions      []pageRegion
}

type pageRegion struct {
	Name      string
	State     string
	StateText string
	Serving   int
	Nodes     int
	Users     int
	Capacity  int
	Percent   int // -1: no capacity
	Bar       int // Percent capped at 100, for the bar's width
	// Incident is the latest incident's kind in words, IncidentAt its time.
	Incident    string
	IncidentAt  string
	IncidentISO string
	// Ongoing: the incident turned something unhealthy and the region is not up yet.
	Ongoing bool
}

const pageTime = "2006-01-02 15:04 UTC"

// buildStatusPage keeps to what is public: regions and counts.
func buildStatusPage(inv *inventory.Inventory, st statusV1, log *incidentLog, at time.Time) statusPage {
	per := map[string]int{}
	for _, g := range inv.Groups {
		if g.Pool != nil {
			per[g.Name], _, _, _ = g.Pool.Capacity.Model()
		}
	}
	pg := statusPage{Fleet: inv.PageTitle(), Refresh: int(inv.PageRefresh().Seconds()), Generated: at.UTC().Format(pageTime), GeneratedISO: at.UTC().Format(time.RFC3339), Overall: regionUp}
	down := 0
	pools := st.Pools // in the inventory's order: the co-op's
	for _, p := range pools {
		r := summarizeRegion(p, per[p.Group])
		pr := pageRegion{Name: p.Group, State: r.State, StateText: stateText[r.State], Serving: r.Serving, Nodes: r.Nodes,
			Users: r.Users, Capacity: r.Capacity, Percent: r.Percent(), Bar: min(max(r.Percent(), 0), 100)}
		if log != nil {
			if in, ok := log.latest(p.Group); ok {
				pr.Incident, pr.IncidentAt, pr.IncidentISO = incidentText(in), in.At.UTC().Format(pageTime), in.At.UTC().Format(time.RFC3339)
				pr.Ongoing = !in.Healthy && r.State != regionUp
			}
		}
		switch r.State {
		case regionDown:
			down++
			pg.Overall = regionDegraded
		case regionDegraded:
			pg.Overall = regionDegraded
		}
		pg.Regions = append(pg.Regions, pr)
	}
	if len(pools) > 0 && down == len(pools) {
		pg.Overall = regionDown
	}
	pg.Headline = headline[pg.Overall]
	return pg
}

var stateText = map[string]string{regionUp: "Operational", regionDegraded: "Degraded", regionDown: "Down"}

var headline = map[string]string{
	regionUp:       "All regions operational",
	regionDegraded: "Some regions are affected",
	regionDown:     "All regions are down",
}

// incidentText says what happened without naming the node or the problem.
func incidentText(in incident) string {
	switch {
	case in.Node == "" && in.Healthy:
		return "The load balancer answers again"
	case in.Node == "":
		return "The load balancer stopped answering"
	case in.Healthy:
		return "A server recovered"
	}
	return "A server became unhealthy"
}

func renderStatusPage(pg statusPage) ([]byte, error) {
	var b bytes.Buffer
	if err := statusPageTmpl.Execute(&b, pg); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeStatusPage renders the page and writes it atomically (0644: it
// is meant to be published).
func writeStatusPage(path string, inv *inventory.Inventory, st statusV1, log *incidentLog, at time.Time) error {
	b, err := renderStatusPage(buildStatusPage(inv, st, log, at))
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, b, 0o644); err != nil {
		return fmt.Errorf("writing the status page: %w", err)
	}
	return nil
}
