// Package hcloud is the provider for Hetzner Cloud servers: it rents them
// through the Cloud API (hcloud-go) and hands them to omc to converge over
// SSH.
//
// # Ownership
//
// Every resource omc makes carries the labels omc/inventory=<inventory>,
// omc/group=<group> and, per node, omc/node=<node> and omc/role-<role>=true.
// Servers, primary IPs, firewalls, placement groups and DNS records are
// found by label selector, never by name alone, so servers of another
// inventory or made by hand are never listed, changed or deleted.
//
// # What a group gets
//
//   - the operator's SSH public key, uploaded once (found by fingerprint);
//   - a Cloud Firewall per group, applied by the label selector
//     omc/inventory=X,omc/group=Y so new servers are covered from their
//     first boot, with rules from the nodes' roles (FirewallRules);
//   - a spread placement group when the group says spread: true;
//   - per node a primary IPv4 and IPv6 with auto_delete off, so a node
//     keeps its address (and DNS) across rebuilds and re-creation;
//   - per node, when the group names a dns_zone, A and AAAA records for
//     the node's domain in that zone (the zone itself is not created).
//   - for a pool's tenants (SyncAliases), records carrying the pool
//     domain's addresses, labelled omc/alias=true.
//
// # Host keys
//
// Host keys are not learned by trust: omc makes an ed25519 host key per
// node, keeps it in <StateDir>/hostkeys/<inventory>/<node> (0600), hands it
// to the server through cloud-init user data and returns its public half
// in Machine.HostKeys, so the first SSH connection is already verified.
// Rebuild hands the same key to the fresh image. The user data therefore
// holds a private key: it is readable by the server itself (metadata
// service) and by whoever holds the API token, as the server's disk is.
//
// # Token and endpoint
//
// The token comes from the group's token secret, else Options.Token, else
// $HCLOUD_TOKEN; the endpoint from Options.Endpoint, else $HCLOUD_ENDPOINT
// (as the hcloud CLI reads it), else the public API. The token never
// appears in an error or a log line.
package hcloud

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

// Labels omc puts on everything it makes.
const (
	LabelInventory  = "omc/inventory"
	LabelGroup      = "omc/group"
	LabelNode       = "omc/node"
	LabelRolePrefix = "omc/role-"
)

// Options configure New. The zero value works with $HCLOUD_TOKEN set,
// except that Create and Rebuild need StateDir.
type Options struct {
	// Token is the API token when the group names none; default $HCLOUD_TOKEN.
	Token string
	// Endpoint is the API base URL; default $HCLOUD_ENDPOINT, else
	// https://api.hetzner.cloud/v1.
	Endpoint string
	// StateDir keeps the host keys omc makes (hostkeys/<inventory>/<node>).
	StateDir string
	// Stderr gets one line per change; nil discards them.
	Stderr io.Writer
	// PollInterval is how often running actions are polled; default 1s.
	PollInterval time.Duration

	// Version goes into the User-Agent; default "dev".
	Version string
	// PublicKey is the operator's SSH public key (authorized_keys form);
	// default the node's ssh.key (its .pub), else ~/.ssh/id_{ed25519,ecdsa,rsa}.pub.
	PublicKey string
	// WaitSSH waits until SSH answers at addr ("ip:22"); default dials
	// until the server sends an SSH banner, for at most SSHTimeout.
	WaitSSH func(ctx context.Context, addr string) error
	// SSHTimeout bounds the default WaitSSH; default 5 minutes.
	SSHTimeout time.Duration
	// Events gets every line written to Stderr and each node's wait for
	// SSH as it goes (providers.WaitSSH), every ProgressEvery (default
	// providers.DefaultProgressEvery); nil drops them. Now is the clock
	// the waits are timed with (default time.Now).
	Events        func(providers.Event)
	ProgressEvery time.Duration
	Now           func() time.Time
	// Parallel bounds how many servers are made at once; default 8.
	Parallel int
	// MaxRetries and RetryBackoff bound hcloud-go's retries of
	// rate_limit_exceeded, conflict and gateway errors: exponential from
	// RetryBackoff (default 1s), capped at a minute, at most MaxRetries
	// (default 5) times.
	MaxRetries   int
	RetryBackoff time.Duration
	// LockedRetries, LockedBackoff and LockedMaxWait bound how omc waits
	// out 423 locked (another action is still running on the resource),
	// which hcloud-go does not retry: at most LockedRetries (default 8)
	// more tries, LockedBackoff(n) before try n+1 (default doubling from
	// RetryBackoff, at most 15s each), at most LockedMaxWait (default 2
	// minutes) in all.
	LockedRetries int
	LockedBackoff func(attempt int) time.Duration
	LockedMaxWait time.Duration
}

