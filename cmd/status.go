package cmd

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision/roles"
)

type statusOptions struct {
	Targets []string
	// Watch redraws a live view every Interval (status_watch.go).
	Watch    bool
	Interval time.Duration
	// HTML also writes the public status page there (status_html.go).
	HTML string
	deps *fleet.PoolDeps
	live watchDeps
}

func newStatusCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &statusOptions{}
	c := &cobra.Command{
		Use:   "status [GROUP...]",
		Short: "Show each pool's nodes: machine, BBB, Scalelite state, load and health",
		Long: `Show one table per pool (every group with a pool, or the named ones): each
bbb node's provider, address, BBB version, pool state, online, meetings,
users, load, TLS expiry and last converge. The providers, Scalelite and
each node's BBB API are asked in parallel; nothing is changed.

A node is unhealthy when its health gate fails (BBB API, secret, TLS,
TURN), when Scalelite does not have it or sees it offline, or when it is
out of service without an operator having drained it. Then omc status
exits 5, so monitoring can run it. With -o json it prints one object
(version 1: fields are only ever added within a version).

--watch redraws a live view of the pools on the terminal every --interval
until Ctrl-C. --html FILE also writes a static, public-safe status page
(regions, up/down, capacity used, last incident; no node names,
addresses or secrets). Every run records in the state directory when a
node turns unhealthy or healthy again: the page's incidents.`,
		Example: `  omc status
  omc status eu-1 -o json
  omc status --watch --interval 10s
  omc status --html /var/www/status/index.html`,
		RunE: func(c *cobra.Command, args []string) error {
			if c.Flags().Changed("interval") && !o.Watch {
				return usageError("--interval only applies with --watch (one omc status is one look; run it from a timer for more)")
			}
			o.Targets = args
			if o.Watch {
				// A live view refreshes for hours: no per-call log.
				return runStatus(c.Context(), s, g, o)
			}
			return logRun(c.Context(), s, "status", func(ctx context.Context) error { return runStatus(ctx, s, g, o) })
		},
	}
	f := c.Flags()
	f.BoolVar(&o.Watch, "watch", false, "redraw a live view on the terminal until Ctrl-C")
	f.DurationVar(&o.Interval, "interval", 5*time.Second, "with --watch: how often to refresh (at least 1s)")
	f.StringVar(&o.HTML, "html", "", "also write the public status page to `FILE` (atomically)")
	return c
}

// statusV1 is omc status -o json, version 1. Fields are only ever added.
type statusV1 struct {
	V       int            `json:"v"`
	Type    string         `json:"type"` // "status"
	Healthy bool           `json:"healthy"`
	Pools   []statusPoolV1 `json:"pools"`
	// Nodes are the nodes in no pool: each machine, and a bbb node's own health
	// (pool_state "none"); omitted when there are none.
	Nodes []statusNodeV1 `json:"nodes,omitempty"`
}

type statusPoolV1 struct {
	Group     string `json:"group"`
	Scalelite string `json:"scalelite"`
	// Error says why Scalelite could not be asked ("" when it answered).
	Error string         `json:"error,omitempty"`
	Nodes []statusNodeV1 `json:"nodes"`
	// Unmanaged counts servers in the pool that are no member's.
	Unmanaged int `json:"unmanaged"`
}

type statusNodeV1 struct {
	Node     string `json:"node"`
	Provider string `json:"provider"`
	Address  string `json:"address"`
	// Machine is the provider's word for the machine ("" when it has none).
	Machine    string `json:"machine"`
	BBBVersion string `json:"bbb_version"`
	// PoolState is Scalelite's: enabled, cordoned, disabled, absent, or
	// unknown when Scalelite could not be read.
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
}

