package fake

import (
	"fmt"
	"net"
	"net/http"
	"slices"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// A stored firewall keeps AppliedTo as it was asked for (servers and
// label selectors); which servers a selector reaches is worked out when
// the firewall or a server is rendered, so new servers with matching
// labels are covered at once, as with the real service.

func (f *Fake) applies(fw *schema.Firewall, sv *server) bool {
	for _, res := range fw.AppliedTo {
		switch res.Type {
		case "server":
			if res.Server != nil && res.Server.ID == sv.s.ID {
				return true
			}
		case "label_selector":
			if sel, err := parseSelector(res.LabelSelector.Selector); err == nil && sel.matches(sv.s.Labels) {
				return true
			}
		}
	}
	return false
}

func (f *Fake) renderFirewall(fw *schema.Firewall) schema.Firewall {
	out := *fw
	out.Labels = copyLabels(fw.Labels)
	out.Rules = append([]schema.FirewallRule{}, fw.Rules...)
	out.AppliedTo = []schema.FirewallResource{}
	for _, res := range fw.AppliedTo {
		if res.Type == "label_selector" {
			sel, _ := parseSelector(res.LabelSelector.Selector)
			res.AppliedToResources = []schema.FirewallResource{}
			for _, id := range sortedKeys(f.servers) {
				if sel.matches(f.servers[id].s.Labels) {
					res.AppliedToResources = append(res.AppliedToResources,
						schema.FirewallResource{Type: "server", Server: &schema.FirewallResourceServer{ID: id}})
				}
			}
		}
		out.AppliedTo = append(out.AppliedTo, res)
	}
	return out
}

func (f *Fake) listFirewalls(w http.ResponseWriter, r *http.Request) {
	sel, ok := selectorParam(w, r)
	if !ok {
		return
	}
	var out []schema.Firewall
	for _, id := range sortedKeys(f.firewalls) {
		fw := f.firewalls[id]
		if n := r.URL.Query().Get("name"); n != "" && fw.Name != n {
			continue
		}
		if !sel.matches(fw.Labels) {
			continue
		}
		out = append(out, f.renderFirewall(fw))
	}
	writePage(w, r, "firewalls", out)
}

func (f *Fake) pathFirewall(w http.ResponseWriter, r *http.Request) *schema.Firewall {
	id, ok := pathID(r)
	fw := f.firewalls[id]
	if !ok || fw == nil {
		notFound(w, "firewall")
		return nil
	}
	return fw
}

func (f *Fake) getFirewall(w http.ResponseWriter, r *http.Request) {
	if fw := f.pathFirewall(w, r); fw != nil {
		writeJSON(w, http.StatusOK, schema.FirewallGetResponse{Firewall: f.renderFirewall(fw)})
	}
}

// checkRules validates rule requests and converts them to stored rules;
// it returns a message for invalid_input when one is bad.
func checkRules(reqs []schema.FirewallRuleRequest) ([]schema.FirewallRule, string) {
	rules := []schema.FirewallRule{}
	for i, q := range reqs {
		if q.Direction != "in" && q.Direction != "out" {
			return nil, fmt.Sprintf("rule %d: direction must be in or out", i)
		}
		switch q.Protocol {
		case "tcp", "udp":
			if q.Port == nil || *q.Port == "" {
				return nil, fmt.Sprintf("rule %d: port is required for %s", i, q.Protocol)
			}
		case "icmp", "esp", "gre":
			if q.Port != nil {
				return nil, fmt.Sprintf("rule %d: port is not allowed for %s", i, q.Protocol)
			}
		default:
			return nil, fmt.Sprintf("rule %d: unknown protocol %q", i, q.Protocol)
		}
		ips := q.SourceIPs
		if q.Direction == "out" {
			ips = q.DestinationIPs
		}
		if len(ips) == 0 {
			return nil, fmt.Sprintf("rule %d: needs source_ips (in) or destination_ips (out)", i)
		}
		for _, c := range ips {
			if _, _, err := net.ParseCIDR(c); err != nil {
				return nil, fmt.Sprintf("rule %d: %q is not a CIDR", i, c)
			}
		}
		rules = append(rules, schema.FirewallRule{
			Direction: q.Direction, Protocol: q.Protocol, Port: q.Port, Description: q.Description,
			SourceIPs: append([]string{}, q.SourceIPs...), DestinationIPs: append([]string{}, q.DestinationIPs...),
		})
	}
	return rules, ""
}

// checkResources validates apply_to / remove_from entries.
func (f *Fake) checkResources(w http.ResponseWriter, field string, res []schema.FirewallResource) bool {
	for _, x := range res {
		switch x.Type {
		case "server":
			if x.Server == nil || f.servers[x.Server.ID] == nil {
				apiError(w, http.StatusNotFound, "firewall_resource_not_found", "server not found")
				return false
			}
		case "label_selector":
			if x.LabelSelector == nil {
				invalidInput(w, field, "label_selector needs a selector")
				return false
			}
			if _, err := parseSelector(x.LabelSelector.Selector); err != nil {
				invalidInput(w, field, err.Error())
				return false
			}
		default:
			invalidInput(w, field, "type must be server or label_selector")
			return false
		}
	}
	return true
}

func sameResource(a, b schema.FirewallResource) bool {
	if a.Type != b.Type {
		return false
	}
	if a.Type == "server" {
		return a.Server != nil && b.Server != nil && a.Server.ID == b.Server.ID
	}
	return a.LabelSelector != nil && b.LabelSelector != nil && a.LabelSelector.Selector == b.LabelSelector.Selector
}

func (f *Fake) createFirewall(w http.ResponseWriter, r *http.Request) {
	var req schema.FirewallCreateRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Name == "" {
		invalidInput(w, "name", "is required")
		return
	}
	for _, fw := range f.firewalls {
		if fw.Name == req.Name {
			uniqueness(w, "name", "firewall name is already used")
			return
		}
	}
	rules, msg := checkRules(req.Rules)
	if msg != "" {
		invalidInput(w, "rules", msg)
		return
	}
	labels := labelsOf(req.Labels)
	if msg := checkLabels(labels); msg != "" {
		invalidInput(w, "labels", msg)
		return
	}
	if !f.checkResources(w, "apply_to", req.ApplyTo) {
		return
	}
	fw := &schema.Firewall{ID: f.id(), Name: req.Name, Labels: labels, Created: f.now(), Rules: rules}
	f.firewalls[fw.ID] = fw
	var acs []*action
	if len(rules) > 0 {
		acs = append(acs, f.newAction("set_firewall_rules", nil, ref("firewall", fw.ID)))
	}
	for _, res := range req.ApplyTo {
		res.AppliedToResources = nil
		fw.AppliedTo = append(fw.AppliedTo, res)
		acs = append(acs, f.newAction("apply_firewall", nil, ref("firewall", fw.ID)))
	}
	writeJSON(w, http.StatusCreated, schema.FirewallCreateResponse{Firewall: f.renderFirewall(fw), Actions: actionList(acs...)})
}

// deleteFirewall refuses while the firewall is applied, as the API does
// (resource_in_use): remove it from its resources first.
func (f *Fake) deleteFirewall(w http.ResponseWriter, r *http.Request) {
	fw := f.pathFirewall(w, r)
	if fw == nil {
		return
	}
	if len(fw.AppliedTo) > 0 {
		apiError(w, http.StatusUnprocessableEntity, "resource_in_use", "firewall must not be in use to be deleted")
		return
	}
	delete(f.firewalls, fw.ID)
	w.WriteHeader(http.StatusNoContent)
}

func (f *Fake) firewallAction(w http.ResponseWriter, r *http.Request) {
	fw := f.pathFirewall(w, r)
	if fw == nil {
		return
	}
	res := ref("firewall", fw.ID)
	switch r.PathValue("action") {
	case "set_rules":
		var req schema.FirewallActionSetRulesRequest
		if !decode(w, r, &req) {
			return
		}
		rules, msg := checkRules(req.Rules)
		if msg != "" {
			invalidInput(w, "rules", msg)
			return
		}
		fw.Rules = rules
		ac := f.newAction("set_firewall_rules", nil, res)
		writeJSON(w, http.StatusCreated, schema.FirewallActionSetRulesResponse{Actions: actionList(ac)})
	case "apply_to_resources":
		var req schema.FirewallActionApplyToResourcesRequest
		if !decode(w, r, &req) || !f.checkResources(w, "apply_to", req.ApplyTo) {
			return
		}
		for _, x := range req.ApplyTo {
			if slices.ContainsFunc(fw.AppliedTo, func(y schema.FirewallResource) bool { return sameResource(x, y) }) {
				apiError(w, http.StatusUnprocessableEntity, "firewall_already_applied", "firewall is already applied to this resource")
				return
			}
		}
		var acs []*action
		for _, x := range req.ApplyTo {
			x.AppliedToResources = nil
			fw.AppliedTo = append(fw.AppliedTo, x)
			acs = append(acs, f.newAction("apply_firewall", nil, res))
		}
		writeJSON(w, http.StatusCreated, schema.FirewallActionApplyToResourcesResponse{Actions: actionList(acs...)})
	case "remove_from_resources":
		var req schema.FirewallActionRemoveFromResourcesRequest
		if !decode(w, r, &req) || !f.checkResources(w, "remove_from", req.RemoveFrom) {
			return
		}
		for _, x := range req.RemoveFrom {
			if !slices.ContainsFunc(fw.AppliedTo, func(y schema.FirewallResource) bool { return sameResource(x, y) }) {
				if x.Type == "server" && f.applies(fw, f.servers[x.Server.ID]) {
					apiError(w, http.StatusUnprocessableEntity, "firewall_managed_by_label_selector", "firewall is applied through a label selector")
					return
				}
				apiError(w, http.StatusUnprocessableEntity, "firewall_already_removed", "firewall is not applied to this resource")
				return
			}
		}
		var acs []*action
		for _, x := range req.RemoveFrom {
			fw.AppliedTo = slices.DeleteFunc(fw.AppliedTo, func(y schema.FirewallResource) bool { return sameResource(x, y) })
			acs = append(acs, f.newAction("remove_firewall", nil, res))
		}
		writeJSON(w, http.StatusCreated, schema.FirewallActionRemoveFromResourcesResponse{Actions: actionList(acs...)})
	default:
		notFound(w, "action")
	}
}
