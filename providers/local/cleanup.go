package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

// Delete stops the named hosts of group g and removes everything they
// had on the machine. Unknown names are not an error.
func (p *Provider) Delete(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, names []string) error {
	if err := p.Cleanup(ctx); err != nil {
		return err
	}
	lock, err := lockFile(ctx, p.hostsDir(inv.Name)+".lock")
	if err != nil {
		return err
	}
	defer lock.unlock()
	var sts []*state
	for _, name := range names {
		if checkName("node", name) != nil {
			continue
		}
		st, err := readState(p.hostDir(inv.Name, name))
		if err == nil && st.Group == g.Name {
			sts = append(sts, st)
		}
	}
	err = providers.Parallel(len(sts), p.parallel, func(i int) error {
		if err := p.removeHost(ctx, sts[i]); err != nil {
			return err
		}
		p.logf("%s: deleted", sts[i].Node)
		return nil
	})
	os.Remove(p.hostsDir(inv.Name)) // only if empty
	p.idle(ctx)
	return err
}

// removeHost stops a host and deletes its dir.
func (p *Provider) removeHost(ctx context.Context, st *state) error {
	if err := p.stopHost(ctx, st); err != nil {
		return err
	}
	if st.Phase != phaseDeleting && st.Inventory != "" {
		st.Phase = phaseDeleting
		if err := st.write(); err != nil {
			return hostErr(st, "writing state", err)
		}
	}
	return hostErr(st, "removing host dir", removeTree(st.dir))
}

// removeTree deletes dir, unmounting what is mounted below it first and
// refusing if anything stays mounted: deleting through a mount (a bind of
// /dev or /proc left by a killed debootstrap) would delete the machine's
// own files.
func removeTree(dir string) error {
	unmountUnder(dir)
	if ms := mountsUnder(dir); len(ms) > 0 {
		return fmt.Errorf("not removing %s: still mounted below it: %s", dir, strings.Join(ms, ", "))
	}
	return os.RemoveAll(dir)
}

// idle stops what serves hosts (apt proxy, forwarding rule) once no host
// of the cache dir runs. Stopped hosts do not count: a host an interrupted
// run left stopped would keep the proxy running for nobody, and starting
// a host brings the proxy back (ensureProxy).
func (p *Provider) idle(ctx context.Context) {
	lock, err := lockFile(ctx, filepath.Join(p.proxyDir(), "lock"))
	if err != nil {
		return
	}
	defer lock.unlock()
	if as, err := p.liveMachineAddrs(); err == nil && len(as) == 0 {
		p.stopProxy(ctx)
	}
	unisolate(ctx)
}

// Cleanup removes what crashed runs left behind, in every inventory whose
// lock nobody holds: hosts whose creation never finished are removed
// (dir, mounts, netns, veth, processes); finished hosts whose nspawn is
// gone lose their leftover mounts and netns but keep their disk, so the
// next Create starts them again. Create, Rebuild and Delete call it first.
func (p *Provider) Cleanup(ctx context.Context) error {
	invs, err := p.inventories()
	if err != nil {
		return err
	}
	var errs []error
	for _, inv := range invs {
		lock, err := tryLockFile(p.hostsDir(inv) + ".lock")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if lock == nil {
			continue // another omc is working on it
		}
		errs = append(errs, p.cleanInventory(ctx, inv, false))
		lock.unlock()
	}
	p.idle(ctx)
	return errors.Join(errs...)
}

// DeleteAll removes every host of every inventory in the cache dir (the
// image stays), waiting for other omc runs to finish with them: for CI
// teardown and for cleaning up by hand without an inventory.
func (p *Provider) DeleteAll(ctx context.Context) error {
	invs, err := p.inventories()
	if err != nil {
		return err
	}
	var errs []error
	for _, inv := range invs {
		lock, err := lockFile(ctx, p.hostsDir(inv)+".lock")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, p.cleanInventory(ctx, inv, true))
		lock.unlock()
	}
	p.idle(ctx)
	return errors.Join(errs...)
}

// cleanInventory removes abandoned hosts of inv (all of them when all is
// set) and frees what stopped ones left; the caller holds inv's lock.
func (p *Provider) cleanInventory(ctx context.Context, inv string, all bool) error {
	ents, err := os.ReadDir(p.hostsDir(inv))
	if err != nil {
		return nil
	}
	var errs []error
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(p.hostsDir(inv), e.Name())
		st, err := readState(dir)
		if err != nil {
			// No usable state: the names are derived, so the leftovers can
			// still be found.
			st = &state{Node: e.Name(), NetNS: nameFor(p.dir, inv, e.Name()), dir: dir}
			p.logf("%s: removing a host without a usable state (%v)", e.Name(), err)
			errs = append(errs, p.removeHost(ctx, st))
			continue
		}
		switch {
		case all:
			errs = append(errs, p.removeHost(ctx, st))
		case st.Phase != phaseReady:
			what := "creation"
			if st.Phase == phaseDeleting {
				what = "removal"
			}
			p.logf("%s: removing a host whose %s did not finish", st.Node, what)
			errs = append(errs, p.removeHost(ctx, st))
		case !st.running() && (len(mountsUnder(dir)) > 0 || netnsExists(st.NetNS) || linkExists(st.NetNS)):
			p.logf("%s: freeing what the stopped host left behind", st.Node)
			errs = append(errs, p.stopHost(ctx, st))
		}
	}
	os.Remove(p.hostsDir(inv))
	return errors.Join(errs...)
}
