package hcloud

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/omc-coop/omc/inventory"
)

var anyIPv4, anyIPv6 = mustCIDR("0.0.0.0/0"), mustCIDR("::/0")

func mustCIDR(s string) net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return *n
}

// FirewallRules are the inbound rules of a Cloud Firewall for nodes with
// these roles. They come from the node model's port table
// (inventory.Ports), the same table the host's nftables firewall is built
// from, so the two layers open the same ports: ssh 22/tcp (from
// adminCIDRs; from anywhere when there are none), 80 and 443/tcp, bbb
// media 16384-32768/udp, turn 3478/tcp+udp, 443/udp and relay
// 32769-65535/udp. Admin ranges that do not parse are dropped, and if
// none is left SSH is closed rather than opened to everyone.
func FirewallRules(roleNames []string, adminCIDRs []string) []hcloud.FirewallRule {
	var admin []net.IPNet
	for _, c := range adminCIDRs {
		if _, n, err := net.ParseCIDR(strings.TrimSpace(c)); err == nil {
			admin = append(admin, *n)
		}
	}
	var rules []hcloud.FirewallRule
	for _, p := range inventory.Ports(roleNames) {
		src := []net.IPNet{anyIPv4, anyIPv6}
		if p.Admin && len(adminCIDRs) > 0 {
			if len(admin) == 0 {
				continue
			}
			src = admin
		}
		rules = append(rules, hcloud.FirewallRule{
			Direction:   hcloud.FirewallRuleDirectionIn,
			Protocol:    hcloud.FirewallRuleProtocol(p.Proto),
			Port:        hcloud.Ptr(p.Range()),
			SourceIPs:   src,
			Description: hcloud.Ptr(p.Purpose),
		})
	}
	return rules
}

// groupRules are the rules for the whole group: one firewall covers all
// its servers, so it opens what any of its nodes needs (roles as the
// node model resolves them, e.g. a bbb node without a turn node in its
// group serves TURN itself) to the union of their admin ranges.
func groupRules(inv *inventory.Inventory, g *inventory.Group) ([]hcloud.FirewallRule, error) {
	fleet := inv.Nodes()
	var roleNames, cidrs []string
	anyOpen := false
	for _, n := range fleet {
		if n.Group != g.Name {
			continue
		}
		for _, r := range inventory.NodeRoles(n, fleet) {
			if !slices.Contains(roleNames, r) {
				roleNames = append(roleNames, r)
			}
		}
		s := &n.Settings
		if len(s.AdminCIDRs) == 0 {
			anyOpen = true
		}
		for _, c := range s.AdminCIDRs {
			if !slices.Contains(cidrs, c.String()) {
				cidrs = append(cidrs, c.String())
			}
		}
	}
	if anyOpen {
		cidrs = nil
	}
	return FirewallRules(roleNames, cidrs), nil
}

// ruleKey is a rule in a canonical text form, for comparing rule sets.
func ruleKey(r hcloud.FirewallRule) string {
	ips := func(ns []net.IPNet) string {
		var s []string
		for _, n := range ns {
			s = append(s, n.String())
		}
		sort.Strings(s)
		return strings.Join(s, ",")
	}
	port, desc := "", ""
	if r.Port != nil {
		port = *r.Port
	}
	if r.Description != nil {
		desc = *r.Description
	}
	return strings.Join([]string{string(r.Direction), string(r.Protocol), port, ips(r.SourceIPs), ips(r.DestinationIPs), desc}, "|")
}

func sameRules(a, b []hcloud.FirewallRule) bool {
	ka, kb := make([]string, 0, len(a)), make([]string, 0, len(b))
	for _, r := range a {
		ka = append(ka, ruleKey(r))
	}
	for _, r := range b {
		kb = append(kb, ruleKey(r))
	}
	sort.Strings(ka)
	sort.Strings(kb)
	return slices.Equal(ka, kb)
}

func resourceName(inv *inventory.Inventory, g *inventory.Group) string {
	return "omc-" + inv.Name + "-" + g.Name
}

