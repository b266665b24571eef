// Package robot is the provider for Hetzner dedicated servers, through
// omc's own small client of the Robot webservice (Client).
//
// # Nodes
//
// A robot node is either a claimed server, named by its Robot server
// number (server: 321), or an order (order: {product: EX44} or
// order: {market: ID}, per node or for the group's counted nodes).
//
//   - A claimed server is used as it is, at the address Robot gives for
//     its number. omc never orders, cancels or reinstalls it on `up`;
//     `omc rebuild` reinstalls it (that is what rebuild is for).
//   - An order is placed only when the run allows it (Options.AllowOrder,
//     or AllowOrders on the context: `omc up --allow-order`), after the
//     price is shown. Without that, Create fails and says what the order
//     would cost. The order is placed with a fresh SSH key made for it;
//     the key's fingerprint and then the transaction id are written to the
//     state file before anything else happens, so an interrupted run finds
//     its order again (by transaction id, or by the key among the last 30
//     days' transactions) and never orders twice. Create then waits,
//     bounded by OrderTimeout, until the transaction is ready; a later run
//     picks up where this one stopped.
//
// # Installing
//
// A server omc ordered, and any server on `omc rebuild`, is made a clean
// host: the operator's key is stored in Robot, the rescue system is
// activated with it, the server is reset into rescue, and over SSH in
// rescue installimage puts Ubuntu 22.04 on the disks with the host key omc
// made for the node (kept in <StateDir>/hostkeys/<inventory>/<node>), then
// the server reboots. The first connection to the installed system is
// therefore verified. The SSH part is behind Installer; SSHInstaller is
// the real one.
//
// # Ownership
//
// Robot has no labels. omc's state (<StateDir>/robot/<inventory>.json)
// records the transaction and server number of each node omc ordered;
// together with the server numbers named in the inventory these are the
// only servers this provider ever resets, reinstalls or cancels. Every
// other server of the account is left alone.
//
// # Cancelling
//
// Delete never cancels anything unless the run asks for it
// (Options.AllowCancel, or AllowCancels on the context: `omc down --cancel
// --yes`), and then only servers omc ordered, at the earliest date Robot
// allows. Claimed servers are never cancelled.
//
// # Credentials and endpoint
//
// The webservice user and password come from the group's robot_user and
// robot_password references, else Options.User/Password, else $ROBOT_USER
// and $ROBOT_PASSWORD; never from flags. They appear in no output, log or
// error. The endpoint is Options.Endpoint, else $ROBOT_ENDPOINT, else
// https://robot-ws.your-server.de.
package robot

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

// Options configure New.
type Options struct {
	// User and Password are used when the group names none; default
	// $ROBOT_USER and $ROBOT_PASSWORD.
	User, Password string
	// Endpoint is the webservice; default $ROBOT_ENDPOINT, else DefaultEndpoint.
	Endpoint string
	// StateDir keeps orders, per-order keys and host keys (required for
	// anything but List of claimed servers).
	StateDir string
	// Stderr gets one line per step; nil discards them.
	Stderr io.Writer
	// Version goes into the User-Agent.
	Version string

	// AllowOrder lets Create place orders (they cost money).
	AllowOrder bool
	// AllowCancel lets Delete cancel servers omc ordered.
	AllowCancel bool

	// PublicKey is the operator's SSH public key (authorized_keys form),
	// put on rescue and on the installed system; default the node's
	// ssh.key (.pub), else ~/.ssh/id_{ed25519,ecdsa,rsa}.pub.
	PublicKey string
	// Installer runs installimage in rescue; default SSHInstaller.
	Installer Installer
	// WaitSSH waits until an SSH server answers at addr, and when
	// hostKeys are given, until it proves it holds one of them; default
	// dials for at most SSHTimeout (default 15 minutes: a dedicated
	// server's reset and install are slow).
	WaitSSH    func(ctx context.Context, addr string, hostKeys []string) error
	SSHTimeout time.Duration
	// Events gets every line written to Stderr and each wait for SSH as
	// it goes (providers.WaitSSH), every ProgressEvery (default
	// providers.DefaultProgressEvery); nil drops them. Now times the
	// waits (default time.Now).
	Events        func(providers.Event)
	ProgressEvery time.Duration
	Now           func() time.Time
	// SSHPort is the port of the rescue and the fresh system (default 22;
	// tests point it at a local sshd).
	SSHPort int
	// ResetSettle is how long to wait after a reset before looking for
	// the rescue system (default 20s), so the old system going down is
	// not mistaken for it; negative: no wait.
	ResetSettle time.Duration

	// PollInterval is how often an order is polled (default 30s);
	// OrderTimeout bounds the wait for an order in one run (default 30
	// minutes; the order stays recorded and the next run waits again).
	PollInterval time.Duration
	OrderTimeout time.Duration
	// MaxRetries and RetryBackoff bound the retries of RATE_LIMIT_EXCEEDED
	// (default 4, from 2s doubling to at most a minute).
	MaxRetries   int
	RetryBackoff time.Duration
	// OnRequest, when set, is told of every request sent (tests count them).
	OnRequest func(method, path string)
	// RetrySleep, when set, replaces the wait between retries (see
	// Client.Sleep).
	RetrySleep func(ctx context.Context, d time.Duration) error
}

