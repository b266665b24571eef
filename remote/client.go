// Package remote is omc's SSH transport.
//
// A run uses one connection per host (Dial), one persistent shell on it
// for every script (Client.Shell, Shell.Run), a lock held by that shell
// (Client.Lock), and SFTP on the same connection for files
// (Client.ReadFile, Client.WriteFile). A no-op run over a host therefore
// costs one SSH handshake and one exec; Stats counts both so benchmarks
// can assert it.
//
// Host keys are always verified: against keys pinned in the Config, or
// against omc's own known-hosts file, which records a host's key on first
// contact and refuses a changed key with a *HostKeyError.
package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Config says how to reach one host.
type Config struct {
	Name    string // node name, used in errors
	Address string // IP or DNS name
	Port    int    // default 22
	User    string // default: the local user
	// KeyFile is an optional private key (~ expanded). When SSH_AUTH_SOCK
	// is set, the agent's keys are tried too, after this one, and a
	// KeyFile that does not exist is passed over (an agent-only setup).
	KeyFile string
	// IdentityFiles are more private keys, tried after KeyFile; like ssh,
	// Dial passes over those that do not exist (they come from
	// ~/.ssh/config's IdentityFile lines).
	IdentityFiles []string
	// Bastion, when set, is a jump host: the connection to this host is a
	// direct-tcpip channel through an SSH connection to the bastion. The
	// bastion may have its own Bastion: a chain of jump hosts (ssh's
	// ProxyJump a,b is b with Bastion a), each one's key verified.
	Bastion *Config
	// HostKeys pins the host's keys (authorized_keys form). When set, only
	// these are accepted and nothing is recorded.
	HostKeys []string
	// KnownHosts is omc's known-hosts store; required unless HostKeys is set.
	KnownHosts *KnownHosts
	// RefuseNew fails the first contact with a host KnownHosts has no key
	// for, instead of recording the key it presents.
	RefuseNew bool
	// OnNewKey is told each key recorded on first contact, so the user
	// sees what was trusted (type, SHA256 fingerprint, known-hosts file).
	OnNewKey func(name, keyType, fingerprint, path string)
	// Sudo runs the shell and the sftp-server through `sudo -n`.
	Sudo bool
	// Timeout bounds the TCP connect plus the SSH handshake (default 15s).
	Timeout time.Duration
	// LockPath is the host's lock file (default /run/omc/lock). Every run
	// against a host must use the same one; only tests that run several
	// sshd on one machine, each standing for a host, set it.
	LockPath string
	// KeepaliveInterval and KeepaliveCount: a keepalive request goes out
	// every KeepaliveInterval (default 5s); when KeepaliveCount intervals
	// (default 6) pass without its answer, the connection is taken for
	// dead and closed, so a link that died silently fails the run within
	// about half a minute instead of hanging it.
	KeepaliveInterval time.Duration
	KeepaliveCount    int
}

// Stats counts what a Client cost the host.
type Stats struct {
	Dials int // SSH connections made (a bastion's included)
	Execs int // sessions started: the shell, the sftp subsystem
}

// Client is one SSH connection to a host. It is used by one goroutine at a
// time, except Stats and Close, which may be called at any time.
type Client struct {
	cfg     Config
	name    string
	addr    string
	conn    *ssh.Client
	bastion *Client

	dials, execs atomic.Int64
	closed       atomic.Bool
	stop         chan struct{}         // closed by Close: ends the keepalive
	lost         atomic.Pointer[error] // why the keepalive closed the connection

	mu       sync.Mutex // guards the fields below
	shell    *Shell
	sftp     *sftp.Client
	sftpSess *ssh.Session
	sftpPath string // sftp-server binary, found once when Sudo
	locked   bool
}

// ErrClosed is returned by a Client's methods after Close.
var ErrClosed = errors.New("remote: connection closed")

