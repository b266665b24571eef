package local

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

// job is one host to bring up.
type job struct {
	st    *state
	node  *inventory.Node
	fresh bool // rootfs is the bare image: write the host's files
}

// Create makes the missing hosts, starts stopped ones, and waits until
// each answers on SSH with its known host key. Running hosts are returned
// unchanged.
func (p *Provider) Create(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, nodes []*inventory.Node) ([]providers.Machine, error) {
	return p.up(ctx, inv, g, nodes, false)
}

// Rebuild returns hosts to a fresh image, keeping name, address and host key.
func (p *Provider) Rebuild(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, nodes []*inventory.Node) ([]providers.Machine, error) {
	return p.up(ctx, inv, g, nodes, true)
}

func (p *Provider) up(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, nodes []*inventory.Node, rebuild bool) ([]providers.Machine, error) {
	if err := checkName("inventory", inv.Name); err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if err := checkName("node", n.Name); err != nil {
			return nil, err
		}
	}
	im, err := lookupImage(g.Image)
	if err != nil {
		return nil, err
	}
	if err := p.Cleanup(ctx); err != nil {
		return nil, err
	}
	p.ensureInotify()
	if _, err := p.ensureImage(ctx, im); err != nil {
		return nil, err
	}
	lock, err := lockFile(ctx, p.hostsDir(inv.Name)+".lock")
	if err != nil {
		return nil, err
	}
	defer lock.unlock()

	ready := map[string]providers.Machine{}
	var jobs []*job
	var errs []error
	for _, n := range nodes {
		st, err := readState(p.hostDir(inv.Name, n.Name))
		switch {
		case err == nil && st.Group != g.Name:
			errs = append(errs, &HostError{n.Name, "checking", fmt.Errorf("already exists in group %s", st.Group)})
		case err == nil && rebuild:
			p.logf("%s: rebuilding from %s", n.Name, st.Image)
			if err := p.stopHost(ctx, st); err != nil {
				errs = append(errs, err)
				continue
			}
			st.Phase, st.Image, st.PID = phaseCreating, im.Name, 0
			if err := st.write(); err != nil {
				errs = append(errs, hostErr(st, "writing state", err))
				continue
			}
			if err := resetRootfs(st); err != nil {
				errs = append(errs, hostErr(st, "resetting rootfs", err))
				continue
			}
			jobs = append(jobs, &job{st: st, node: n, fresh: true})
		case err == nil && st.running():
			ready[n.Name] = machineOf(st)
		case err == nil:
			p.logf("%s: starting (was stopped)", n.Name)
			jobs = append(jobs, &job{st: st, node: n})
		default:
			jobs = append(jobs, &job{node: n, fresh: true})
		}
	}
	if err := p.newStates(ctx, inv.Name, g.Name, im.Name, jobs); err != nil {
		return nil, err
	}
	// Links first, so the apt proxy can bind their addresses before hosts boot.
	var live []*job
	for _, j := range jobs {
		if err := setupLink(ctx, j.st); err != nil {
			errs = append(errs, hostErr(j.st, "making network namespace", err))
			continue
		}
		live = append(live, j)
	}
	if len(live) > 0 {
		err := isolate(ctx)
		if err == nil {
			err = p.ensureProxy(ctx)
		}
		if err != nil {
			for _, j := range live {
				p.stopHost(context.Background(), j.st)
			}
			return nil, err
		}
	}
	var mu sync.Mutex
	_ = providers.Parallel(len(live), p.parallel, func(i int) error {
		j := live[i]
		err := p.bringUp(ctx, j)
		if err != nil {
			// Stopped, not removed: a new host stays "creating" and the
			// next call's Cleanup removes it; console.log is there till then.
			p.stopHost(context.Background(), j.st)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		ready[j.st.Node] = machineOf(j.st)
		return nil
	})
	var ms []providers.Machine
	for _, n := range nodes {
		if m, ok := ready[n.Name]; ok {
			ms = append(ms, m)
		}
	}
	return ms, errors.Join(errs...)
}