// Provider serves groups with provider: hcloud.
type Provider struct {
	opts Options

	mu      sync.Mutex
	clients map[[32]byte]*api

	logMu sync.Mutex
}

var _ providers.Provider = (*Provider)(nil)

// New returns a provider; it contacts nothing yet.
func New(opts Options) *Provider {
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.SSHTimeout <= 0 {
		opts.SSHTimeout = 5 * time.Minute
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 5
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = time.Second
	}
	if opts.LockedRetries <= 0 {
		opts.LockedRetries = 8
	}
	if opts.LockedBackoff == nil {
		opts.LockedBackoff = lockedBackoff(opts.RetryBackoff, 15*time.Second)
	}
	if opts.LockedMaxWait <= 0 {
		opts.LockedMaxWait = 2 * time.Minute
	}
	if opts.WaitSSH == nil {
		timeout := opts.SSHTimeout
		opts.WaitSSH = func(ctx context.Context, addr string) error { return waitSSH(ctx, addr, timeout) }
	}
	return &Provider{opts: opts, clients: map[[32]byte]*api{}}
}

// api is a client for one token, with the token kept for masking.
type api struct {
	c     *hcloud.Client
	token string
}

// client returns the API client for group g's token.
func (p *Provider) client(g *inventory.Group) (*api, error) {
	token, source := p.opts.Token, "Options.Token"
	if g.Token != nil && g.Token.IsSet() {
		token, source = g.Token.Value(), "groups."+g.Name+".token ("+g.Token.Ref+")"
	} else if token == "" {
		token, source = os.Getenv("HCLOUD_TOKEN"), "HCLOUD_TOKEN"
	}
	if token == "" {
		return nil, fmt.Errorf("hcloud group %s: no API token: set HCLOUD_TOKEN or the group's token (env:NAME or file:PATH)", g.Name)
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return nil, fmt.Errorf("hcloud group %s: the API token from %s contains white space", g.Name, source)
	}
	key := sha256.Sum256([]byte(token))
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.clients[key]; a != nil {
		return a, nil
	}
	endpoint := cmp.Or(p.opts.Endpoint, os.Getenv("HCLOUD_ENDPOINT"), hcloud.Endpoint)
	transport := &lockedRetry{
		next: http.DefaultTransport, retries: p.opts.LockedRetries,
		backoff: p.opts.LockedBackoff, maxWait: p.opts.LockedMaxWait,
		log: func(method, path string, wait time.Duration) {
			p.logf(nil, "%s %s: locked (another action is running on it); trying again in %s", method, path, wait)
		},
	}
	c := hcloud.NewClient(
		hcloud.WithHTTPClient(&http.Client{Transport: transport}),
		hcloud.WithToken(token),
		hcloud.WithEndpoint(endpoint),
		hcloud.WithApplication("omc", p.opts.Version),
		hcloud.WithPollOpts(hcloud.PollOpts{BackoffFunc: hcloud.ConstantBackoff(p.opts.PollInterval)}),
		hcloud.WithRetryOpts(hcloud.RetryOpts{
			BackoffFunc: hcloud.ExponentialBackoffWithOpts(hcloud.ExponentialBackoffOpts{
				Base: p.opts.RetryBackoff, Multiplier: 2, Cap: time.Minute, Jitter: true,
			}),
			MaxRetries: p.opts.MaxRetries,
		}),
	)
	a := &api{c: c, token: token}
	p.clients[key] = a
	return a, nil
}

// Error is an API failure with what omc was doing; its message never
// holds the token.
type Error struct {
	msg string
	err error
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.err }

// wrap describes err and masks the token in the result.
func (a *api) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var inner *Error
	desc := err.Error()
	switch {
	case errors.As(err, &inner):
		desc = inner.msg
	case hcloud.IsError(err, hcloud.ErrorCodeUnauthorized):
		desc = "the Hetzner Cloud API rejected the token (unauthorized): check HCLOUD_TOKEN or the group's token"
	case hcloud.IsError(err, hcloud.ErrorCodeForbidden), hcloud.IsError(err, hcloud.ErrorCodeTokenReadonly):
		desc = "the token may not do this (" + err.Error() + "): omc needs a read & write token"
	case hcloud.IsError(err, hcloud.ErrorCodeLocked):
		desc = "another action was still running on it after omc waited (" + err.Error() + "): run again once it has finished"
	case hcloud.IsError(err, hcloud.ErrorCodeRateLimitExceeded):
		desc = "the Hetzner Cloud API still refused after backing off (rate_limit_exceeded): wait a minute and run again"
	}
	msg := fmt.Sprintf(format, args...) + ": " + desc
	if a.token != "" {
		msg = strings.ReplaceAll(msg, a.token, "***")
	}
	return &Error{msg: msg, err: err}
}

