package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
)

// convergeOver converges nodes on their machines with the engine, as
// omc up does, its events to d.Observer, and returns the nodes that
// failed.
func convergeOver(ctx context.Context, d *PoolDeps, inv *inventory.Inventory, nodes []*inventory.Node, machines map[string]providers.Machine) map[string]error {
	failed := map[string]error{}
	var keys KeyPolicy
	var obs provision.Observer
	var tr Transport
	if d != nil {
		keys.OnNew, obs, tr = d.OnNewKey, d.Observer, d.Transport
	}
	hosts, err := Hosts(inv, nodes, machines, keys, tr)
	if err != nil {
		for _, n := range nodes {
			failed[n.Name] = err
		}
		return failed
	}
	red := redact.New(PoolSecrets(inv)...)
	results := provision.Run(ctx, hosts, provision.Options{
		Mode:     provision.Apply,
		Parallel: 8,
		Holder:   LockHolder("converge", nodes),
		Observer: obs,
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
	RecordConverge(inv, time.Now(), ok...)
	return failed
}

// Last converge times are local state, like the holds: what this machine
// saw omc up do.
func convergePath(inv *inventory.Inventory) string {
	return filepath.Join(StateDir(), "pools", inv.Name, "converged.json")
}

var convergeMu sync.Mutex

// RecordConverge records t as the last converge of nodes, in one write.
func RecordConverge(inv *inventory.Inventory, t time.Time, nodes ...string) {
	if len(nodes) == 0 {
		return
	}
	convergeMu.Lock()
	defer convergeMu.Unlock()
	m := LastConverge(inv)
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

func LastConverge(inv *inventory.Inventory) map[string]time.Time {
	m := map[string]time.Time{}
	b, err := os.ReadFile(convergePath(inv))
	if err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}
