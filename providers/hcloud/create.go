package hcloud

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
	"github.com/hetznercloud/hcloud-go/v2/hcloud/exp/actionutil"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

// nodeIPs are a node's kept primary IPs.
type nodeIPs struct{ v4, v6 *hcloud.PrimaryIP }

// primaryIPs returns the group's primary IPs by node.
func (a *api) primaryIPs(ctx context.Context, inv *inventory.Inventory, g *inventory.Group) (map[string]*nodeIPs, error) {
	ips, err := a.c.PrimaryIP.AllWithOpts(ctx, hcloud.PrimaryIPListOpts{ListOpts: hcloud.ListOpts{LabelSelector: GroupSelector(inv, g)}})
	if err != nil {
		return nil, a.wrap(err, "listing the primary IPs of group %s", g.Name)
	}
	out := map[string]*nodeIPs{}
	for _, ip := range ips {
		n := ip.Labels[LabelNode]
		if n == "" {
			continue
		}
		if out[n] == nil {
			out[n] = &nodeIPs{}
		}
		if ip.Type == hcloud.PrimaryIPTypeIPv4 {
			out[n].v4 = ip
		} else {
			out[n].v6 = ip
		}
	}
	return out, nil
}

// plan is what Create and Rebuild read once per group before working on
// nodes in parallel.
type plan struct {
	servers map[string]*hcloud.Server
	ips     map[string]*nodeIPs
	dns     *dns
	pg      *hcloud.PlacementGroup
	keys    map[string]*hcloud.SSHKey // by operator public key
}

// prepare makes the group-wide resources (firewall, placement group, SSH
// keys) the nodes need and reads what exists.
func (p *Provider) prepare(ctx context.Context, a *api, inv *inventory.Inventory, g *inventory.Group, nodes []*inventory.Node) (*plan, error) {
	pl := &plan{keys: map[string]*hcloud.SSHKey{}}
	var err error
	if pl.servers, err = a.servers(ctx, inv, g); err != nil {
		return nil, err
	}
	if err := p.ensureFirewall(ctx, a, inv, g); err != nil {
		return nil, err
	}
	if pl.dns, err = p.groupDNS(ctx, a, inv, g); err != nil {
		return nil, err
	}
	var missing bool
	for _, n := range nodes {
		if pl.servers[n.Name] == nil {
			missing = true
		}
	}
	if !missing {
		return pl, nil
	}
	if pl.ips, err = a.primaryIPs(ctx, inv, g); err != nil {
		return nil, err
	}
	if pl.pg, err = p.ensurePlacementGroup(ctx, a, inv, g); err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if pl.servers[n.Name] != nil {
			continue
		}
		pub, err := p.operatorKey(n)
		if err != nil {
			return nil, err
		}
		if pl.keys[pub] != nil {
			continue
		}
		k, made, err := a.sshKey(ctx, inv, pub)
		if err != nil {
			return nil, err
		}
		if made {
			p.logf(a, "uploaded SSH key %s (%s)", k.Name, k.Fingerprint)
		}
		pl.keys[pub] = k
	}
	return pl, nil
}

