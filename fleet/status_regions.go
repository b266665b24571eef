package fleet

import "github.com/omc-coop/omc/pool"

// Region states, on the public page and in the live view.
const (
	RegionUp       = "up"       // every node healthy
	RegionDegraded = "degraded" // some node unhealthy, but some serving
	RegionDown     = "down"     // Scalelite did not answer, or no node serving
)

// RegionSummary counts one pool (or, added up, the fleet).
type RegionSummary struct {
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

// SummarizeRegion counts pool p, whose capacity model gives usersPerNode.
func SummarizeRegion(p PoolStatus, usersPerNode int) RegionSummary {
	r := RegionSummary{Nodes: len(p.Nodes)}
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
		r.State = RegionDown
	case r.Unhealthy > 0:
		r.State = RegionDegraded
	default:
		r.State = RegionUp
	}
	return r
}

// Add adds o's counts to r's (not its state).
func (r *RegionSummary) Add(o RegionSummary) {
	r.Nodes += o.Nodes
	r.Serving += o.Serving
	r.Unhealthy += o.Unhealthy
	r.Meetings += o.Meetings
	r.Users += o.Users
	r.Capacity += o.Capacity
}

// Percent is the capacity used, rounded; -1 when there is no capacity.
func (r RegionSummary) Percent() int {
	if r.Capacity <= 0 {
		return -1
	}
	return (r.Users*100 + r.Capacity/2) / r.Capacity
}
