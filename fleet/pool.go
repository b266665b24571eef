package fleet

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/omc-coop/omc/internal/event"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/bbbapi"
	"github.com/omc-coop/omc/pool/scalelite"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/provision/roles"
	"github.com/omc-coop/omc/remote"
)

// PoolDeps are what the pool commands (status, drain, enable, remove,
// upgrade, scale, tenant, and the pool step of up) reach outside omc.
// The zero value is the real world; tests replace single fields.
type PoolDeps struct {
	// HTTP talks to Scalelite and to the nodes' BBB APIs (default: 30 s
	// timeout, system roots).
	HTTP *http.Client
	// Provider returns a group's provider (default: NewProvider, its
	// lines and waits to ProviderEvents).
	Provider func(g *inventory.Group) (providers.Provider, error)
	// Converge converges nodes on their machines as omc up does, and
	// returns the nodes it failed on (default: the engine over SSH,
	// its events to Observer).
	Converge func(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, machines map[string]providers.Machine) map[string]error
	// Poll is how often a drain asks Scalelite (default 10 s).
	Poll time.Duration
	// EndWait bounds a forced drain's wait for the node's meetings to go
	// after BBB's end (default 2 min).
	EndWait time.Duration
	// StartWait bounds how long up's pool sync waits for a Scalelite it
	// just converged to answer (default 3 min; its first start makes and
	// migrates the database).
	StartWait time.Duration
	// Exec runs a script on a node's machine (default: over SSH, as omc
	// up reaches it); the gate reads a hidden BBB release with it.
	Exec NodeExec
	// STUN answers the TURN check (default: a STUN binding request over UDP).
	STUN func(ctx context.Context, addr string) error
	// RakeDocker is the docker command on the Scalelite host for
	// api: rake (default: docker, from the host's PATH).
	RakeDocker string
	// Transport reaches the nodes over SSH (converge, Exec, rake).
	Transport Transport

	// How the pool operations report; nothing here prints.

	// Version is omc's, sent by the cloud providers as user agent.
	Version string
	// ProviderEvents gets the providers' lines and waits for SSH.
	ProviderEvents func(providers.Event)
	// Observer gets the engine's events while nodes converge.
	Observer provision.Observer
	// OnNewKey is told each host key recorded on first contact.
	OnNewKey func(name, keyType, fingerprint, path string)
	// Change gets each pool change, its detail masked.
	Change func(event.Pool)
}

// DefaultPoolHTTP is the one client of a command's Scalelite and BBB
// calls (keep-alive, bbbapi.NewHTTPClient).
var DefaultPoolHTTP = bbbapi.NewHTTPClient(30 * time.Second)

// Client is the HTTP client of Scalelite's and the nodes' calls.
func (d *PoolDeps) Client() *http.Client {
	if d != nil && d.HTTP != nil {
		return d.HTTP
	}
	return DefaultPoolHTTP
}

// ProviderFor opens group g's provider.
func (d *PoolDeps) ProviderFor(g *inventory.Group) (providers.Provider, error) {
	if d != nil && d.Provider != nil {
		return d.Provider(g)
	}
	var o ProviderOptions
	if d != nil {
		o = ProviderOptions{Version: d.Version, Events: d.ProviderEvents}
	}
	return NewProvider(g.Provider, o)
}

// PollEvery is how often a drain asks Scalelite.
func (d *PoolDeps) PollEvery() time.Duration {
	if d != nil && d.Poll > 0 {
		return d.Poll
	}
	return 10 * time.Second
}

// EndWaitFor bounds a forced drain's wait after BBB's end.
func (d *PoolDeps) EndWaitFor() time.Duration {
	if d != nil && d.EndWait > 0 {
		return d.EndWait
	}
	return 2 * time.Minute
}

// Executor runs scripts on nodes' machines.
func (d *PoolDeps) Executor() NodeExec {
	if d != nil && d.Exec != nil {
		return d.Exec
	}
	if d != nil {
		return d.Transport.Exec
	}
	return Transport{}.Exec
}

// ConvergeNodes converges nodes as omc up does and returns the nodes
// it failed on.
func (d *PoolDeps) ConvergeNodes(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, machines map[string]providers.Machine) map[string]error {
	if d != nil && d.Converge != nil {
		return d.Converge(ctx, inv, nodes, machines)
	}
	return convergeOver(ctx, d, inv, nodes, machines)
}

// Pool is one group's pool, opened: its Scalelite, its members as the
// inventory says, the gate they pass, and the operator's holds.
type Pool struct {
	Inv     *inventory.Inventory
	Group   *inventory.Group
	Nodes   []*inventory.Node // the group's bbb nodes, in inventory order
	Members []pool.Member
	API     pool.Pool // what it learns (secrets) is masked in its errors
	Gate    *pool.Gate
	Holds   pool.FileHolds
	Red     *redact.Redactor
	Close   func()
}

// Member returns the member of node name.
func (fp *Pool) Member(name string) (pool.Member, bool) {
	for _, m := range fp.Members {
		if m.Node == name {
			return m, true
		}
	}
	return pool.Member{}, false
}

