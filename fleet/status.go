package fleet

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision/roles"
)

// StatusOptions are omc status's: what to look at and with what.
type StatusOptions struct {
	// Targets are groups or nodes; none is every pool and every node in
	// no pool.
	Targets []string
	// PoolsOnly refuses targets that name no pool (the live view and
	// the public page are about pools).
	PoolsOnly bool
	// Deps reach the providers, Scalelite, the nodes' BBB APIs and, for
	// Transfers, the nodes over SSH.
	Deps *PoolDeps
	// Redactor masks what is shown (default: Redactor(ctx, PoolSecrets(inv)...)).
	Redactor *redact.Redactor
	// Now is the incident log's clock (default time.Now).
	Now func() time.Time
	// Transfers, when set, also asks each bbb node that sends recordings
	// to a managed Scalelite how many wait (status_transfers.go).
	Transfers *TransferOptions
}

// StatusResult is what omc status saw: the JSON contract of omc status
// -o json (version 1: fields are only ever added).
type StatusResult struct {
	Healthy bool         `json:"healthy"`
	Pools   []PoolStatus `json:"pools"`
	// Nodes are the nodes in no pool: each machine, and a bbb node's own
	// health (pool_state "none"); omitted when there are none.
	Nodes []NodeStatus `json:"nodes,omitempty"`

	// At is when the look ended: the incident log's time of it.
	At time.Time `json:"-"`
	// Incidents is the incident log with this look's turns recorded;
	// IncidentErr says why it could not be read or written.
	Incidents   *IncidentLog `json:"-"`
	IncidentErr error        `json:"-"`
}

// PoolStatus is one pool: its Scalelite's view and its nodes.
type PoolStatus struct {
	Group     string `json:"group"`
	Scalelite string `json:"scalelite"`
	// Error says why Scalelite could not be asked ("" when it answered).
	Error string       `json:"error,omitempty"`
	Nodes []NodeStatus `json:"nodes"`
	// Unmanaged counts servers in the pool that are no member's.
	Unmanaged int `json:"unmanaged"`
}

// NodeStatus is one node as the provider, Scalelite and its BBB API see it.
type NodeStatus struct {
	Node     string `json:"node"`
	Provider string `json:"provider"`
	Address  string `json:"address"`
	// Machine is the provider's word for the machine ("" when it has none).
	Machine    string `json:"machine"`
	BBBVersion string `json:"bbb_version"`
	// PoolState is Scalelite's: enabled, cordoned, disabled, absent, or
	// unknown when Scalelite could not be read; none in no pool.
	PoolState string `json:"pool_state"`
	Online    bool   `json:"online"`
	// Meetings and Users are from the node's BBB API; null when it did not answer.
	Meetings *int `json:"meetings"`
	Users    *int `json:"users"`
	// Load is Scalelite's; null when unavailable.
	Load         *float64   `json:"load"`
	TLSExpires   *time.Time `json:"tls_expires"`
	LastConverge *time.Time `json:"last_converge"`
	// Held is the operator's reason when omc drain took the node out.
	Held     string   `json:"held,omitempty"`
	Healthy  bool     `json:"healthy"`
	Problems []string `json:"problems"`
	// Transfers are the recordings waiting to go to Scalelite: only
	// when asked for, and the node sends to a managed Scalelite.
	Transfers *TransferStatus `json:"transfers,omitempty"`
}

// Unhealthy counts the unhealthy nodes and all nodes.
func (r *StatusResult) Unhealthy() (bad, all int) {
	for _, p := range r.Pools {
		for _, n := range p.Nodes {
			all++
			if !n.Healthy {
				bad++
			}
		}
	}
	for _, n := range r.Nodes {
		all++
		if !n.Healthy {
			bad++
		}
	}
	return bad, all
}

// Status looks at the pools and nodes of opts.Targets once: the
// providers, Scalelite and every node's BBB API at once, nothing
// changed. It records the health turns in the incident log. Its error is
// a bad target; what it could not reach is in the result.
func Status(ctx context.Context, inv *inventory.Inventory, opts StatusOptions) (*StatusResult, error) {
	w, err := NewStatusWatch(ctx, inv, opts)
	if err != nil {
		return nil, err
	}
	w.kept = nil // one look: each pool is opened and closed
	return w.look(ctx, true), nil
}

