package robot

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/omc-coop/omc/providers"
)

// State is what omc knows of an inventory's robot nodes that Robot itself
// cannot say: which orders and servers are omc's. It lives in
// <StateDir>/robot/<inventory>.json (0600) and is only changed under an
// exclusive lock on <file>.lock, so two runs never order twice.
type State struct {
	Version int                   `json:"version"`
	Nodes   map[string]*NodeState `json:"nodes"`
}

// NodeState is one node's record.
type NodeState struct {
	Group string `json:"group"`
	// ServerNumber and ServerIP, once known (claimed, or the order is ready).
	ServerNumber int    `json:"server_number,omitempty"`
	ServerIP     string `json:"server_ip,omitempty"`
	// Claimed: named in the inventory (server: N), not ordered by omc.
	Claimed bool `json:"claimed,omitempty"`
	// Order is set for servers omc ordered.
	Order *OrderState `json:"order,omitempty"`
	// Install is "" (never installed by omc), "installing" (started, not
	// known to have finished) or "installed".
	Install     string    `json:"install,omitempty"`
	InstalledAt time.Time `json:"installed_at,omitzero"`
}

// OrderState is an order omc placed.
type OrderState struct {
	// Market: a server-market offer; else a standard product.
	Market  bool   `json:"market,omitempty"`
	Product string `json:"product"`
	// KeyName and KeyFingerprint name the SSH key made for this order and
	// stored in Robot; they are written before the order is placed, so an
	// order whose answer was lost can be found by its key.
	KeyName        string `json:"key_name"`
	KeyFingerprint string `json:"key_fingerprint"`
	// Transaction is Robot's id, written as soon as the order is placed.
	Transaction string    `json:"transaction,omitempty"`
	Status      string    `json:"status,omitempty"`
	PlacedAt    time.Time `json:"placed_at,omitzero"`
	// Price is what omc showed before ordering.
	Price string `json:"price,omitempty"`
}

const (
	installing = "installing"
	installed  = "installed"
)

func (p *Provider) statePath(inv string) string {
	return filepath.Join(p.opts.StateDir, "robot", inv+".json")
}

// lockState takes the inventory's state lock and reads the state; save
// writes it back atomically; unlock releases the lock.
func (p *Provider) lockState(inv string) (st *State, save func() error, unlock func(), err error) {
	if p.opts.StateDir == "" {
		return nil, nil, nil, errNoState
	}
	path := p.statePath(inv)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("robot state: %w", err)
	}
	lf, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("robot state: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		lf.Close()
		return nil, nil, nil, fmt.Errorf("robot state: lock %s: %w", path, err)
	}
	unlock = func() { _ = syscall.Flock(int(lf.Fd()), syscall.LOCK_UN); lf.Close() }
	st, err = p.readState(inv)
	if err != nil {
		unlock()
		return nil, nil, nil, err
	}
	save = func() error { return writeAtomic(path, st) }
	return st, save, unlock, nil
}

// readState reads the state without the lock (for List).
func (p *Provider) readState(inv string) (*State, error) {
	st := &State{Version: 1, Nodes: map[string]*NodeState{}}
	if p.opts.StateDir == "" {
		return st, nil
	}
	b, err := os.ReadFile(p.statePath(inv))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("robot state: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("robot state %s is damaged (%v); it records the orders omc placed, so fix it by hand rather than deleting it", p.statePath(inv), err)
	}
	if st.Nodes == nil {
		st.Nodes = map[string]*NodeState{}
	}
	return st, nil
}

func writeAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("robot state: %w", err)
	}
	if _, err = f.Write(append(b, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("robot state: writing %s: %w", path, err)
	}
	return nil
}

// keyPath is where a key omc made is kept: hostkeys/<inv>/<node> (as the
// hcloud provider keeps them) or robot/keys/<inv>/<node> for order keys.
func (p *Provider) keyPath(kind, inv, node string) string {
	if kind == "host" {
		return filepath.Join(p.opts.StateDir, "hostkeys", inv, node)
	}
	return filepath.Join(p.opts.StateDir, "robot", "keys", inv, node)
}

// key loads a kept key, making and saving one (0600) the first time.
func (p *Provider) key(kind, inv, node string) (providers.HostKey, error) {
	if p.opts.StateDir == "" {
		return providers.HostKey{}, errNoState
	}
	path := p.keyPath(kind, inv, node)
	if k, err := providers.LoadHostKey(path); err == nil {
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return providers.HostKey{}, err
	}
	k, err := providers.NewHostKey("omc " + kind + " key " + inv + "/" + node)
	if err != nil {
		return providers.HostKey{}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return providers.HostKey{}, fmt.Errorf("keeping the %s key of %s: %w", kind, node, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, k.Private, 0o600); err != nil {
		return providers.HostKey{}, fmt.Errorf("keeping the %s key of %s: %w", kind, node, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return providers.HostKey{}, fmt.Errorf("keeping the %s key of %s: %w", kind, node, err)
	}
	return providers.LoadHostKey(path)
}

// hostKeyPublic is the public half of a node's kept host key, or "".
func (p *Provider) hostKeyPublic(inv, node string) string {
	if p.opts.StateDir == "" {
		return ""
	}
	k, err := providers.LoadHostKey(p.keyPath("host", inv, node))
	if err != nil {
		return ""
	}
	return k.Public
}

func (p *Provider) removeKey(kind, inv, node string) {
	if p.opts.StateDir != "" {
		_ = os.Remove(p.keyPath(kind, inv, node))
	}
}
