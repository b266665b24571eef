package providers

import (
	"context"
	"errors"

	"github.com/omc-coop/omc/inventory"
)

// Aliases is offered by providers that keep a group's DNS records
// (hcloud, for a group with a dns_zone): names that point where another
// name points, as a pool's tenants' sub-domains point where the pool's
// domain does.
type Aliases interface {
	// SyncAliases gives each of names the A and AAAA records target has,
	// and deletes the aliases of group g it made earlier that names no
	// longer lists; with dry it changes nothing. It returns the changes
	// made (or, dry, pending), and ErrNoDNS when g keeps no records.
	SyncAliases(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, target string, names []string, dry bool) ([]string, error)
}

// ErrNoDNS: the group keeps no DNS records, so its aliases are the
// operator's to make.
var ErrNoDNS = errors.New("the group keeps no DNS records")
