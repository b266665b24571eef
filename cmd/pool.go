package cmd

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/bbbapi"
	"github.com/omc-coop/omc/pool/scalelite"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/provision/roles"
	"github.com/omc-coop/omc/remote"
)

// poolDeps are what the pool commands (status, drain, enable, remove,
// upgrade, scale, tenant, and the pool step of up) reach outside omc.
// The zero value is the real world; tests replace single fields.
type poolDeps struct {
	// HTTP talks to Scalelite and to the nodes' BBB APIs (default: 30 s
	// timeout, system roots).
	HTTP *http.Client
	// Provider returns a group's provider (default: providerFor).
	Provider func(s *ui.Streams, g *inventory.Group) (providers.Provider, error)
	// Converge converges nodes on their machines as omc up does, and
	// returns the nodes it failed on (default: the engine over SSH).
	Converge func(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, nodes []*inventory.Node, machines map[string]providers.Machine) map[string]error
	// Poll is how often a drain asks Scalelite (default 10 s).
	Poll time.Duration
	// EndWait bounds a forced drain's wait for the node's meetings to go
	// after BBB's end (default 2 min).
	EndWait time.Duration
	// Exec runs a script on a node's machine (default: over SSH, as omc
	// up reaches it); the gate reads a hidden BBB release with it.
	Exec nodeExec
	// STUN answers the TURN check (default: a STUN binding request over UDP).
	STUN func(ctx context.Context, addr string) error
	// RakeDocker is the docker command on the Scalelite host for
	// api: rake (default: docker, from the host's PATH).
	RakeDocker string
}

// defaultPoolHTTP is the one client of a command's Scalelite and BBB
// calls (keep-alive, bbbapi.NewHTTPClient).
var defaultPoolHTTP = bbbapi.NewHTTPClient(30 * time.Second)

func (d *poolDeps) http() *http.Client {
	if d != nil && d.HTTP != nil {
		return d.HTTP
	}
	return defaultPoolHTTP
}

func (d *poolDeps) provider(s *ui.Streams, g *inventory.Group) (providers.Provider, error) {
	if d != nil && d.Provider != nil {
		return d.Provider(s, g)
	}
	return providerFor(g.Provider, s)
}

func (d *poolDeps) poll() time.Duration {
	if d != nil && d.Poll > 0 {
		return d.Poll
	}
	return 10 * time.Second
}

func (d *poolDeps) endWait() time.Duration {
	if d != nil && d.EndWait > 0 {
		return d.EndWait
	}
	return 2 * time.Minute
}

func (d *poolDeps) exec() nodeExec {
	if d != nil && d.Exec != nil {
		return d.Exec
	}
	return sshExec
}

func (d *poolDeps) converge(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, nodes []*inventory.Node, machines map[string]providers.Machine) map[string]error {
	if d != nil && d.Converge != nil {
		return d.Converge(ctx, s, inv, nodes, machines)
	}
	return convergeOver(ctx, s, inv, nodes, machines)
}

// fleetPool is one group's pool, opened: its Scalelite, its members as
// the inventory says, the gate they pass, and the operator's holds.
type fleetPool struct {
	inv     *inventory.Inventory
	group   *inventory.Group
	nodes   []*inventory.Node // the group's bbb nodes, in inventory order
	members []pool.Member
	api     pool.Pool
	gate    *pool.Gate
	holds   pool.FileHolds
	red     *redact.Redactor
	close   func()
}

// member returns the member of node name.
func (fp *fleetPool) member(name string) (pool.Member, bool) {
	for _, m := range fp.members {
		if m.Node == name {
			return m, true
		}
	}
	return pool.Member{}, false
}

