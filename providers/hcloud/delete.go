package hcloud

import (
	"context"
	"errors"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

// Delete removes the named nodes: their servers, kept primary IPs, DNS
// records and host keys, all found by label. The group's firewall and
// placement group go once no server of the group is left. Names without
// resources are skipped.
func (p *Provider) Delete(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, names []string) error {
	a, err := p.client(g)
	if err != nil {
		return err
	}
	servers, err := a.servers(ctx, inv, g)
	if err != nil {
		return err
	}
	var actions []*hcloud.Action
	for _, name := range names {
		s := servers[name]
		if s == nil {
			continue
		}
		p.logf(a, "deleting server %s (id %d)", name, s.ID)
		res, _, err := a.c.Server.DeleteWithResult(ctx, s)
		if err != nil && !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
			return a.wrap(err, "deleting server %s", name)
		}
		if res.Action != nil {
			actions = append(actions, res.Action)
		}
	}
	// The primary IPs are unassigned once the servers are gone.
	if err := a.c.Action.WaitFor(ctx, actions...); err != nil {
		return a.wrap(err, "waiting for the servers to be deleted")
	}

	ips, err := a.primaryIPs(ctx, inv, g)
	if err != nil {
		return err
	}
	d, err := p.groupDNS(ctx, a, inv, g)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if ni := ips[name]; ni != nil {
			for _, ip := range []*hcloud.PrimaryIP{ni.v4, ni.v6} {
				if ip == nil {
					continue
				}
				p.logf(a, "deleting primary IP %s of %s", ipString(ip), name)
				if _, err := a.c.PrimaryIP.Delete(ctx, ip); err != nil && !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
					errs = append(errs, a.wrap(err, "deleting primary IP %s of %s", ipString(ip), name))
				}
			}
		}
		if err := d.remove(ctx, p, name); err != nil {
			errs = append(errs, err)
		}
		if err := p.removeHostKey(inv.Name, name); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return p.cleanupGroup(ctx, a, inv, g)
}

// Rebuild puts a fresh image on the nodes' servers, with the same host
// key in its user data, so name, addresses, DNS and host key all stay.
// A node whose server is missing is created (on its kept addresses).
func (p *Provider) Rebuild(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, nodes []*inventory.Node) ([]providers.Machine, error) {
	a, err := p.client(g)
	if err != nil {
		return nil, err
	}
	pl, err := p.prepare(ctx, a, inv, g, nodes)
	if err != nil {
		return nil, err
	}
	ms := make([]providers.Machine, len(nodes))
	err = providers.Parallel(len(nodes), p.opts.Parallel, func(i int) error {
		n := nodes[i]
		s := pl.servers[n.Name]
		var err error
		if s == nil {
			s, err = p.createNode(ctx, a, inv, g, n, pl)
		} else {
			s, err = p.rebuildNode(ctx, a, inv, g, n, s)
		}
		if err != nil {
			return err
		}
		if err := pl.dns.sync(ctx, p, inv, g, n, s); err != nil {
			return err
		}
		ms[i] = p.machine(inv, n.Name, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ms, nil
}

func (p *Provider) rebuildNode(ctx context.Context, a *api, inv *inventory.Inventory, g *inventory.Group, n *inventory.Node, s *hcloud.Server) (*hcloud.Server, error) {
	hk, err := p.hostKey(inv.Name, n.Name)
	if err != nil {
		return nil, err
	}
	pub, err := p.operatorKey(n)
	if err != nil {
		return nil, err
	}
	ud, err := userData(hk, n, pub)
	if err != nil {
		return nil, err
	}
	p.logf(a, "rebuilding server %s with %s (same addresses, same host key)", n.Name, g.Image)
	res, _, err := a.c.Server.RebuildWithResult(ctx, s, hcloud.ServerRebuildOpts{Image: &hcloud.Image{Name: g.Image}, UserData: &ud})
	if err == nil {
		err = a.c.Action.WaitFor(ctx, res.Action)
	}
	if err != nil {
		return nil, a.wrap(err, "rebuilding server %s", n.Name)
	}
	s, _, err = a.c.Server.GetByID(ctx, s.ID)
	if err != nil || s == nil {
		return nil, a.wrap(cmpErr(err, "server vanished"), "reading server %s after the rebuild", n.Name)
	}
	if err := p.waitSSH(ctx, n.Name, sshAddr(s)); err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, a.wrap(err, "server %s was rebuilt but SSH does not answer", n.Name)
	}
	return s, nil
}
