package fleet

import (
	"context"

	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/inventory"
)

// keptPools keeps each group's pool open from one look of a StatusWatch
// to the next: over api: rake opening one is an SSH connection (and a
// handshake in the Scalelite host's log) every few seconds. A pool whose
// listing failed is closed and opened afresh next time. A nil keptPools
// opens and closes the pool for each call.
type keptPools struct{ pools map[string]*Pool }

func (k *keptPools) open(ctx context.Context, inv *inventory.Inventory, grp *inventory.Group, deps *PoolDeps, red *redact.Redactor) (*Pool, func(failed bool), error) {
	if k != nil {
		if fp, ok := k.pools[grp.Name]; ok {
			return fp, k.release(grp.Name, fp), nil
		}
	}
	fp, err := OpenPool(ctx, inv, grp, deps, red)
	if err != nil {
		return nil, nil, err
	}
	if k == nil {
		return fp, func(bool) { fp.Close() }, nil
	}
	if k.pools == nil {
		k.pools = map[string]*Pool{}
	}
	k.pools[grp.Name] = fp
	return fp, k.release(grp.Name, fp), nil
}

func (k *keptPools) release(group string, fp *Pool) func(failed bool) {
	return func(failed bool) {
		if failed {
			fp.Close()
			delete(k.pools, group)
		}
	}
}

func (k *keptPools) close() {
	if k == nil {
		return
	}
	for g, fp := range k.pools {
		fp.Close()
		delete(k.pools, g)
	}
}
