package cmd

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/atomicfile"
	"github.com/omc-coop/omc/inventory"
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
// The regions' states and the incidents are fleet's (SummarizeRegion,
// IncidentLog).

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
func buildStatusPage(inv *inventory.Inventory, st *fleet.StatusResult, log *fleet.IncidentLog, at time.Time) statusPage {
	per := usersPerNode(inv)
	pg := statusPage{Fleet: inv.PageTitle(), Refresh: int(inv.PageRefresh().Seconds()), Generated: at.UTC().Format(pageTime), GeneratedISO: at.UTC().Format(time.RFC3339), Overall: fleet.RegionUp}
	down := 0
	pools := st.Pools // in the inventory's order: the co-op's
	for _, p := range pools {
		r := fleet.SummarizeRegion(p, per[p.Group])
		pr := pageRegion{Name: p.Group, State: r.State, StateText: stateText[r.State], Serving: r.Serving, Nodes: r.Nodes,
			Users: r.Users, Capacity: r.Capacity, Percent: r.Percent(), Bar: min(max(r.Percent(), 0), 100)}
		if log != nil {
			if in, ok := log.Latest(p.Group); ok {
				pr.Incident, pr.IncidentAt, pr.IncidentISO = incidentText(in), in.At.UTC().Format(pageTime), in.At.UTC().Format(time.RFC3339)
				pr.Ongoing = !in.Healthy && r.State != fleet.RegionUp
			}
		}
		switch r.State {
		case fleet.RegionDown:
			down++
			pg.Overall = fleet.RegionDegraded
		case fleet.RegionDegraded:
			pg.Overall = fleet.RegionDegraded
		}
		pg.Regions = append(pg.Regions, pr)
	}
	if len(pools) > 0 && down == len(pools) {
		pg.Overall = fleet.RegionDown
	}
	pg.Headline = headline[pg.Overall]
	return pg
}

var stateText = map[string]string{fleet.RegionUp: "Operational", fleet.RegionDegraded: "Degraded", fleet.RegionDown: "Down"}

var headline = map[string]string{
	fleet.RegionUp:       "All regions operational",
	fleet.RegionDegraded: "Some regions are affected",
	fleet.RegionDown:     "All regions are down",
}

// incidentText says what happened without naming the node or the problem.
func incidentText(in fleet.Incident) string {
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
func writeStatusPage(path string, inv *inventory.Inventory, st *fleet.StatusResult, log *fleet.IncidentLog, at time.Time) error {
	b, err := renderStatusPage(buildStatusPage(inv, st, log, at))
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, b, 0o644); err != nil {
		return fmt.Errorf("writing the status page: %w", err)
	}
	return nil
}