// Dial connects and authenticates to the host, verifying its key.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg = withDefaults(cfg)
	addr := hostPort(cfg.Address, cfg.Port)
	c := &Client{cfg: cfg, name: cfg.Name, addr: addr, stop: make(chan struct{})}

	hk, err := newHostKeyCheck(cfg, addr)
	if err != nil {
		return nil, err
	}
	auth, err := newAuth(cfg, addr)
	if err != nil {
		return nil, err
	}
	defer auth.close()

	var nc net.Conn
	via := ""
	if cfg.Bastion != nil {
		b := *cfg.Bastion
		if b.Timeout == 0 {
			b.Timeout = cfg.Timeout
		}
		if c.bastion, err = Dial(ctx, b); err != nil {
			return nil, err
		}
		via = c.bastion.name
		dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		nc, err = c.bastion.conn.DialContext(dctx, "tcp", addr)
		cancel()
		if err != nil {
			c.bastion.Close()
			de := &DialError{Host: c.name, Address: addr, Via: via, Op: "connect", Err: err}
			if ctx.Err() != nil {
				de.Err = context.Cause(ctx)
			} else if errors.Is(err, context.DeadlineExceeded) {
				de.Timeout = cfg.Timeout
			}
			return nil, de
		}
	} else {
		d := net.Dialer{Timeout: cfg.Timeout}
		if nc, err = d.DialContext(ctx, "tcp", addr); err != nil {
			de := &DialError{Host: c.name, Address: addr, Op: "connect", Err: err}
			var ne net.Error
			if ctx.Err() != nil {
				de.Err = context.Cause(ctx)
			} else if errors.As(err, &ne) && ne.Timeout() {
				de.Timeout = cfg.Timeout
			}
			return nil, de
		}
	}

	// Bound the handshake by Timeout and ctx. Channel connections through a
	// bastion have no deadlines, so close the conn instead.
	var timedOut atomic.Bool
	timer := time.AfterFunc(cfg.Timeout, func() { timedOut.Store(true); nc.Close() })
	stopCtx := context.AfterFunc(ctx, func() { nc.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              auth.methods,
		HostKeyCallback:   hk.check,
		HostKeyAlgorithms: hk.algorithms,
	})
	timer.Stop()
	stopCtx()
	if err != nil {
		nc.Close()
		if c.bastion != nil {
			c.bastion.Close()
		}
		switch {
		case hk.err != nil:
			return nil, hk.err
		case ctx.Err() != nil:
			return nil, &DialError{Host: c.name, Address: addr, Via: via, Op: "handshake", Err: context.Cause(ctx)}
		case timedOut.Load():
			return nil, &DialError{Host: c.name, Address: addr, Via: via, Op: "handshake", Timeout: cfg.Timeout, Err: os.ErrDeadlineExceeded}
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, auth.error(err)
		case hk.restricted && strings.Contains(err.Error(), "no common algorithm for host key"):
			return nil, hk.noCommonType()
		}
		return nil, &DialError{Host: c.name, Address: addr, Via: via, Op: "handshake", Err: err}
	}
	c.conn = ssh.NewClient(sc, chans, reqs)
	c.dials.Add(1)
	go c.keepalive()
	return c, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Port == 0 {
		cfg.Port = 22
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = 5 * time.Second
	}
	if cfg.KeepaliveCount <= 0 {
		cfg.KeepaliveCount = 6
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Address
	}
	if cfg.LockPath == "" {
		cfg.LockPath = DefaultLockPath
	}
	if cfg.User == "" {
		if u, err := user.Current(); err == nil {
			cfg.User = u.Username
		}
	}
	return cfg
}

// Stats returns how many connections and execs this client made.
func (c *Client) Stats() Stats {
	s := Stats{Dials: int(c.dials.Load()), Execs: int(c.execs.Load())}
	if c.bastion != nil {
		b := c.bastion.Stats()
		s.Dials += b.Dials
		s.Execs += b.Execs
	}
	return s
}

