package fleet

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/remote"
)

// KeyPolicy is what a run does on first contact with a host.
type KeyPolicy struct {
	RefuseNew bool
	// OnNew is told each key recorded on first contact.
	OnNew func(name, keyType, fingerprint, path string)
}

// Hosts builds the engine's hosts: how to connect, and how to make
// their steps. Every node's steps are built here once, node by node and
// dropped, so that an inventory error stops the run before any host is
// contacted, all errors at once; the engine builds them again when each
// host's turn comes (Host.Build), so that only the hosts in flight hold
// their rendered files, not the whole fleet's.
func Hosts(inv *inventory.Inventory, nodes []*inventory.Node, machines map[string]providers.Machine, keys KeyPolicy, tr Transport) ([]provision.Host, error) {
	var hosts []provision.Host
	var errs []string
	kh := &remote.KnownHosts{Path: KnownHostsPath()}
	all, own := FleetWith(inv, nodes, machines)
	for i, n := range nodes {
		if _, err := NodeSteps(inv, own[i], all); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		m, ok := machines[n.Name]
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: node %s has no machine (provider %s)", inv.Path, n.Name, n.Provider))
			continue
		}
		cfg, err := tr.Config(n, m, kh)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s:%d:%d: node %s: %v", inv.Path, n.Pos.Line, n.Pos.Col, n.Name, err))
			continue
		}
		for h := &cfg; h != nil; h = h.Bastion {
			h.RefuseNew, h.OnNewKey = keys.RefuseNew, keys.OnNew
		}
		node := own[i]
		hosts = append(hosts, provision.Host{
			Name:        n.Name,
			ViaJumpHost: cfg.Bastion != nil,
			Build:       func() ([]provision.Step, error) { return NodeSteps(inv, node, all) },
			Dial:        func(ctx context.Context) (provision.Conn, error) { return tr.Dial(ctx, cfg) },
		})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return hosts, nil
}

// Transport is how a command reaches its hosts over SSH. The zero value
// is the real one; a test rig or a benchmark sets its fields in the
// command's factory (cmd), which hands it to every fleet call that
// connects. It is no package variable, so nothing a test sets outlives it.
type Transport struct {
	// Connect opens an engine host's connection (default: remote.Dial
	// over SSH); the plan benchmark stands in a local shell.
	Connect func(ctx context.Context, cfg remote.Config) (provision.Conn, error)
	// LockPath, when set, is each host's lock file ({node} replaced by
	// the node name) instead of remote's default: for test rigs, where
	// several "hosts" are sshd processes on one machine and would share
	// one lock. No user setting reaches it.
	LockPath string
}

// Dial opens an engine host's connection to cfg.
func (t Transport) Dial(ctx context.Context, cfg remote.Config) (provision.Conn, error) {
	if t.Connect != nil {
		return t.Connect(ctx, cfg)
	}
	c, err := remote.Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return provision.SSH(c), nil
}

// Config is SSHConfig with the transport's lock path.
func (t Transport) Config(n *inventory.Node, m providers.Machine, kh *remote.KnownHosts) (remote.Config, error) {
	cfg, err := SSHConfig(n, m, kh)
	cfg.LockPath = strings.ReplaceAll(t.LockPath, "{node}", n.Name)
	return cfg, err
}

// SSHConfig says how to reach a node: the machine's address, the node's
// SSH settings, and the host keys the provider or the inventory pinned.
// ~/.ssh/config (userSSHConfig) fills in what the inventory leaves unset,
// taking the address as a Host alias: the port and user only of static
// nodes (a provider made the others' logins), the keys, and the jump
// hosts when the inventory names none.
func SSHConfig(n *inventory.Node, m providers.Machine, kh *remote.KnownHosts) (remote.Config, error) {
	cfg := remote.Config{
		Name:       n.Name,
		Address:    m.Address,
		Port:       n.SSH.Port,
		User:       n.SSH.User,
		KeyFile:    n.SSH.Key,
		HostKeys:   m.HostKeys,
		KnownHosts: kh,
		Sudo:       n.SSH.Sudo != nil && *n.SSH.Sudo,
	}
	if m.Port != 0 {
		cfg.Port = m.Port
	}
	if n.Provider == "static" {
		if n.SSH.DefaultUser {
			cfg.User = ""
		}
		if n.SSH.DefaultPort && cfg.Port == n.SSH.Port {
			cfg.Port = 0
		}
	}
	if n.HostKey != "" {
		cfg.HostKeys = append([]string{n.HostKey}, cfg.HostKeys...)
	}
	if cfg.Address == "" {
		return cfg, fmt.Errorf("no address known")
	}
	if b := n.SSH.Bastion; b != "" {
		bc, err := parseBastion(b, remote.Config{KnownHosts: kh})
		if err != nil {
			return cfg, err
		}
		cfg.Bastion = &bc
	}
	sc, err := userSSHConfig()
	if err != nil {
		return cfg, err
	}
	if cfg, err = sc.Apply(cfg); err != nil {
		return cfg, err
	}
	// What neither sets: user root, port 22 (remote's default), the
	// default key; jump hosts log in as the node does.
	if cfg.User == "" {
		cfg.User = "root"
	}
	if n.SSH.DefaultSudo {
		cfg.Sudo = cfg.User != "root"
	}
	if cfg.KeyFile == "" && len(cfg.IdentityFiles) == 0 {
		cfg.KeyFile = DefaultKey(n)
	}
	for h := cfg.Bastion; h != nil; h = h.Bastion {
		if h.User == "" {
			h.User = cfg.User
		}
		if h.KeyFile == "" && len(h.IdentityFiles) == 0 {
			h.KeyFile, h.IdentityFiles = cfg.KeyFile, cfg.IdentityFiles
		}
	}
	return cfg, nil
}

// parseBastion reads "[user@]host[:port]"; an unset user and key are the
// node's (SSHConfig), an unset port ~/.ssh/config's or 22.
func parseBastion(s string, node remote.Config) (remote.Config, error) {
	b := remote.Config{Name: "bastion " + s, User: node.User, KeyFile: node.KeyFile, KnownHosts: node.KnownHosts}
	if u, rest, ok := strings.Cut(s, "@"); ok {
		b.User, s = u, rest
	}
	b.Address = strings.Trim(s, "[]")
	if i := strings.LastIndex(s, ":"); i > 0 && !strings.Contains(s[i+1:], "]") {
		p, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return b, fmt.Errorf("bastion %q: bad port", s)
		}
		b.Address, b.Port = strings.Trim(s[:i], "[]"), p
	}
	return b, nil
}

// LockHolder says who holds a host's lock: user, machine, pid, time, what.
func LockHolder(command string, nodes []*inventory.Node) string {
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s@%s pid %d since %s: omc %s (%d nodes)", who, host, os.Getpid(), time.Now().UTC().Format(time.RFC3339), command, len(nodes))
}