func runStatus(ctx context.Context, s *ui.Streams, g *globalOptions, o *statusOptions) error {
	o.deps = poolEnv(s, g, o.deps)
	if err := checkStatusFlags(s, g, o); err != nil {
		return err
	}
	inv, err := loadInventory(s, g)
	if err != nil {
		return err
	}
	if o.Watch || o.HTML != "" {
		// The live view and the public page are about pools.
		if _, err := fleet.PoolGroups(inv, o.Targets); err != nil {
			return err
		}
	}
	groups, solo, err := splitStatusTargets(inv, o.Targets)
	if err != nil {
		return err
	}
	red := fleet.Redactor(ctx, fleet.PoolSecrets(inv)...)
	if o.Watch {
		return runStatusWatch(ctx, s, inv, groups, o, red)
	}
	st := collectStatus(ctx, s, inv, groups, o.deps, red, nil)
	if st.Pools == nil {
		st.Pools = []statusPoolV1{}
	}
	if len(solo) > 0 {
		st.Nodes = soloStatus(ctx, s, inv, solo, o.deps, red)
		for _, n := range st.Nodes {
			st.Healthy = st.Healthy && n.Healthy
		}
	}
	log, lerr := recordIncidents(inv, st, o.live.now())
	if lerr != nil {
		fmt.Fprintf(s.Err, "omc: incident log: %v\n", lerr)
	}
	if o.HTML != "" {
		if err := writeStatusPage(o.HTML, inv, st, log, o.live.now()); err != nil {
			return err
		}
		if !g.json() {
			fmt.Fprintf(s.Err, "wrote the status page %s\n", o.HTML)
		}
	}
	if g.json() {
		if err := g.jsonOut(s).Redacting(red.String).Write(st); err != nil {
			return err
		}
	} else {
		writeStatus(s.Out, red, st)
		if len(st.Nodes) > 0 {
			if len(st.Pools) > 0 {
				fmt.Fprintln(s.Out)
			}
			writeSoloStatus(s.Out, st.Nodes)
		}
	}
	if !st.Healthy {
		bad, all := 0, 0
		for _, p := range st.Pools {
			for _, n := range p.Nodes {
				all++
				if !n.Healthy {
					bad++
				}
			}
		}
		for _, n := range st.Nodes {
			all++
			if !n.Healthy {
				bad++
			}
		}
		if !g.json() {
			fmt.Fprintf(s.Err, "%d of %d nodes unhealthy\n", bad, all)
		}
		return &exitError{Code: ExitUnhealthy, Silent: true, Err: fmt.Errorf("%d of %d nodes unhealthy", bad, all)}
	}
	return nil
}

// collectStatus asks every pool of groups (omc status, --watch, --html).
// kept, when not nil, keeps the pools open for the next call.
func collectStatus(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, groups []*inventory.Group, deps *fleet.PoolDeps, red *redact.Redactor, kept *keptPools) statusV1 {
	st := statusV1{V: 1, Type: "status", Healthy: true}
	for _, grp := range groups {
		p := poolStatus(ctx, s, inv, grp, deps, red, kept)
		for _, n := range p.Nodes {
			st.Healthy = st.Healthy && n.Healthy
		}
		st.Healthy = st.Healthy && p.Error == ""
		st.Pools = append(st.Pools, p)
	}
	return st
}