// poolGroups returns the groups named by targets (groups, or nodes whose
// group it is; none = every group) that have a pool.
func poolGroups(inv *inventory.Inventory, targets []string) ([]*inventory.Group, error) {
	var out []*inventory.Group
	add := func(g *inventory.Group) {
		if g != nil && g.Pool != nil && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	if len(targets) == 0 {
		for _, g := range inv.Groups {
			add(g)
		}
		if len(out) == 0 {
			return nil, usageError("no group of %s has a pool (groups.NAME.pool)", inv.Path)
		}
		return out, nil
	}
	nodes, err := inv.Select(targets, nil)
	if err != nil {
		return nil, usageError("%v", err)
	}
	for _, t := range targets {
		if g := inv.Group(t); g != nil {
			if g.Pool == nil {
				return nil, usageError("group %s has no pool (groups.%s.pool)", g.Name, g.Name)
			}
			add(g)
		}
	}
	for _, n := range nodes {
		add(inv.Group(n.Group))
	}
	if len(out) == 0 {
		return nil, usageError("%s: not in a group with a pool", strings.Join(targets, ", "))
	}
	return out, nil
}

// nodeGroup finds the node and its pool group.
func nodeGroup(inv *inventory.Inventory, name string) (*inventory.Node, *inventory.Group, error) {
	for _, n := range inv.Nodes() {
		if n.Name != name {
			continue
		}
		g := inv.Group(n.Group)
		if g.Pool == nil {
			return nil, nil, usageError("node %s: group %s has no pool", name, g.Name)
		}
		if !slices.Contains(n.Roles, roles.RoleBBB) {
			return nil, nil, usageError("node %s is not a bbb node; only bbb nodes serve in a pool", name)
		}
		return n, g, nil
	}
	return nil, nil, usageError("no node named %q in %s", name, inv.Path)
}

// poolSecrets are every secret the pool commands must mask: the
// inventory's, those the roles derive (BBB API secrets), and the tenant
// secrets stored where the inventory says.
func poolSecrets(inv *inventory.Inventory) []string {
	vals := append(inv.SecretValues(), roles.SecretValues(inv, inv.Nodes())...)
	for _, g := range inv.Groups {
		if d := inv.TenantDir(g.Pool); d != "" {
			files, _ := filepath.Glob(filepath.Join(d, "*.secret"))
			for _, f := range files {
				if b, err := os.ReadFile(f); err == nil && len(b) > 0 {
					vals = append(vals, strings.TrimSpace(string(b)))
				}
			}
		}
	}
	return vals
}

// openPool opens group g's pool. The members are its bbb nodes; extra
// nodes (not in the inventory yet: omc scale) may be given.
func openPool(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, g *inventory.Group, deps *poolDeps, red *redact.Redactor, extra ...*inventory.Node) (*fleetPool, error) {
	cfg := g.Pool
	if !cfg.Secret.IsSet() {
		return nil, &exitError{Code: ExitInventory, Err: inv.MissingSecrets()}
	}
	fp := &fleetPool{inv: inv, group: g, red: red, close: func() {}}
	for _, n := range append(inv.Nodes(), extra...) {
		if n.Group == g.Name && slices.Contains(n.Roles, roles.RoleBBB) {
			fp.nodes = append(fp.nodes, n)
		}
	}
	for _, n := range fp.nodes {
		m, err := memberOf(inv, g, n)
		if err != nil {
			return nil, err
		}
		red.Add(m.Secret)
		fp.members = append(fp.members, m)
	}
	red.Add(cfg.Secret.Value())
	hc := loggedHTTP(deps.http(), runLogFrom(ctx))
	switch cfg.APIKind() {
	case inventory.PoolRake:
		rp, closeFn, err := openRake(ctx, s, inv, g, deps)
		if err != nil {
			return nil, err
		}
		fp.api, fp.close = rp, closeFn
	default:
		fp.api = &scalelite.Client{URL: cfg.URL, Secret: cfg.Secret.Value(), Algorithm: cfg.ChecksumAlgorithm(), HTTP: hc}
	}
	fp.api = &maskingPool{Pool: fp.api, red: red}
	fp.gate = &pool.Gate{HTTP: hc, Checks: healthChecks(cfg, deps), Version: releaseReader(s, inv, g, fp.nodes, deps)}
	fp.holds = pool.FileHolds{Path: filepath.Join(fleet.StateDir(), "pools", inv.Name, g.Name+".holds.json")}
	return fp, nil
}

// memberOf is what the pool registers for node n.
func memberOf(inv *inventory.Inventory, g *inventory.Group, n *inventory.Node) (pool.Member, error) {
	secret, err := roles.APISecret(inv, n)
	if err != nil {
		return pool.Member{}, &exitError{Code: ExitInventory, Err: fmt.Errorf("%s:%d:%d: %w", inv.Path, n.Pos.Line, n.Pos.Col, err)}
	}
	lm, tag := inv.PoolMember(n)
	m := pool.Member{Node: n.Name, URL: g.Pool.MemberURL(n), Secret: secret, LoadMultiplier: lm, Tag: tag, Domain: n.Domain,
		Algorithm: g.Pool.BBBChecksumAlgorithm()}
	m.ExpectVersion = roles.ExpectedVersion(n)
	// The TURN server the node hands its clients: its group's, else itself.
	turn := n.Domain
	for _, t := range inv.Nodes() {
		if t.Group == n.Group && slices.Contains(t.Roles, roles.RoleTURN) && !slices.Contains(t.Roles, roles.RoleBBB) {
			turn = cmpOr(t.Domain, t.Address)
			break
		}
	}
	if turn != "" {
		m.TURN = net.JoinHostPort(turn, "3478")
	}
	return m, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// openRake reaches Scalelite's rake tasks over SSH on the node it runs on.
func openRake(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, g *inventory.Group, deps *poolDeps) (pool.Pool, func(), error) {
	host, err := inv.RakeHost(g)
	if err != nil {
		return nil, nil, err
	}
	hg := inv.Group(host.Group)
	p, err := deps.provider(s, hg)
	if err != nil {
		return nil, nil, fmt.Errorf("group %s: %w", hg.Name, err)
	}
	ms, err := p.List(ctx, inv, hg)
	if err != nil {
		return nil, nil, fmt.Errorf("group %s: listing machines: %w", hg.Name, err)
	}
	var m *providers.Machine
	for i := range ms {
		if ms[i].Name == host.Name {
			m = &ms[i]
		}
	}
	if m == nil {
		return nil, nil, fmt.Errorf("scalelite node %s has no machine (run omc up %s)", host.Name, host.Name)
	}
	cfg, err := fleet.SSHConfig(host, *m, &remote.KnownHosts{Path: fleet.KnownHostsPath()})
	if err != nil {
		return nil, nil, fmt.Errorf("scalelite node %s: %w", host.Name, err)
	}
	c, err := remote.Dial(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("scalelite node %s: %w", host.Name, err)
	}
	r := &scalelite.Rake{Runner: scalelite.SSHRunner{Client: c}, Container: g.Pool.Container}
	if deps != nil {
		r.Docker = deps.RakeDocker
	}
	return r, func() { _ = c.Close() }, nil
}

// maskingPool keeps secrets Scalelite returns (each server's BBB secret,
// tenant secrets) out of errors: whatever it learns is masked from then on.
type maskingPool struct {
	pool.Pool
	red *redact.Redactor
}

func (m *maskingPool) seen(servers ...pool.Server) {
	for _, s := range servers {
		if s.Secret != "" {
			m.red.Add(s.Secret)
		}
	}
}

func (m *maskingPool) err(err error) error {
	if err == nil {
		return nil
	}
	return &maskedError{msg: m.red.String(err.Error()), err: err}
}

// maskedError shows a redacted message but keeps the chain for errors.As.
type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

func (m *maskingPool) List(ctx context.Context) ([]pool.Server, error) {
	l, err := m.Pool.List(ctx)
	m.seen(l...)
	return l, m.err(err)
}

func (m *maskingPool) Get(ctx context.Context, id string) (pool.Server, error) {
	s, err := m.Pool.Get(ctx, id)
	m.seen(s)
	return s, m.err(err)
}

func (m *maskingPool) Add(ctx context.Context, spec pool.ServerSpec) (pool.Server, error) {
	s, err := m.Pool.Add(ctx, spec)
	m.seen(s)
	return s, m.err(err)
}

func (m *maskingPool) Update(ctx context.Context, id string, u pool.ServerUpdate) (pool.Server, error) {
	s, err := m.Pool.Update(ctx, id, u)
	m.seen(s)
	return s, m.err(err)
}

func (m *maskingPool) Delete(ctx context.Context, id string) error {
	return m.err(m.Pool.Delete(ctx, id))
}

func (m *maskingPool) Panic(ctx context.Context, id string, keep bool) error {
	return m.err(m.Pool.Panic(ctx, id, keep))
}

func (m *maskingPool) Tenants(ctx context.Context) ([]pool.Tenant, error) {
	l, err := m.Pool.Tenants(ctx)
	for _, t := range l {
		m.red.Add(t.Secrets...)
	}
	return l, m.err(err)
}

func (m *maskingPool) AddTenant(ctx context.Context, name string, secrets []string) (pool.Tenant, error) {
	m.red.Add(secrets...)
	t, err := m.Pool.AddTenant(ctx, name, secrets)
	return t, m.err(err)
}

func (m *maskingPool) UpdateTenant(ctx context.Context, id, name string, secrets []string) (pool.Tenant, error) {
	m.red.Add(secrets...)
	t, err := m.Pool.UpdateTenant(ctx, id, name, secrets)
	return t, m.err(err)
}

func (m *maskingPool) DeleteTenant(ctx context.Context, id string) error {
	return m.err(m.Pool.DeleteTenant(ctx, id))
}

// healthChecks are the gate's extra checks the pool asks for.
func healthChecks(cfg *inventory.Pool, deps *poolDeps) []pool.Check {
	var out []pool.Check
	for _, c := range cfg.HealthChecks() {
		switch c {
		case inventory.CheckTLS:
			hc := deps.http()
			out = append(out, pool.Check{Name: "tls", Run: func(ctx context.Context, m pool.Member) (pool.CheckResult, error) {
				return checkTLS(ctx, hc, m)
			}})
		case inventory.CheckTURN:
			stun := stunBinding
			if deps != nil && deps.STUN != nil {
				stun = deps.STUN
			}
			out = append(out, pool.Check{Name: "turn", Run: func(ctx context.Context, m pool.Member) (pool.CheckResult, error) {
				if m.TURN == "" {
					return pool.CheckResult{}, errors.New("no TURN server known (the node has neither a domain nor a TURN node in its group)")
				}
				if err := stun(ctx, m.TURN); err != nil {
					return pool.CheckResult{}, fmt.Errorf("STUN at %s: %w", m.TURN, err)
				}
				return pool.CheckResult{Detail: "STUN binding at " + m.TURN + " answered"}, nil
			}})
		}
	}
	return out
}

// checkTLS fetches the node's API root over HTTPS, which verifies the
// certificate for its name, and reports when the certificate expires.
func checkTLS(ctx context.Context, hc *http.Client, m pool.Member) (pool.CheckResult, error) {
	u, err := url.Parse(m.URL)
	if err != nil || u.Scheme != "https" {
		return pool.CheckResult{}, fmt.Errorf("the BBB API URL %s is not https", m.URL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL, nil)
	if err != nil {
		return pool.CheckResult{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return pool.CheckResult{}, err
	}
	resp.Body.Close()
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		return pool.CheckResult{}, errors.New("no certificate")
	}
	return certResult(resp.TLS)
}

func certResult(st *tls.ConnectionState) (pool.CheckResult, error) {
	c := st.PeerCertificates[0]
	left := time.Until(c.NotAfter)
	r := pool.CheckResult{Expires: c.NotAfter.UTC(), Detail: "certificate valid until " + c.NotAfter.UTC().Format("2006-01-02")}
	if left < 72*time.Hour {
		return r, fmt.Errorf("certificate expires %s (renewal is failing?)", c.NotAfter.UTC().Format(time.RFC3339))
	}
	return r, nil
}

// stunBinding sends a STUN binding request (RFC 5389) over UDP and waits
// for a success response with the same transaction ID: coturn answers
// it without credentials. Three tries, a second each.
func stunBinding(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	req := make([]byte, 20)
	binary.BigEndian.PutUint16(req[0:], 0x0001) // binding request
	binary.BigEndian.PutUint32(req[4:], 0x2112A442)
	if _, err := rand.Read(req[8:20]); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	for try := 0; try < 3; try++ {
		if _, err := conn.Write(req); err != nil {
			return err
		}
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				break // timeout: send again
			}
			if n >= 20 && binary.BigEndian.Uint16(buf[0:]) == 0x0101 && string(buf[8:20]) == string(req[8:20]) {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return errors.New("no binding response after 3 tries")
}

// convergeOver converges nodes on their machines with the engine, as
// omc up does, quietly (progress lines on stderr), and returns the nodes
// that failed.
func convergeOver(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, nodes []*inventory.Node, machines map[string]providers.Machine) map[string]error {
	failed := map[string]error{}
	hosts, err := fleet.Hosts(inv, nodes, machines, fleet.KeyPolicy{OnNew: newKeyReporter(s, nil)})
	if err != nil {
		for _, n := range nodes {
			failed[n.Name] = err
		}
		return failed
	}
	red := redact.New(poolSecrets(inv)...)
	results := provision.Run(ctx, hosts, provision.Options{
		Mode:     provision.Apply,
		Parallel: 8,
		Holder:   fleet.LockHolder("converge", nodes),
		Observer: ui.NewLines(s.Err, ui.NewStyles(s.Err, s.ErrColor)),
		Redact:   red.String,
	})
	var ok []string
	for _, r := range results {
		if r.Failed() {
			failed[r.Host] = errors.New(red.String(r.Err.Error()))
		} else {
			ok = append(ok, r.Host)
		}
	}
	recordConverge(inv, time.Now(), ok...)
	return failed
}

// Last converge times are local state, like the holds: what this machine
// saw omc up do.
func convergePath(inv *inventory.Inventory) string {
	return filepath.Join(fleet.StateDir(), "pools", inv.Name, "converged.json")
}

var convergeMu sync.Mutex

// recordConverge records t as the last converge of nodes, in one write.
func recordConverge(inv *inventory.Inventory, t time.Time, nodes ...string) {
	if len(nodes) == 0 {
		return
	}
	convergeMu.Lock()
	defer convergeMu.Unlock()
	m := lastConverge(inv)
	for _, n := range nodes {
		m[n] = t.UTC()
	}
	p := convergePath(inv)
	if os.MkdirAll(filepath.Dir(p), 0o700) != nil {
		return
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	tmp := p + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		_ = os.Rename(tmp, p)
	}
}

func lastConverge(inv *inventory.Inventory) map[string]time.Time {
	m := map[string]time.Time{}
	b, err := os.ReadFile(convergePath(inv))
	if err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

// syncAfterUp is the pool step of omc up: for every group with a pool
// among the converged nodes, the nodes that converged are registered and
// enabled once healthy (pool.Sync with the gate). It records the last
// converge of each node, reports each pool change on stderr (or as JSON
// lines), and fails when a pool cannot be reached or a node was left out.
func syncAfterUp(ctx context.Context, s *ui.Streams, g *globalOptions, inv *inventory.Inventory, nodes []*inventory.Node, results []provision.Result, deps *poolDeps) error {
	_, err := syncPools(ctx, s, g, inv, nodes, results, deps, false)
	return err
}

// planPools is the pool step of omc plan: what syncAfterUp would do for
// the nodes that are converged already (those with changes pending are
// decided after up), as a dry run that changes no pool. It returns how
// many pool changes are pending; a node the gate would leave out is
// reported, not counted.
func planPools(ctx context.Context, s *ui.Streams, g *globalOptions, inv *inventory.Inventory, nodes []*inventory.Node, results []provision.Result, deps *poolDeps) (int, error) {
	return syncPools(ctx, s, g, inv, nodes, results, deps, true)
}

func syncPools(ctx context.Context, s *ui.Streams, g *globalOptions, inv *inventory.Inventory, nodes []*inventory.Node, results []provision.Result, deps *poolDeps, dry bool) (int, error) {
	converged := map[string]bool{}
	var done []string
	for _, r := range results {
		switch {
		case r.Failed():
		case !dry:
			converged[r.Host] = true
			done = append(done, r.Host)
		case r.Changed == 0:
			converged[r.Host] = true
		}
	}
	// One read and one write of the file for the whole run: once per
	// host, 200 hosts cost 200 rewrites of a 200-entry file.
	recordConverge(inv, time.Now(), done...)
	return syncGroups(ctx, s, g, inv, nodes, func(n *inventory.Node) bool { return converged[n.Name] }, deps, dry)
}

// syncGroups syncs the pool of every group among nodes with those of its
// bbb nodes that include admits (pool.Sync with the gate), reporting each
// change. It returns how many changes are pending (a node the gate
// leaves out is reported, not counted) and fails when a pool cannot be
// reached or a node was left out other than by an operator's drain.
func syncGroups(ctx context.Context, s *ui.Streams, g *globalOptions, inv *inventory.Inventory, nodes []*inventory.Node, include func(*inventory.Node) bool, deps *poolDeps, dry bool) (int, error) {
	pending := 0
	byGroup, order := fleet.GroupNodes(nodes)
	red := runRedactor(ctx, poolSecrets(inv)...)
	var problems []string
	for _, name := range order {
		grp := inv.Group(name)
		if grp.Pool == nil {
			continue
		}
		var want []string
		for _, n := range byGroup[name] {
			if include(n) && slices.Contains(n.Roles, roles.RoleBBB) {
				want = append(want, n.Name)
			}
		}
		if len(want) == 0 {
			continue
		}
		fp, err := openPool(ctx, s, inv, grp, deps, red)
		if err != nil {
			problems = append(problems, fmt.Sprintf("pool %s: %s", name, red.String(err.Error())))
			continue
		}
		var ms []pool.Member
		for _, m := range fp.members {
			if slices.Contains(want, m.Node) {
				ms = append(ms, m)
			}
		}
		rep, err := pool.Sync(ctx, fp.api, ms, pool.SyncOptions{Gate: fp.gate, Holds: fp.holds, DryRun: dry})
		fp.close()
		if rep != nil {
			reportChanges(s, g, red, name, rep.Changes)
			held := rep.Held()
			pending += rep.Pending()
			for _, h := range held {
				if _, operator := fp.holds.Held(h.Node); !operator && !dry {
					problems = append(problems, fmt.Sprintf("%s not enabled in pool %s: %s", h.Node, name, red.String(h.Detail)))
				}
			}
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("pool %s: %s", name, red.String(err.Error())))
		}
	}
	if len(problems) > 0 {
		return pending, &exitError{Code: ExitError, Err: errors.New(strings.Join(problems, "\n"))}
	}
	return pending, nil
}

// poolEvent is one pool change as a JSON line (version 1).
type poolEvent struct {
	V      int    `json:"v"`
	Type   string `json:"type"` // "pool"
	Pool   string `json:"pool"` // the group
	Node   string `json:"node"`
	Action string `json:"action"`
	Detail string `json:"detail,omitempty"`
}

// reportChanges tells what a pool operation did: lines on stderr, or JSON
// lines on stdout with -o json.
func reportChanges(s *ui.Streams, g *globalOptions, red *redact.Redactor, group string, cs []pool.Change) {
	for _, c := range cs {
		reportChange(s, g, red, group, c)
	}
}

var reportMu sync.Mutex

func reportChange(s *ui.Streams, g *globalOptions, red *redact.Redactor, group string, c pool.Change) {
	reportMu.Lock()
	defer reportMu.Unlock()
	detail := red.String(c.Detail)
	if g.json() {
		_ = g.jsonOut(s).Write(poolEvent{V: 1, Type: "pool", Pool: group, Node: c.Node, Action: c.Action, Detail: detail})
		return
	}
	fmt.Fprintf(s.Err, "%s: pool %s: %s %s\n", c.Node, group, c.Action, detail)
}

// openRunLogFor starts the debug log of a pool command.
func openRunLogFor(s *ui.Streams, red *redact.Redactor, command string) (func(msg string, args ...any), string, func()) {
	log, path, closeFn := openRunLog(s, red, command)
	return func(msg string, args ...any) { log.Info(msg, args...) }, path, closeFn
}

// machinesOf lists a group's machines by node name.
func machinesOf(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, g *inventory.Group, deps *poolDeps) (providers.Provider, map[string]providers.Machine, error) {
	p, err := deps.provider(s, g)
	if err != nil {
		return nil, nil, fmt.Errorf("group %s: %w", g.Name, err)
	}
	ms, err := p.List(ctx, inv, g)
	if err != nil {
		return nil, nil, fmt.Errorf("group %s: listing machines: %w", g.Name, err)
	}
	out := map[string]providers.Machine{}
	for _, m := range ms {
		out[m.Name] = m
	}
	return p, out, nil
}