// PoolGroups returns the groups named by targets (groups, or nodes whose
// group it is; none = every group) that have a pool.
func PoolGroups(inv *inventory.Inventory, targets []string) ([]*inventory.Group, error) {
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
			return nil, usageErrorf("no group of %s has a pool (groups.NAME.pool)", inv.Path)
		}
		return out, nil
	}
	nodes, err := inv.Select(targets, nil)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	for _, t := range targets {
		if g := inv.Group(t); g != nil {
			if g.Pool == nil {
				return nil, usageErrorf("group %s has no pool (groups.%s.pool)", g.Name, g.Name)
			}
			add(g)
		}
	}
	for _, n := range nodes {
		add(inv.Group(n.Group))
	}
	if len(out) == 0 {
		return nil, usageErrorf("%s: not in a group with a pool", strings.Join(targets, ", "))
	}
	return out, nil
}

// NodeGroup finds the node and its pool group.
func NodeGroup(inv *inventory.Inventory, name string) (*inventory.Node, *inventory.Group, error) {
	for _, n := range inv.Nodes() {
		if n.Name != name {
			continue
		}
		g := inv.Group(n.Group)
		if g.Pool == nil {
			return nil, nil, usageErrorf("node %s: group %s has no pool", name, g.Name)
		}
		if !slices.Contains(n.Roles, roles.RoleBBB) {
			return nil, nil, usageErrorf("node %s is not a bbb node; only bbb nodes serve in a pool", name)
		}
		return n, g, nil
	}
	return nil, nil, usageErrorf("no node named %q in %s", name, inv.Path)
}

// PoolSecrets are every secret the pool commands must mask: the
// inventory's, those the roles derive (BBB API secrets), and the tenant
// secrets stored where the inventory says.
func PoolSecrets(inv *inventory.Inventory) []string {
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

// OpenPool opens group g's pool. The members are its bbb nodes; extra
// nodes (not in the inventory yet: omc scale) may be given.
func OpenPool(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, deps *PoolDeps, red *redact.Redactor, extra ...*inventory.Node) (*Pool, error) {
	cfg := g.Pool
	if !cfg.Secret.IsSet() {
		return nil, &InventoryError{Err: inv.MissingSecrets()}
	}
	fp := &Pool{Inv: inv, Group: g, Red: red, Close: func() {}}
	for _, n := range append(inv.Nodes(), extra...) {
		if n.Group == g.Name && slices.Contains(n.Roles, roles.RoleBBB) {
			fp.Nodes = append(fp.Nodes, n)
		}
	}
	for _, n := range fp.Nodes {
		m, err := MemberOf(inv, g, n)
		if err != nil {
			return nil, err
		}
		red.Add(m.Secret)
		fp.Members = append(fp.Members, m)
	}
	red.Add(cfg.Secret.Value())
	hc := LoggedHTTP(deps.Client(), LogFrom(ctx))
	switch cfg.APIKind() {
	case inventory.PoolRake:
		rp, closeFn, err := OpenRake(ctx, inv, g, deps)
		if err != nil {
			return nil, err
		}
		fp.API, fp.Close = rp, closeFn
	default:
		fp.API = &scalelite.Client{URL: cfg.URL, Secret: cfg.Secret.Value(), Algorithm: cfg.ChecksumAlgorithm(), HTTP: hc}
	}
	fp.API = Masking(fp.API, red)
	fp.Gate = &pool.Gate{HTTP: hc, Checks: HealthChecks(cfg, deps), Version: ReleaseReader(inv, g, fp.Nodes, deps)}
	fp.Holds = pool.FileHolds{Path: filepath.Join(StateDir(), "pools", inv.Name, g.Name+".holds.json")}
	return fp, nil
}

// MemberOf is what the pool registers for node n.
func MemberOf(inv *inventory.Inventory, g *inventory.Group, n *inventory.Node) (pool.Member, error) {
	secret, err := roles.APISecret(inv, n)
	if err != nil {
		return pool.Member{}, &InventoryError{Err: fmt.Errorf("%s:%d:%d: %w", inv.Path, n.Pos.Line, n.Pos.Col, err)}
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

// OpenRake reaches Scalelite's rake tasks over SSH on the node it runs on.
func OpenRake(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, deps *PoolDeps) (pool.Pool, func(), error) {
	host, err := inv.RakeHost(g)
	if err != nil {
		return nil, nil, err
	}
	hg := inv.Group(host.Group)
	p, err := deps.ProviderFor(hg)
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
	var tr Transport
	if deps != nil {
		tr = deps.Transport
	}
	cfg, err := tr.Config(host, *m, &remote.KnownHosts{Path: KnownHostsPath()})
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

// Masking is p keeping the secrets Scalelite returns (each server's BBB
// secret, tenant secrets) out of its errors, with red.
func Masking(p pool.Pool, red *redact.Redactor) pool.Pool {
	return &maskingPool{Pool: p, red: red}
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

// MachinesOf lists a group's machines by node name.
func MachinesOf(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, deps *PoolDeps) (providers.Provider, map[string]providers.Machine, error) {
	p, err := deps.ProviderFor(g)
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