// poolStatus asks the provider, Scalelite and every node at once.
func poolStatus(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, grp *inventory.Group, deps *fleet.PoolDeps, red *redact.Redactor, kept *keptPools) statusPoolV1 {
	out := statusPoolV1{Group: grp.Name, Scalelite: grp.Pool.URL, Nodes: []statusNodeV1{}}
	fp, release, err := kept.open(ctx, s, inv, grp, deps, red)
	if err != nil {
		// Scalelite could not be reached at all (api: rake's SSH to its
		// host failed, a member's secret is missing): the pool's nodes are
		// still shown, each with its pool state unknown.
		out.Error = red.String(err.Error())
		for _, n := range inv.Nodes() {
			if n.Group == grp.Name && slices.Contains(n.Roles, roles.RoleBBB) {
				out.Nodes = append(out.Nodes, statusNodeV1{Node: n.Name, Provider: n.Provider, Address: n.Address, PoolState: "unknown",
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
	known := map[string]bool{}
	converged := fleet.LastConverge(inv)
	for i, n := range fp.Nodes {
		m := fp.Members[i]
		h := health[m.Node]
		row := statusNodeV1{Node: n.Name, Provider: n.Provider, Address: n.Address, BBBVersion: h.BBBVersion, PoolState: "absent", Problems: []string{}}
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
			regs := pool.FindByURL(servers, m.URL)
			known[pool.NormalizeURL(m.URL)] = true
			switch {
			case len(regs) == 0:
				row.Problems = append(row.Problems, "not registered in Scalelite (run omc up "+n.Name+")")
			default:
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
						len(regs), m.URL, strings.Join(others, ", "), sv.ID, n.Name))
				}
				if !sv.Online && !held {
					row.Problems = append(row.Problems, "Scalelite sees it offline")
				}
				if sv.State != pool.Enabled && !held {
					row.Problems = append(row.Problems, sv.State+" in Scalelite without an operator's drain (omc enable "+n.Name+")")
				}
			}
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

// machineRow fills in what the provider says of row's machine (its status
// and address), or the problem when it has none or could not be asked.
func machineRow(row *statusNodeV1, machines map[string]providers.Machine, machErr error, red *redact.Redactor) {
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

// writeStatus prints one aligned table per pool, then each unhealthy
// node's problems.
func writeStatus(w io.Writer, red *redact.Redactor, st statusV1) {
	for i, p := range st.Pools {
		if i > 0 {
			fmt.Fprintln(w)
		}
		healthy := 0
		for _, n := range p.Nodes {
			if n.Healthy {
				healthy++
			}
		}
		fmt.Fprintf(w, "pool %s (%s): %d nodes, %d healthy", p.Group, p.Scalelite, len(p.Nodes), healthy)
		if p.Unmanaged > 0 {
			fmt.Fprintf(w, ", %d other servers", p.Unmanaged)
		}
		fmt.Fprintln(w)
		if p.Error != "" {
			fmt.Fprintf(w, "  Scalelite: %s\n", strings.ReplaceAll(p.Error, "\n", "\n    "))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tPROVIDER\tADDRESS\tBBB\tPOOL\tONLINE\tMEETINGS\tUSERS\tLOAD\tTLS EXPIRY\tLAST CONVERGE\tHEALTH")
		for _, n := range p.Nodes {
			online := "offline"
			if n.Online {
				online = "online"
			}
			health := "ok"
			switch {
			case !n.Healthy:
				health = "UNHEALTHY"
			case n.Held != "":
				health = "drained"
			}
			state := n.PoolState
			fmt.Fprintln(tw, strings.Join([]string{n.Node, n.Provider, dash(n.Address), dash(n.BBBVersion), state, online,
				intOr(n.Meetings), intOr(n.Users), floatOr(n.Load), timeOr(n.TLSExpires, "2006-01-02"), timeOr(n.LastConverge, "2006-01-02 15:04Z"), health}, "\t"))
		}
		tw.Flush()
		for _, n := range p.Nodes {
			if n.Held != "" {
				fmt.Fprintf(w, "  %s: drained by an operator: %s\n", n.Node, red.String(n.Held))
			}
			for _, pr := range n.Problems {
				fmt.Fprintf(w, "  %s: %s\n", n.Node, pr)
			}
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func intOr(p *int) string {
	if p == nil {
		return "-"
	}
	return strconv.Itoa(*p)
}

func floatOr(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'f', -1, 64)
}

func timeOr(t *time.Time, layout string) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(layout)
}

// keptPools keeps each group's pool open from one refresh of omc status
// --watch to the next: over api: rake opening one is an SSH connection
// (and a handshake in the Scalelite host's log) every few seconds. A pool
// whose listing failed is closed and opened afresh next time. A nil
// keptPools opens and closes the pool for each call.
type keptPools struct{ pools map[string]*fleet.Pool }

func (k *keptPools) open(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, grp *inventory.Group, deps *fleet.PoolDeps, red *redact.Redactor) (*fleet.Pool, func(failed bool), error) {
	if k != nil {
		if fp, ok := k.pools[grp.Name]; ok {
			return fp, k.release(grp.Name, fp), nil
		}
	}
	fp, err := fleet.OpenPool(ctx, inv, grp, deps, red)
	if err != nil {
		return nil, nil, err
	}
	if k == nil {
		return fp, func(bool) { fp.Close() }, nil
	}
	if k.pools == nil {
		k.pools = map[string]*fleet.Pool{}
	}
	k.pools[grp.Name] = fp
	return fp, k.release(grp.Name, fp), nil
}

func (k *keptPools) release(group string, fp *fleet.Pool) func(failed bool) {
	return func(failed bool) {
		if failed {
			fp.Close()
			delete(k.pools, group)
		}
	}
}

func (k *keptPools) close() {
	for g, fp := range k.pools {
		fp.Close()
		delete(k.pools, g)
	}
}