// ensureFirewall makes the group's firewall, or brings its rules and its
// label selector up to date; it writes nothing when both are right.
func (p *Provider) ensureFirewall(ctx context.Context, a *api, inv *inventory.Inventory, g *inventory.Group) error {
	rules, err := groupRules(inv, g)
	if err != nil {
		return fmt.Errorf("group %s: %w", g.Name, err)
	}
	sel := GroupSelector(inv, g)
	applyTo := hcloud.FirewallResource{Type: hcloud.FirewallResourceTypeLabelSelector, LabelSelector: &hcloud.FirewallResourceLabelSelector{Selector: sel}}
	fws, err := a.c.Firewall.AllWithOpts(ctx, hcloud.FirewallListOpts{ListOpts: hcloud.ListOpts{LabelSelector: sel}})
	if err != nil {
		return a.wrap(err, "listing the firewall of group %s", g.Name)
	}
	if len(fws) == 0 {
		p.logf(a, "creating firewall %s (%d rules, applied to %s)", resourceName(inv, g), len(rules), sel)
		res, _, err := a.c.Firewall.Create(ctx, hcloud.FirewallCreateOpts{
			Name: resourceName(inv, g), Labels: groupLabels(inv, g), Rules: rules, ApplyTo: []hcloud.FirewallResource{applyTo},
		})
		if err != nil {
			return a.wrap(err, "creating firewall %s", resourceName(inv, g))
		}
		return a.wrap(a.c.Action.WaitFor(ctx, res.Actions...), "creating firewall %s", resourceName(inv, g))
	}
	fw := fws[0]
	if !sameRules(fw.Rules, rules) {
		p.logf(a, "updating the rules of firewall %s", fw.Name)
		acts, _, err := a.c.Firewall.SetRules(ctx, fw, hcloud.FirewallSetRulesOpts{Rules: rules})
		if err == nil {
			err = a.c.Action.WaitFor(ctx, acts...)
		}
		if err != nil {
			return a.wrap(err, "updating the rules of firewall %s", fw.Name)
		}
	}
	applied := slices.ContainsFunc(fw.AppliedTo, func(r hcloud.FirewallResource) bool {
		return r.Type == hcloud.FirewallResourceTypeLabelSelector && r.LabelSelector != nil && r.LabelSelector.Selector == sel
	})
	if !applied {
		p.logf(a, "applying firewall %s to %s", fw.Name, sel)
		acts, _, err := a.c.Firewall.ApplyResources(ctx, fw, []hcloud.FirewallResource{applyTo})
		if err == nil {
			err = a.c.Action.WaitFor(ctx, acts...)
		}
		if err != nil {
			return a.wrap(err, "applying firewall %s", fw.Name)
		}
	}
	return nil
}

// ensurePlacementGroup returns the group's spread placement group, made
// on first use, or nil when the group does not ask for one.
func (p *Provider) ensurePlacementGroup(ctx context.Context, a *api, inv *inventory.Inventory, g *inventory.Group) (*hcloud.PlacementGroup, error) {
	if !g.Spread {
		return nil, nil
	}
	sel := GroupSelector(inv, g)
	pgs, err := a.c.PlacementGroup.AllWithOpts(ctx, hcloud.PlacementGroupListOpts{ListOpts: hcloud.ListOpts{LabelSelector: sel}})
	if err != nil {
		return nil, a.wrap(err, "listing the placement group of group %s", g.Name)
	}
	if len(pgs) > 0 {
		return pgs[0], nil
	}
	p.logf(a, "creating spread placement group %s", resourceName(inv, g))
	res, _, err := a.c.PlacementGroup.Create(ctx, hcloud.PlacementGroupCreateOpts{
		Name: resourceName(inv, g), Labels: groupLabels(inv, g), Type: hcloud.PlacementGroupTypeSpread,
	})
	if err != nil {
		return nil, a.wrap(err, "creating placement group %s", resourceName(inv, g))
	}
	if res.Action != nil {
		if err := a.c.Action.WaitFor(ctx, res.Action); err != nil {
			return nil, a.wrap(err, "creating placement group %s", resourceName(inv, g))
		}
	}
	return res.PlacementGroup, nil
}

// cleanupGroup removes the group's firewall and placement group once no
// server of the group is left.
func (p *Provider) cleanupGroup(ctx context.Context, a *api, inv *inventory.Inventory, g *inventory.Group) error {
	left, err := a.servers(ctx, inv, g)
	if err != nil || len(left) > 0 {
		return err
	}
	sel := GroupSelector(inv, g)
	fws, err := a.c.Firewall.AllWithOpts(ctx, hcloud.FirewallListOpts{ListOpts: hcloud.ListOpts{LabelSelector: sel}})
	if err != nil {
		return a.wrap(err, "listing the firewall of group %s", g.Name)
	}
	for _, fw := range fws {
		p.logf(a, "deleting firewall %s", fw.Name)
		if len(fw.AppliedTo) > 0 {
			var from []hcloud.FirewallResource
			for _, r := range fw.AppliedTo {
				r.AppliedToResources = nil
				from = append(from, r)
			}
			acts, _, err := a.c.Firewall.RemoveResources(ctx, fw, from)
			if err == nil {
				err = a.c.Action.WaitFor(ctx, acts...)
			}
			if err != nil {
				return a.wrap(err, "removing firewall %s from its resources", fw.Name)
			}
		}
		if _, err := a.c.Firewall.Delete(ctx, fw); err != nil {
			return a.wrap(err, "deleting firewall %s", fw.Name)
		}
	}
	pgs, err := a.c.PlacementGroup.AllWithOpts(ctx, hcloud.PlacementGroupListOpts{ListOpts: hcloud.ListOpts{LabelSelector: sel}})
	if err != nil {
		return a.wrap(err, "listing the placement group of group %s", g.Name)
	}
	for _, pg := range pgs {
		p.logf(a, "deleting placement group %s", pg.Name)
		if _, err := a.c.PlacementGroup.Delete(ctx, pg); err != nil {
			return a.wrap(err, "deleting placement group %s", pg.Name)
		}
	}
	return nil
}