// Provider serves groups with provider: robot.
type Provider struct {
	opts Options

	mu      sync.Mutex
	clients map[[32]byte]*Client
	logMu   sync.Mutex
}

var _ providers.Provider = (*Provider)(nil)

// New returns a provider; it contacts nothing yet.
func New(opts Options) *Provider {
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	if opts.SSHTimeout <= 0 {
		opts.SSHTimeout = 15 * time.Minute
	}
	if opts.SSHPort == 0 {
		opts.SSHPort = 22
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 30 * time.Second
	}
	if opts.OrderTimeout <= 0 {
		opts.OrderTimeout = 30 * time.Minute
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 4
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = 2 * time.Second
	}
	if opts.ResetSettle == 0 {
		opts.ResetSettle = 20 * time.Second
	}
	if opts.Installer == nil {
		opts.Installer = &SSHInstaller{}
	}
	if opts.WaitSSH == nil {
		timeout := opts.SSHTimeout
		opts.WaitSSH = func(ctx context.Context, addr string, hostKeys []string) error {
			return waitSSH(ctx, addr, hostKeys, timeout)
		}
	}
	return &Provider{opts: opts, clients: map[[32]byte]*Client{}}
}

type ctxKey int

const (
	allowOrderKey ctxKey = iota
	allowCancelKey
)

// AllowOrders returns a context in which Create may place orders: the
// command line's --allow-order.
func AllowOrders(ctx context.Context) context.Context {
	return context.WithValue(ctx, allowOrderKey, true)
}

// AllowCancels returns a context in which Delete may cancel servers omc
// ordered: the command line's --cancel (with --yes).
func AllowCancels(ctx context.Context) context.Context {
	return context.WithValue(ctx, allowCancelKey, true)
}

func (p *Provider) mayOrder(ctx context.Context) bool {
	return p.opts.AllowOrder || ctx.Value(allowOrderKey) == true
}

func (p *Provider) mayCancel(ctx context.Context) bool {
	return p.opts.AllowCancel || ctx.Value(allowCancelKey) == true
}

// credential picks one credential: the group's reference, else the
// option, else the environment variable.
func credential(g *inventory.Group, ref *inventory.Secret, field, opt, env string) (string, error) {
	if ref != nil {
		if !ref.IsSet() {
			return "", fmt.Errorf("robot group %s: %s (%s) is not set", g.Name, field, ref.Ref)
		}
		return ref.Value(), nil
	}
	return cmp.Or(opt, os.Getenv(env)), nil
}

// client returns the webservice client for group g's credentials.
func (p *Provider) client(g *inventory.Group) (*Client, error) {
	user, err := credential(g, g.RobotUser, "robot_user", p.opts.User, "ROBOT_USER")
	if err != nil {
		return nil, err
	}
	password, err := credential(g, g.RobotPassword, "robot_password", p.opts.Password, "ROBOT_PASSWORD")
	if err != nil {
		return nil, err
	}
	if user == "" || password == "" {
		return nil, fmt.Errorf("robot group %s: no webservice credentials: set ROBOT_USER and ROBOT_PASSWORD, or the group's robot_user and robot_password (env:NAME or file:PATH)", g.Name)
	}
	if strings.ContainsAny(user+password, "\r\n") {
		return nil, fmt.Errorf("robot group %s: the webservice user or password contains a line break", g.Name)
	}
	key := sha256.Sum256([]byte(user + "\x00" + password))
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.clients[key]; c != nil {
		return c, nil
	}
	c, err := NewClient(cmp.Or(p.opts.Endpoint, os.Getenv("ROBOT_ENDPOINT")), user, password, p.opts.Version)
	if err != nil {
		return nil, err
	}
	c.MaxRetries, c.Backoff, c.OnRequest, c.Sleep = p.opts.MaxRetries, p.opts.RetryBackoff, p.opts.OnRequest, p.opts.RetrySleep
	p.clients[key] = c
	return c, nil
}

func (p *Provider) logf(format string, args ...any) {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	msg := fmt.Sprintf("robot: "+format, args...)
	fmt.Fprintln(p.opts.Stderr, msg)
	if p.opts.Events != nil {
		p.opts.Events(providers.Event{Provider: "robot", Phase: "log", Message: msg})
	}
}

// waitSSH waits for node's SSH at addr (rescue or installed system),
// reporting its progress.
func (p *Provider) waitSSH(ctx context.Context, node, addr string, hostKeys []string) error {
	return providers.WaitSSH(ctx, providers.Event{Provider: "robot", Node: node}, p.opts.Events, p.opts.ProgressEvery, p.opts.Now,
		func(ctx context.Context) error { return p.opts.WaitSSH(ctx, addr, hostKeys) })
}

// mask removes c's credentials from err's text, should a server ever echo
// them back.
func (c *Client) mask(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	masked := msg
	for _, s := range []string{c.password, c.user} {
		if len(s) >= 3 {
			masked = strings.ReplaceAll(masked, s, "***")
		}
	}
	if masked == msg {
		return err
	}
	return &maskedError{msg: masked, err: err}
}

type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

var errNoState = errors.New("robot provider: no state dir to keep orders and host keys in")