// StatusWatch looks at the same pools again and again (omc status
// --watch), keeping each pool open from one look to the next; the nodes
// in no pool are Status's only.
type StatusWatch struct {
	inv    *inventory.Inventory
	opts   StatusOptions
	groups []*inventory.Group
	solo   []*inventory.Node
	kept   *keptPools
}

// NewStatusWatch checks the targets; Look looks, Close closes the pools.
func NewStatusWatch(ctx context.Context, inv *inventory.Inventory, opts StatusOptions) (*StatusWatch, error) {
	if opts.PoolsOnly {
		if _, err := PoolGroups(inv, opts.Targets); err != nil {
			return nil, err
		}
	}
	groups, solo, err := splitStatusTargets(inv, opts.Targets)
	if err != nil {
		return nil, err
	}
	if opts.Redactor == nil {
		opts.Redactor = Redactor(ctx, PoolSecrets(inv)...)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &StatusWatch{inv: inv, opts: opts, groups: groups, solo: solo, kept: &keptPools{}}, nil
}

// Look looks once more; the incident log records the turns.
func (w *StatusWatch) Look(ctx context.Context) *StatusResult { return w.look(ctx, false) }

// Close closes the pools kept open.
func (w *StatusWatch) Close() { w.kept.close() }

func (w *StatusWatch) look(ctx context.Context, solo bool) *StatusResult {
	o, red := w.opts, w.opts.Redactor
	st := &StatusResult{Healthy: true, Pools: []PoolStatus{}}
	machines := map[string]providers.Machine{} // what the providers said, for Transfers
	for _, grp := range w.groups {
		p := poolStatus(ctx, w.inv, grp, o.Deps, red, w.kept, machines)
		for _, n := range p.Nodes {
			st.Healthy = st.Healthy && n.Healthy
		}
		st.Healthy = st.Healthy && p.Error == ""
		st.Pools = append(st.Pools, p)
	}
	if solo && len(w.solo) > 0 {
		st.Nodes = soloStatus(ctx, w.inv, w.solo, o.Deps, red, machines)
		for _, n := range st.Nodes {
			st.Healthy = st.Healthy && n.Healthy
		}
	}
	if o.Transfers != nil {
		checkTransfers(ctx, w.inv, st, machines, o.Deps, *o.Transfers, red)
	}
	st.At = o.Now()
	st.Incidents, st.IncidentErr = RecordIncidents(w.inv, st, st.At)
	return st
}

// poolStatus asks the provider, Scalelite and every node at once; the
// machines the provider listed are added to seen.
func poolStatus(ctx context.Context, inv *inventory.Inventory, grp *inventory.Group, deps *PoolDeps, red *redact.Redactor, kept *keptPools, seen map[string]providers.Machine) PoolStatus {
	out := PoolStatus{Group: grp.Name, Scalelite: grp.Pool.URL, Nodes: []NodeStatus{}}
	fp, release, err := kept.open(ctx, inv, grp, deps, red)
	if err != nil {
		// Scalelite could not be reached at all (api: rake's SSH to its
		// host failed, a member's secret is missing): the pool's nodes are
		// still shown, each with its pool state unknown.
		out.Error = red.String(err.Error())
		for _, n := range inv.Nodes() {
			if n.Group == grp.Name && slices.Contains(n.Roles, roles.RoleBBB) {
				out.Nodes = append(out.Nodes, NodeStatus{Node: n.Name, Provider: n.Provider, Address: n.Address, PoolState: "unknown",
					Problems: []string{"pool state unknown: Scalelite could not be reached"}})
			}
		}
		return out
	}
	var listErr error
	defer func() { release(listErr != nil) }()

	var wg sync.WaitGroup
	var machines map[string]providers.Machine
	var machErr error
	var servers []pool.Server
	var health map[string]pool.Health
	wg.Go(func() {
		p, err := deps.ProviderFor(grp)
		if err != nil {
			machErr = err
			return
		}
		ms, err := p.List(ctx, inv, grp)
		machErr = err
		machines = map[string]providers.Machine{}
		for _, m := range ms {
			machines[m.Name] = m
		}
	})
	wg.Go(func() { servers, listErr = fp.API.List(ctx) })
	wg.Go(func() { health = fp.Gate.CheckAll(ctx, fp.Members) })
	wg.Wait()
	if listErr != nil {
		out.Error = red.String(listErr.Error())
	}
	maps.Copy(seen, machines)
	known := map[string]bool{}
	converged := LastConverge(inv)
	for i, n := range fp.Nodes {
		m := fp.Members[i]
		h := health[m.Node]
		row := NodeStatus{Node: n.Name, Provider: n.Provider, Address: n.Address, BBBVersion: h.BBBVersion, PoolState: "absent", Problems: []string{}}
		machineRow(&row, machines, machErr, red)
		if h.Answered {
			row.Meetings, row.Users = &h.Meetings, &h.Users
		}
		if t := h.Expires(); !t.IsZero() {
			row.TLSExpires = &t
		}
		if t, ok := converged[n.Name]; ok {
			row.LastConverge = &t
		}
		for _, p := range h.Problems {
			row.Problems = append(row.Problems, red.String(p))
		}
		reason, held := fp.Holds.Held(n.Name)
		row.Held = reason
		if listErr != nil {
			// Scalelite's view is unknown, not "absent": the node
			// cannot be called healthy without it.
			row.PoolState = "unknown"
			row.Problems = append(row.Problems, "pool state unknown: Scalelite could not be read")
		} else {
			known[pool.NormalizeURL(m.URL)] = true
			poolRow(&row, pool.FindByURL(servers, m.URL), m.URL, held)
		}
		row.Healthy = len(row.Problems) == 0
		out.Nodes = append(out.Nodes, row)
	}
	for _, sv := range servers {
		if !known[pool.NormalizeURL(sv.URL)] {
			out.Unmanaged++
		}
	}
	return out
}

// poolRow fills in Scalelite's view of row's node from its entries regs
// (registered under url) and what is wrong with it; held nodes may be
// out of service.
func poolRow(row *NodeStatus, regs []pool.Server, url string, held bool) {
	if len(regs) == 0 {
		row.Problems = append(row.Problems, "not registered in Scalelite (run omc up "+row.Node+")")
		return
	}
	// The entry omc pool sync (and up) keeps is the node's.
	sv := pool.PickKeeper(regs)
	row.PoolState, row.Online = sv.State, sv.Online
	if sv.LoadKnown {
		l := sv.Load
		row.Load = &l
	}
	if len(regs) > 1 {
		var others []string
		for _, d := range regs {
			if d.ID != sv.ID {
				others = append(others, d.ID+" ("+d.State+")")
			}
		}
		row.Problems = append(row.Problems, fmt.Sprintf("registered %d times under %s: duplicate %s besides %s; omc pool sync %s removes the empty ones",
			len(regs), url, strings.Join(others, ", "), sv.ID, row.Node))
	}
	if !sv.Online && !held {
		row.Problems = append(row.Problems, "Scalelite sees it offline")
	}
	if sv.State != pool.Enabled && !held {
		row.Problems = append(row.Problems, sv.State+" in Scalelite without an operator's drain (omc enable "+row.Node+")")
	}
}

// machineRow fills in what the provider says of row's machine (its status
// and address), or the problem when it has none or could not be asked.
func machineRow(row *NodeStatus, machines map[string]providers.Machine, machErr error, red *redact.Redactor) {
	switch mc, ok := machines[row.Node]; {
	case ok:
		row.Machine = mc.Status
		if mc.Address != "" {
			row.Address = mc.Address
		}
	case machErr != nil:
		row.Problems = append(row.Problems, "provider: "+red.String(machErr.Error()))
	default:
		row.Problems = append(row.Problems, "no machine (run omc up "+row.Node+")")
	}
}