// Close ends the connection (and the bastion's). The remote shell exits
// with it, which releases the host's lock. When the lock is held, Close
// first lets the shell exit (bounded to a second), so that the lock is
// free when Close returns.
func (c *Client) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(c.stop)
	c.mu.Lock()
	sh, sc, locked := c.shell, c.sftp, c.locked
	c.mu.Unlock()
	if sh != nil && locked {
		sh.exit(time.Second)
	}
	if sc != nil {
		sc.Close()
	}
	err := c.conn.Close()
	if c.bastion != nil {
		c.bastion.Close()
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// keepalive asks the host for an answer every KeepaliveInterval, one
// request at a time. Any answer will do (OpenSSH refuses the request, and
// says so). When KeepaliveCount intervals pass while one is unanswered,
// it records why and closes the connection: every pending read and write
// then fails, and the errors say the connection stopped answering.
func (c *Client) keepalive() {
	t := time.NewTicker(c.cfg.KeepaliveInterval)
	defer t.Stop()
	answered := make(chan error, 1)
	pending, missed := false, 0
	for {
		select {
		case <-c.stop:
			return
		case err := <-answered:
			if err != nil {
				return // the connection is closed
			}
			pending, missed = false, 0
		case <-t.C:
			if !pending {
				pending = true
				go func() {
					_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
					answered <- err
				}()
				continue
			}
			if missed++; missed < c.cfg.KeepaliveCount {
				continue
			}
			err := error(&LostError{Host: c.name, Address: c.addr, Silent: c.cfg.KeepaliveInterval * time.Duration(missed)})
			c.lost.Store(&err)
			c.conn.Close()
			return
		}
	}
}

// connErr is err, unless the keepalive found the connection dead: then
// that is what the caller needs to hear.
func (c *Client) connErr(err error) error {
	if lost := c.lost.Load(); lost != nil {
		return *lost
	}
	if c.bastion != nil {
		return c.bastion.connErr(err)
	}
	return err
}

// newSession opens a session and counts it.
func (c *Client) newSession() (*ssh.Session, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	s, err := c.conn.NewSession()
	if err != nil {
		return nil, fmt.Errorf("%s: open SSH session: %w", c.name, err)
	}
	return s, nil
}

// hostKeyCheck verifies the server's key for one Dial.
type hostKeyCheck struct {
	cfg        Config
	addr       string
	pinned     []ssh.PublicKey
	known      []knownhosts.KnownKey
	algorithms []string // restricted to the expected key types, if any
	restricted bool
	err        error // the verdict, kept because x/crypto wraps it
}

// Host key algorithms in preference order when nothing is known: ed25519
// first, so that first contact records the key type OpenSSH prefers.
var hostKeyAlgorithms = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

func newHostKeyCheck(cfg Config, addr string) (*hostKeyCheck, error) {
	hk := &hostKeyCheck{cfg: cfg, addr: addr, algorithms: hostKeyAlgorithms}
	var types []string
	switch {
	case len(cfg.HostKeys) > 0:
		for _, s := range cfg.HostKeys {
			k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
			if err != nil {
				return nil, fmt.Errorf("%s: pinned host key %q: %v", cfg.Name, abbrev(s), err)
			}
			hk.pinned = append(hk.pinned, k)
			types = append(types, k.Type())
		}
	case cfg.KnownHosts != nil:
		known, err := cfg.KnownHosts.known(addr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.Name, err)
		}
		hk.known = known
		for _, k := range known {
			types = append(types, k.Key.Type())
		}
	default:
		return nil, fmt.Errorf("%s: no way to verify the host key: set HostKeys or KnownHosts", cfg.Name)
	}
	if len(types) > 0 {
		hk.algorithms, hk.restricted = algorithmsFor(types), true
	}
	return hk, nil
}

