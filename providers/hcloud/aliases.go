package hcloud

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

// LabelAlias marks the records of an alias (providers.Aliases): a name
// that carries another name's addresses, not a node's own.
const LabelAlias = "omc/alias"

var addressTypes = []hcloud.ZoneRRSetType{hcloud.ZoneRRSetTypeA, hcloud.ZoneRRSetTypeAAAA}

// SyncAliases copies target's A and AAAA records (a node's of this group
// or any in the zone) to each of names, in the group's dns_zone. It
// writes nothing when they match already, never takes over a record omc
// did not make, and deletes the group's aliases no longer named.
func (p *Provider) SyncAliases(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, target string, names []string, dry bool) ([]string, error) {
	a, err := p.client(g)
	if err != nil {
		return nil, err
	}
	d, err := p.groupDNS(ctx, a, inv, g)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, providers.ErrNoDNS
	}
	zone := d.zone.Name
	tname, err := relName(target, zone)
	if err != nil {
		return nil, fmt.Errorf("group %s: %w", g.Name, err)
	}
	want := map[hcloud.ZoneRRSetType][]hcloud.ZoneRRSetRecord{}
	for _, typ := range addressTypes {
		rs := d.have[tname+"/"+string(typ)]
		if rs == nil {
			if rs, _, err = a.c.Zone.GetRRSetByNameAndType(ctx, d.zone, tname, typ); err != nil {
				return nil, a.wrap(err, "reading record %s %s in %s", tname, typ, zone)
			}
		}
		if rs != nil && len(rs.Records) > 0 {
			for _, r := range rs.Records {
				want[typ] = append(want[typ], hcloud.ZoneRRSetRecord{Value: r.Value})
			}
		}
	}
	if len(names) > 0 && len(want) == 0 {
		return nil, fmt.Errorf("group %s: %s has no A or AAAA record in DNS zone %s to point its sub-domains at (omc up makes it with the node whose domain it is)", g.Name, target, zone)
	}
	var changes []string
	do := func(msg string, call func() (*hcloud.Action, error)) error {
		changes = append(changes, msg)
		if dry {
			return nil
		}
		p.logf(a, "%s", msg)
		act, err := call()
		if err == nil && act != nil {
			err = a.c.Action.WaitFor(ctx, act)
		}
		return err
	}
	wanted := map[string]bool{}
	for _, name := range names {
		rel, err := relName(name, zone)
		if err != nil {
			return changes, fmt.Errorf("group %s: %w", g.Name, err)
		}
		wanted[rel] = true
		for _, typ := range addressTypes {
			recs, ok := want[typ]
			rs := d.have[rel+"/"+string(typ)]
			switch {
			case rs != nil && rs.Labels[LabelAlias] != "true":
				return changes, fmt.Errorf("group %s: record %s %s in %s belongs to node %s of this group, not to %s", g.Name, rel, typ, zone, rs.Labels[LabelNode], target)
			case rs == nil && ok:
				other, _, err := a.c.Zone.GetRRSetByNameAndType(ctx, d.zone, rel, typ)
				if err != nil {
					return changes, a.wrap(err, "reading record %s %s in %s", rel, typ, zone)
				}
				if other != nil {
					return changes, fmt.Errorf("group %s: record %s %s already exists in %s and omc did not make it (it lacks the labels %s,%s=true): remove it, or the tenant", g.Name, rel, typ, zone, GroupSelector(inv, g), LabelAlias)
				}
				labels := groupLabels(inv, g)
				labels[LabelAlias] = "true"
				err = do(fmt.Sprintf("creating record %s.%s %s %s", rel, zone, typ, values(recs)), func() (*hcloud.Action, error) {
					res, _, err := a.c.Zone.CreateRRSet(ctx, d.zone, hcloud.ZoneRRSetCreateOpts{Name: rel, Type: typ, Labels: labels, Records: recs})
					return res.Action, err
				})
				if err != nil {
					return changes, a.wrap(err, "creating record %s %s in %s", rel, typ, zone)
				}
			case rs != nil && !ok:
				if err := d.deleteAlias(ctx, do, rs); err != nil {
					return changes, err
				}
			case rs != nil && !slices.Equal(values(rs.Records), values(recs)):
				err := do(fmt.Sprintf("updating record %s.%s %s to %s", rel, zone, typ, values(recs)), func() (*hcloud.Action, error) {
					act, _, err := a.c.Zone.SetRRSetRecords(ctx, rs, hcloud.ZoneRRSetSetRecordsOpts{Records: recs})
					return act, err
				})
				if err != nil {
					return changes, a.wrap(err, "updating record %s %s in %s", rel, typ, zone)
				}
			}
		}
	}
	keys := make([]string, 0, len(d.have))
	for k := range d.have {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rs := d.have[k]
		if rs.Labels[LabelAlias] == "true" && !wanted[rs.Name] {
			if err := d.deleteAlias(ctx, do, rs); err != nil {
				return changes, err
			}
		}
	}
	return changes, nil
}

func (d *dns) deleteAlias(ctx context.Context, do func(string, func() (*hcloud.Action, error)) error, rs *hcloud.ZoneRRSet) error {
	err := do(fmt.Sprintf("deleting record %s.%s %s", rs.Name, d.zone.Name, rs.Type), func() (*hcloud.Action, error) {
		res, _, err := d.a.c.Zone.DeleteRRSet(ctx, rs)
		return res.Action, err
	})
	if err != nil && !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
		return d.a.wrap(err, "deleting record %s %s in %s", rs.Name, rs.Type, d.zone.Name)
	}
	return nil
}

// values are a record set's values, sorted: the order means nothing.
func values(recs []hcloud.ZoneRRSetRecord) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.Value)
	}
	sort.Strings(out)
	return out
}