func (p *Provider) logf(a *api, format string, args ...any) {
	msg := fmt.Sprintf("hcloud: "+format, args...)
	if a != nil && a.token != "" {
		msg = strings.ReplaceAll(msg, a.token, "***")
	}
	p.logMu.Lock()
	defer p.logMu.Unlock()
	fmt.Fprintln(p.opts.Stderr, msg)
	if p.opts.Events != nil {
		p.opts.Events(providers.Event{Provider: "hcloud", Phase: "log", Message: msg})
	}
}

// waitSSH waits for node's SSH at addr, reporting its progress.
func (p *Provider) waitSSH(ctx context.Context, node, addr string) error {
	return providers.WaitSSH(ctx, providers.Event{Provider: "hcloud", Node: node}, p.opts.Events, p.opts.ProgressEvery, p.opts.Now,
		func(ctx context.Context) error { return p.opts.WaitSSH(ctx, addr) })
}

func groupLabels(inv *inventory.Inventory, g *inventory.Group) map[string]string {
	return map[string]string{LabelInventory: inv.Name, LabelGroup: g.Name}
}

// nodeLabels are the labels of a node's server, primary IPs and records.
func nodeLabels(inv *inventory.Inventory, g *inventory.Group, node string, roles []string) map[string]string {
	l := groupLabels(inv, g)
	l[LabelNode] = node
	for _, r := range roles {
		l[LabelRolePrefix+r] = "true"
	}
	return l
}

// GroupSelector selects everything omc made for group g of inv.
func GroupSelector(inv *inventory.Inventory, g *inventory.Group) string {
	return LabelInventory + "=" + inv.Name + "," + LabelGroup + "=" + g.Name
}

func nodeSelector(inv *inventory.Inventory, g *inventory.Group, node string) string {
	return GroupSelector(inv, g) + "," + LabelNode + "=" + node
}

// servers returns the group's servers by node name.
func (a *api) servers(ctx context.Context, inv *inventory.Inventory, g *inventory.Group) (map[string]*hcloud.Server, error) {
	ss, err := a.c.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: GroupSelector(inv, g)}})
	if err != nil {
		return nil, a.wrap(err, "listing the servers of group %s", g.Name)
	}
	out := map[string]*hcloud.Server{}
	for _, s := range ss {
		if n := s.Labels[LabelNode]; n != "" {
			out[n] = s
		}
	}
	return out, nil
}

// List returns the group's servers that carry this inventory's labels.
func (p *Provider) List(ctx context.Context, inv *inventory.Inventory, g *inventory.Group) ([]providers.Machine, error) {
	a, err := p.client(g)
	if err != nil {
		return nil, err
	}
	ss, err := a.servers(ctx, inv, g)
	if err != nil {
		return nil, err
	}
	var ms []providers.Machine
	for name, s := range ss {
		ms = append(ms, p.machine(inv, name, s))
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	return ms, nil
}

// machine describes a server; the host key is the one omc made, when
// this machine's state dir has it.
func (p *Provider) machine(inv *inventory.Inventory, name string, s *hcloud.Server) providers.Machine {
	m := providers.Machine{Name: name, ID: strconv.FormatInt(s.ID, 10), Status: string(s.Status)}
	switch {
	case !s.PublicNet.IPv4.IsUnspecified():
		m.Address = s.PublicNet.IPv4.IP.String()
	case !s.PublicNet.IPv6.IsUnspecified():
		m.Address = ipv6Host(s.PublicNet.IPv6.Network)
	}
	if pub, err := p.readHostKey(inv.Name, name); err == nil {
		m.HostKeys = []string{pub}
	}
	return m
}

// ipv6Host is the address Hetzner routes to a server in its /64: ::1.
func ipv6Host(n *net.IPNet) string {
	if n == nil {
		return ""
	}
	ip := slices.Clone(n.IP.To16())
	ip[15] |= 1
	return ip.String()
}