// algorithmsFor lists the host key algorithms that use keys of types.
func algorithmsFor(types []string) []string {
	var out []string
	add := func(a ...string) {
		for _, x := range a {
			if !contains(out, x) {
				out = append(out, x)
			}
		}
	}
	for _, t := range types {
		if t == ssh.KeyAlgoRSA {
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		} else {
			add(t)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (hk *hostKeyCheck) check(_ string, _ net.Addr, key ssh.PublicKey) error {
	hk.err = hk.verify(key)
	return hk.err
}

func (hk *hostKeyCheck) verify(key ssh.PublicKey) error {
	e := &HostKeyError{Name: hk.cfg.Name, Host: hk.cfg.Address, Port: hk.cfg.Port,
		Got: ssh.FingerprintSHA256(key), Type: key.Type()}
	if hk.pinned != nil {
		for _, p := range hk.pinned {
			if keysEqual(p, key) {
				return nil
			}
		}
		e.Pinned = true
		return e
	}
	kh := hk.cfg.KnownHosts
	e.Path = kh.path()
	cb, err := kh.callback()
	if err != nil {
		return fmt.Errorf("%s: %w", hk.cfg.Name, err)
	}
	err = cb(hk.addr, fakeAddr(hk.addr), key)
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		e.Revoked, e.Line = true, re.Revoked.Line
		if re.Revoked.Filename != "" {
			e.Path = re.Revoked.Filename
		}
		return e
	case errors.As(err, &ke) && len(ke.Want) == 0:
		if hk.cfg.RefuseNew {
			e.Unknown = true
			return e
		}
		// First contact: record the key and go on.
		added, err := kh.record(hk.addr, key)
		if errors.As(err, &ke) && len(ke.Want) > 0 {
			e.Line = ke.Want[0].Line
			return e
		}
		if err != nil {
			return fmt.Errorf("%s: record host key: %w", hk.cfg.Name, err)
		}
		if added && hk.cfg.OnNewKey != nil {
			hk.cfg.OnNewKey(hk.cfg.Name, key.Type(), e.Got, e.Path)
		}
		return nil
	case errors.As(err, &ke):
		e.Line = ke.Want[0].Line
		if ke.Want[0].Filename != "" && ke.Want[0].Filename != os.DevNull {
			e.Path = ke.Want[0].Filename
		}
		return e
	}
	return fmt.Errorf("%s: check host key: %w", hk.cfg.Name, err)
}

func (hk *hostKeyCheck) noCommonType() error {
	e := &HostKeyError{Name: hk.cfg.Name, Host: hk.cfg.Address, Port: hk.cfg.Port, NoCommonType: true}
	if hk.pinned != nil {
		e.Pinned, e.Got, e.Type = true, "(none)", "no key of the pinned type(s)"
		return e
	}
	e.Path = hk.cfg.KnownHosts.path()
	if len(hk.known) > 0 {
		e.Line = hk.known[0].Line
	}
	return e
}

func keysEqual(a, b ssh.PublicKey) bool {
	return a.Type() == b.Type() && string(a.Marshal()) == string(b.Marshal())
}

func abbrev(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// auth holds the authentication methods of one Dial and what they are,
// for error messages.
type auth struct {
	cfg     Config
	addr    string
	methods []ssh.AuthMethod
	tried   []string
	reason  string
	agent   net.Conn
}

func newAuth(cfg Config, addr string) (*auth, error) {
	a := &auth{cfg: cfg, addr: addr}
	var signers []ssh.Signer
	var protected []ssh.PublicKey // public halves of passphrase-protected keys
	sock := os.Getenv("SSH_AUTH_SOCK")
	files := cfg.IdentityFiles
	if cfg.KeyFile != "" {
		files = append([]string{cfg.KeyFile}, files...)
	}
	for i, f := range files {
		path := expandHome(f)
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) && (i > 0 || cfg.KeyFile == "" || sock != "") {
			a.tried = append(a.tried, fmt.Sprintf("key file %s (absent)", path))
			continue
		}
		if err != nil {
			return nil, a.fail(fmt.Sprintf("cannot read key file: %v", err))
		}
		s, err := parseKey(data)
		var pm *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &pm):
			protected = append(protected, pm.PublicKey)
			a.reason = fmt.Sprintf("key file %s is passphrase-protected; omc does not ask for passphrases: load it into ssh-agent (ssh-add %s) and set SSH_AUTH_SOCK", path, path)
		case err != nil:
			return nil, a.fail(fmt.Sprintf("cannot use key file %s: %v", path, err))
		default:
			signers = append(signers, s)
			a.tried = append(a.tried, fmt.Sprintf("publickey %s %s from %s", s.PublicKey().Type(), ssh.FingerprintSHA256(s.PublicKey()), path))
		}
	}
	fromFiles := slices.Clone(signers)
	if sock != "" {
		conn, err := net.DialTimeout("unix", sock, 2*time.Second)
		if err != nil {
			a.tried = append(a.tried, fmt.Sprintf("ssh-agent (unreachable: %v)", err))
		} else {
			a.agent = conn
			as, err := agent.NewClient(conn).Signers()
			if err != nil {
				a.tried = append(a.tried, fmt.Sprintf("ssh-agent (%v)", err))
			}
			n := 0
			for _, s := range as {
				if slices.ContainsFunc(fromFiles, func(f ssh.Signer) bool { return keysEqual(s.PublicKey(), f.PublicKey()) }) {
					continue
				}
				if slices.ContainsFunc(protected, func(p ssh.PublicKey) bool { return keysEqual(s.PublicKey(), p) }) {
					// The agent holds the protected key: try it first.
					signers = append([]ssh.Signer{s}, signers...)
					a.reason = ""
				} else {
					signers = append(signers, s)
				}
				n++
			}
			if err == nil {
				a.tried = append(a.tried, fmt.Sprintf("publickey from ssh-agent (%d keys)", n))
			}
		}
	}
	if len(signers) == 0 {
		if a.reason == "" {
			a.reason = "no key file given and no ssh-agent (SSH_AUTH_SOCK) with keys"
		}
		a.close()
		return nil, a.fail("")
	}
	a.methods = []ssh.AuthMethod{ssh.PublicKeys(signers...)}
	return a, nil
}

func (a *auth) close() {
	if a.agent != nil {
		a.agent.Close()
	}
}

func (a *auth) fail(reason string) *AuthError {
	if reason == "" {
		reason = a.reason
	}
	return &AuthError{Host: a.cfg.Name, Address: a.addr, User: a.cfg.User, Methods: a.tried, Reason: reason}
}

func (a *auth) error(err error) *AuthError {
	e := a.fail(a.reason)
	if e.Reason == "" {
		e.Reason = fmt.Sprintf("is the public key in ~%s/.ssh/authorized_keys on the host?", a.cfg.User)
	}
	e.Err = err
	return e
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// parsedKeys holds the signers of key files read before in this process,
// by content: a run dials hundreds of hosts with one key, and parsing it
// (and deriving its public half) each time showed in the controller's
// profile. A changed file is a new entry. Bounded: few keys per process.
var parsedKeys struct {
	sync.Mutex
	m map[string]ssh.Signer
}

func parseKey(data []byte) (ssh.Signer, error) {
	parsedKeys.Lock()
	s := parsedKeys.m[string(data)]
	parsedKeys.Unlock()
	if s != nil {
		return s, nil
	}
	s, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, err
	}
	parsedKeys.Lock()
	if parsedKeys.m == nil || len(parsedKeys.m) >= 16 {
		parsedKeys.m = map[string]ssh.Signer{}
	}
	parsedKeys.m[string(data)] = s
	parsedKeys.Unlock()
	return s, nil
}
