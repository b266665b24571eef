package hcloud

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/omc-coop/omc/inventory"
)

// dns keeps the A/AAAA records of a group's nodes in the group's zone.
// The zone must exist: omc makes records, not zones (a zone is a
// delegation the operator sets up at the registrar once).
type dns struct {
	a    *api
	zone *hcloud.Zone
	// have are the group's records, by "name/type", read once.
	have map[string]*hcloud.ZoneRRSet
}

// groupDNS reads the group's zone and records; nil when the group names
// no zone.
func (p *Provider) groupDNS(ctx context.Context, a *api, inv *inventory.Inventory, g *inventory.Group) (*dns, error) {
	name := strings.TrimSuffix(g.DNSZone, ".")
	if name == "" {
		return nil, nil
	}
	z, _, err := a.c.Zone.GetByName(ctx, name)
	if err != nil {
		return nil, a.wrap(err, "reading DNS zone %s", name)
	}
	if z == nil {
		return nil, fmt.Errorf("group %s: DNS zone %s is not in this Hetzner project: create it in the Hetzner Console (omc makes records, not zones)", g.Name, name)
	}
	sets, err := a.c.Zone.AllRRSetsWithOpts(ctx, z, hcloud.ZoneRRSetListOpts{ListOpts: hcloud.ListOpts{LabelSelector: GroupSelector(inv, g)}})
	if err != nil {
		return nil, a.wrap(err, "listing the records of group %s in %s", g.Name, name)
	}
	d := &dns{a: a, zone: z, have: map[string]*hcloud.ZoneRRSet{}}
	for _, rs := range sets {
		rs.Zone = z
		d.have[rs.Name+"/"+string(rs.Type)] = rs
	}
	return d, nil
}

// relName is domain relative to the zone: "@" for the apex.
func relName(domain, zone string) (string, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	switch {
	case domain == zone:
		return "@", nil
	case strings.HasSuffix(domain, "."+zone):
		return strings.TrimSuffix(domain, "."+zone), nil
	}
	return "", fmt.Errorf("domain %s is not in DNS zone %s", domain, zone)
}

// sync makes the node's A and AAAA records point at the server's
// addresses. It writes nothing when they already do, and refuses to take
// over a record omc did not make.
func (d *dns) sync(ctx context.Context, p *Provider, inv *inventory.Inventory, g *inventory.Group, n *inventory.Node, s *hcloud.Server) error {
	if d == nil || n.Domain == "" {
		return nil
	}
	name, err := relName(n.Domain, d.zone.Name)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	want := map[hcloud.ZoneRRSetType]string{}
	if !s.PublicNet.IPv4.IsUnspecified() {
		want[hcloud.ZoneRRSetTypeA] = s.PublicNet.IPv4.IP.String()
	}
	if !s.PublicNet.IPv6.IsUnspecified() {
		want[hcloud.ZoneRRSetTypeAAAA] = ipv6Host(s.PublicNet.IPv6.Network)
	}
	a := d.a
	for _, typ := range []hcloud.ZoneRRSetType{hcloud.ZoneRRSetTypeA, hcloud.ZoneRRSetTypeAAAA} {
		value, ok := want[typ]
		if !ok {
			continue
		}
		recs := []hcloud.ZoneRRSetRecord{{Value: value}}
		rs := d.have[name+"/"+string(typ)]
		if rs != nil && rs.Labels[LabelNode] != n.Name {
			return fmt.Errorf("node %s: record %s %s in %s belongs to node %s of this group", n.Name, name, typ, d.zone.Name, rs.Labels[LabelNode])
		}
		if rs == nil {
			// Not ours: make sure it is not someone else's either.
			other, _, err := a.c.Zone.GetRRSetByNameAndType(ctx, d.zone, name, typ)
			if err != nil {
				return a.wrap(err, "reading record %s %s in %s", name, typ, d.zone.Name)
			}
			if other != nil {
				return fmt.Errorf("node %s: record %s %s already exists in %s and omc did not make it (it lacks the labels %s): remove it or change the node's domain", n.Name, name, typ, d.zone.Name, nodeSelector(inv, g, n.Name))
			}
			p.logf(a, "creating record %s.%s %s %s", name, d.zone.Name, typ, value)
			res, _, err := a.c.Zone.CreateRRSet(ctx, d.zone, hcloud.ZoneRRSetCreateOpts{
				Name: name, Type: typ, Labels: nodeLabels(inv, g, n.Name, nil), Records: recs,
			})
			if err == nil {
				err = a.c.Action.WaitFor(ctx, res.Action)
			}
			if err != nil {
				return a.wrap(err, "creating record %s %s in %s", name, typ, d.zone.Name)
			}
			continue
		}
		if slices.Equal(rs.Records, recs) {
			continue
		}
		p.logf(a, "updating record %s.%s %s to %s", name, d.zone.Name, typ, value)
		act, _, err := a.c.Zone.SetRRSetRecords(ctx, rs, hcloud.ZoneRRSetSetRecordsOpts{Records: recs})
		if err == nil {
			err = a.c.Action.WaitFor(ctx, act)
		}
		if err != nil {
			return a.wrap(err, "updating record %s %s in %s", name, typ, d.zone.Name)
		}
	}
	return nil
}

// remove deletes the records omc made for node.
func (d *dns) remove(ctx context.Context, p *Provider, node string) error {
	if d == nil {
		return nil
	}
	a := d.a
	for _, rs := range d.have {
		if rs.Labels[LabelNode] != node {
			continue
		}
		p.logf(a, "deleting record %s.%s %s", rs.Name, d.zone.Name, rs.Type)
		res, _, err := a.c.Zone.DeleteRRSet(ctx, rs)
		if err == nil {
			err = a.c.Action.WaitFor(ctx, res.Action)
		}
		if err != nil && !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
			return a.wrap(err, "deleting record %s %s in %s", rs.Name, rs.Type, d.zone.Name)
		}
	}
	return nil
}