// newStates allocates an address and a host key for each new host and
// records them before anything is made on the machine, so a crash from
// here on leaves a state file that tells Cleanup what to remove. The
// allocation lock covers every inventory in the cache dir.
func (p *Provider) newStates(ctx context.Context, inv, group, image string, jobs []*job) error {
	need := false
	for _, j := range jobs {
		need = need || j.st == nil
	}
	if !need {
		return nil
	}
	lock, err := lockFile(ctx, filepath.Join(p.dir, "hosts", ".alloc.lock"))
	if err != nil {
		return err
	}
	defer lock.unlock()
	all, err := p.allStates()
	if err != nil {
		return err
	}
	used := map[netip.Prefix]bool{}
	for _, st := range all {
		if pf, err := netip.ParsePrefix(st.Subnet); err == nil {
			used[pf] = true
		}
	}
	routes, err := machineRoutes()
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if j.st != nil {
			continue
		}
		dir := p.hostDir(inv, j.node.Name)
		ns := nameFor(p.dir, inv, j.node.Name)
		l, err := allocate(p.network, inv, j.node.Name, ns, used, routes)
		if err != nil {
			return &HostError{j.node.Name, "allocating address", err}
		}
		used[l.Subnet] = true
		key, err := providers.NewHostKey("root@" + j.node.Name)
		if err != nil {
			return &HostError{j.node.Name, "making host key", err}
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return &HostError{j.node.Name, "making host dir", err}
		}
		if err := writeFileAtomic(filepath.Join(dir, "ssh_host_ed25519_key"), key.Private, 0o600); err != nil {
			return &HostError{j.node.Name, "writing host key", err}
		}
		j.st = &state{
			Version: stateVersion, Inventory: inv, Group: group, Node: j.node.Name, Image: image,
			Phase: phaseCreating, NetNS: ns, Subnet: l.Subnet.String(),
			MachineAddr: l.Machine.String(), HostAddr: l.Host.String(),
			HostKey: key.Public, Created: time.Now().UTC(), dir: dir,
		}
		if err := j.st.write(); err != nil {
			return &HostError{j.node.Name, "writing state", err}
		}
	}
	return nil
}

// bringUp mounts the root, writes the host's files on a fresh root,
// boots, and waits for SSH.
func (p *Provider) bringUp(ctx context.Context, j *job) error {
	st := j.st
	start := time.Now()
	// The host's own image, which is not the group's when the group's
	// image: changed since (Rebuild moves it to the new one).
	lower := p.imageRoot(st.Image)
	if _, err := os.Stat(filepath.Join(lower, "usr/lib/os-release")); err != nil {
		return hostErr(st, "preparing rootfs", fmt.Errorf("its image %s is gone from %s; rebuild the host", st.Image, lower))
	}
	if err := p.mountRootfs(ctx, st, lower); err != nil {
		return hostErr(st, "preparing rootfs", err)
	}
	if j.fresh {
		key, err := providers.LoadHostKey(filepath.Join(st.dir, "ssh_host_ed25519_key"))
		if err != nil {
			return hostErr(st, "reading host key", err)
		}
		auth, err := p.authorizedKeys(j.node)
		if err != nil {
			return hostErr(st, "finding SSH keys", err)
		}
		if err := p.writeHostFiles(ctx, st, hostFiles{hostKey: key, authorizedKeys: auth, user: j.node.SSH.User}); err != nil {
			return hostErr(st, "writing host files", err)
		}
	}
	if err := p.boot(st); err != nil {
		return hostErr(st, "booting", err)
	}
	if err := p.waitSSH(ctx, st, p.bootTimeout); err != nil {
		return hostErr(st, "waiting for sshd", err)
	}
	st.Phase = phaseReady
	if err := st.write(); err != nil {
		return hostErr(st, "writing state", err)
	}
	p.logf("%s: up at %s (ssh after %s)", st.Node, st.HostAddr, time.Since(start).Round(100*time.Millisecond))
	return nil
}