// Create makes the servers of nodes that do not exist yet and returns all
// of them. Nodes that exist are returned as they are: when everything is
// in place, Create only reads.
func (p *Provider) Create(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, nodes []*inventory.Node) ([]providers.Machine, error) {
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
		if s == nil {
			made, err := p.createNode(ctx, a, inv, g, n, pl)
			if err != nil {
				return err
			}
			s = made
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

// createNode makes one server on the node's kept primary IPs (made on
// first use), waits for it to run and for SSH to answer. On failure it
// removes what it made; what it could not remove is named in the error.
func (p *Provider) createNode(ctx context.Context, a *api, inv *inventory.Inventory, g *inventory.Group, n *inventory.Node, pl *plan) (*hcloud.Server, error) {
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
	var made undo
	fail := func(err error) (*hcloud.Server, error) {
		return nil, made.run(ctx, p, a, fmt.Errorf("creating server %s: %w", n.Name, err))
	}

	ips := &nodeIPs{}
	if kept := pl.ips[n.Name]; kept != nil {
		*ips = *kept
	}
	for _, want := range []struct {
		typ hcloud.PrimaryIPType
		ip  **hcloud.PrimaryIP
	}{{hcloud.PrimaryIPTypeIPv4, &ips.v4}, {hcloud.PrimaryIPTypeIPv6, &ips.v6}} {
		if *want.ip != nil {
			if (*want.ip).AssigneeID != 0 {
				return fail(fmt.Errorf("its primary %s %s is assigned to server %d, which is not node %s's: unassign it first", want.typ, ipString(*want.ip), (*want.ip).AssigneeID, n.Name))
			}
			continue
		}
		name := fmt.Sprintf("omc-%s-%s-%s", inv.Name, n.Name, want.typ)
		res, _, err := a.c.PrimaryIP.Create(ctx, hcloud.PrimaryIPCreateOpts{
			Name: name, Type: want.typ, AssigneeType: "server", Location: g.Location,
			AutoDelete: hcloud.Ptr(false), Labels: nodeLabels(inv, g, n.Name, nil),
		})
		if err != nil {
			return fail(a.wrap(err, "making primary %s %s", want.typ, name))
		}
		*want.ip = res.PrimaryIP
		made.ips = append(made.ips, res.PrimaryIP)
		p.logf(a, "made primary %s %s for %s (kept across rebuilds)", want.typ, ipString(res.PrimaryIP), n.Name)
	}

	opts := hcloud.ServerCreateOpts{
		Name:       n.Name,
		ServerType: &hcloud.ServerType{Name: g.ServerType},
		Image:      &hcloud.Image{Name: g.Image},
		Location:   &hcloud.Location{Name: g.Location},
		SSHKeys:    []*hcloud.SSHKey{pl.keys[pub]},
		UserData:   ud,
		Labels:     nodeLabels(inv, g, n.Name, n.Roles),
		PublicNet:  &hcloud.ServerCreatePublicNet{EnableIPv4: true, EnableIPv6: true, IPv4: ips.v4, IPv6: ips.v6},
	}
	if pl.pg != nil {
		opts.PlacementGroup = pl.pg
	}
	p.logf(a, "creating server %s (%s, %s, %s) on %s", n.Name, g.ServerType, g.Image, g.Location, ips.v4.IP)
	res, _, err := a.c.Server.Create(ctx, opts)
	if hcloud.IsError(err, hcloud.ErrorCodeUniquenessError) {
		return fail(fmt.Errorf("a server named %s already exists in the project without the labels %s: omc leaves it alone; rename or delete it", n.Name, nodeSelector(inv, g, n.Name)))
	}
	if err != nil {
		return fail(a.wrap(err, "hcloud API"))
	}
	made.server = res.Server
	if err := a.c.Action.WaitFor(ctx, actionutil.AppendNext(res.Action, res.NextActions)...); err != nil {
		return fail(a.wrap(err, "waiting for it to start"))
	}
	s, _, err := a.c.Server.GetByID(ctx, res.Server.ID)
	if err != nil || s == nil {
		return fail(a.wrap(cmpErr(err, "server vanished"), "reading it back"))
	}
	if err := p.waitSSH(ctx, n.Name, sshAddr(s)); err != nil {
		// A server nobody can reach is removed like any failed create:
		// the next run starts afresh instead of returning it as made.
		if ctx.Err() != nil {
			return fail(err) // says what it interrupted
		}
		return fail(fmt.Errorf("it runs at %s but SSH does not answer: %w", s.PublicNet.IPv4.IP, err))
	}
	return s, nil
}

// ipString shows an IPv6 primary IP as the /64 it is.
func ipString(ip *hcloud.PrimaryIP) string {
	if ip.Network != nil {
		return ip.Network.String()
	}
	return ip.IP.String()
}

func cmpErr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}

// undo is what a failed create made, to remove again.
type undo struct {
	server *hcloud.Server
	ips    []*hcloud.PrimaryIP
}

// run removes what was made and returns cause, extended by whatever
// could not be removed. It runs even when ctx is cancelled, bounded by
// its own timeout.
func (u *undo) run(ctx context.Context, p *Provider, a *api, cause error) error {
	if u.server == nil && len(u.ips) == 0 {
		return cause
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var left []string
	if s := u.server; s != nil {
		p.logf(a, "removing server %s after the failed create", s.Name)
		res, _, err := a.c.Server.DeleteWithResult(ctx, s)
		if err == nil {
			err = a.c.Action.WaitFor(ctx, res.Action)
		}
		if err != nil && !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
			left = append(left, fmt.Sprintf("server %s (id %d): %v", s.Name, s.ID, a.wrap(err, "delete")))
		}
	}
	for _, ip := range u.ips {
		p.logf(a, "removing primary IP %s after the failed create", ipString(ip))
		_, err := a.c.PrimaryIP.Delete(ctx, ip)
		if err != nil && !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
			left = append(left, fmt.Sprintf("primary IP %s (id %d): %v", ipString(ip), ip.ID, a.wrap(err, "delete")))
		}
	}
	if len(left) == 0 {
		return cause
	}
	sort.Strings(left)
	return fmt.Errorf("%w; left behind (labelled, so `omc down` or the next run can remove them): %s", cause, strings.Join(left, "; "))
}
