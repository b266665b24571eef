// Package static is the provider for claimed servers listed by address:
// omc never creates or deletes them, it only reaches them.
package static

import (
	"context"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

// Provider serves groups with provider: static.
type Provider struct{}

func New() *Provider { return &Provider{} }

// List returns the group's nodes as written in the inventory.
func (Provider) List(_ context.Context, inv *inventory.Inventory, g *inventory.Group) ([]providers.Machine, error) {
	var ms []providers.Machine
	for _, n := range inv.Nodes() {
		if n.Group != g.Name {
			continue
		}
		m := providers.Machine{Name: n.Name, ID: n.Address, Address: n.Address, Port: n.SSH.Port, Status: "claimed"}
		if n.HostKey != "" {
			m.HostKeys = []string{n.HostKey}
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// Create has nothing to make: a static node exists by definition, so it
// returns the nodes as listed.
func (p Provider) Create(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, nodes []*inventory.Node) ([]providers.Machine, error) {
	all, err := p.List(ctx, inv, g)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range nodes {
		want[n.Name] = true
	}
	var ms []providers.Machine
	for _, m := range all {
		if want[m.Name] {
			ms = append(ms, m)
		}
	}
	return ms, nil
}

func (Provider) Delete(context.Context, *inventory.Inventory, *inventory.Group, []string) error {
	return &providers.ErrNotSupported{Provider: "static", Op: "delete"}
}

func (Provider) Rebuild(context.Context, *inventory.Inventory, *inventory.Group, []*inventory.Node) ([]providers.Machine, error) {
	return nil, &providers.ErrNotSupported{Provider: "static", Op: "rebuild"}
}
