// Package providers defines how omc gets machines: the interface every
// provider implements (static, local, hcloud, robot), shaped by what
// `omc up`, `down`, `rebuild` and `status` need and nothing more.
//
// A provider only ever lists, changes or deletes machines that this
// inventory owns (by labels or by name); anything else is left alone.
package providers

import (
	"context"

	"github.com/omc-coop/omc/inventory"
)

// Machine is a node as a provider sees it.
type Machine struct {
	Name string
	// ID is the provider's own identifier (server id, machine dir, …).
	ID string
	// Address is where SSH reaches it; Port 0 means the node's SSH port.
	Address string
	Port    int
	// HostKeys are the machine's SSH host public keys in authorized_keys
	// form, when the provider knows them from the machine's creation.
	// Empty means "learn on first contact".
	HostKeys []string
	// Status is the provider's word for the machine's state ("running", "off", …).
	Status string
}

// Provider makes and removes the machines of a group.
type Provider interface {
	// List returns the machines of group g that this inventory owns.
	List(ctx context.Context, inv *inventory.Inventory, g *inventory.Group) ([]Machine, error)
	// Create makes the given nodes, waits until SSH answers on each, and
	// returns them. Nodes that already exist are returned unchanged.
	Create(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, nodes []*inventory.Node) ([]Machine, error)
	// Delete removes the named machines of group g. Unknown names are not an error.
	Delete(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, names []string) error
	// Rebuild returns the named machines to a fresh image, keeping name,
	// address and host key, and waits until SSH answers.
	Rebuild(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, nodes []*inventory.Node) ([]Machine, error)
}

// ErrNotSupported is returned by providers for operations they cannot do
// (static servers cannot be created or deleted).
type ErrNotSupported struct {
	Provider, Op string
}

func (e *ErrNotSupported) Error() string {
	return e.Provider + " provider cannot " + e.Op + " machines"
}
