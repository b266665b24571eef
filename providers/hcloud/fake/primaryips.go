package fake

import (
	"fmt"
	"net/http"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// unassigned is the assignee_type of a primary IP with no assignee since
// 2026-08-01 (hcloud-go v2.39.0 CHANGELOG); it was "server" before.
const unassigned = "unassigned"

// allocPrimaryIP makes a primary IP from the fake's loopback (IPv4) or
// documentation (IPv6) range.
func (f *Fake) allocPrimaryIP(typ string, loc schema.Location, name string, autoDelete bool, labels map[string]string) *schema.PrimaryIP {
	id := f.id()
	if name == "" {
		name = fmt.Sprintf("primary_ip-%d", id)
	}
	var addr string
	if typ == "ipv4" {
		f.ipv4++
		n := f.ipv4
		addr = fmt.Sprintf("127.77.%d.%d", n/250, n%250+1)
	} else {
		f.ipv6++
		addr = fmt.Sprintf("2001:db8:77:%x::/64", f.ipv6)
	}
	ip := &schema.PrimaryIP{
		ID: id, IP: addr, Name: name, Type: typ, Labels: labels,
		AssigneeType: unassigned, AutoDelete: autoDelete, Created: f.now(), Location: loc,
		DNSPtr: []schema.PrimaryIPDNSPTR{},
	}
	f.primaryIPs[id] = ip
	return ip
}

func renderPrimaryIP(ip *schema.PrimaryIP) schema.PrimaryIP {
	out := *ip
	out.Labels = copyLabels(ip.Labels)
	out.DNSPtr = append([]schema.PrimaryIPDNSPTR{}, ip.DNSPtr...)
	return out
}

func (f *Fake) listPrimaryIPs(w http.ResponseWriter, r *http.Request) {
	sel, ok := selectorParam(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var out []schema.PrimaryIP
	for _, id := range sortedKeys(f.primaryIPs) {
		ip := f.primaryIPs[id]
		if n := q.Get("name"); n != "" && ip.Name != n {
			continue
		}
		if a := q.Get("ip"); a != "" && ip.IP != a {
			continue
		}
		if !sel.matches(ip.Labels) {
			continue
		}
		out = append(out, renderPrimaryIP(ip))
	}
	writePage(w, r, "primary_ips", out)
}

func (f *Fake) pathPrimaryIP(w http.ResponseWriter, r *http.Request) *schema.PrimaryIP {
	id, ok := pathID(r)
	ip := f.primaryIPs[id]
	if !ok || ip == nil {
		notFound(w, "primary IP")
		return nil
	}
	return ip
}

func (f *Fake) getPrimaryIP(w http.ResponseWriter, r *http.Request) {
	if ip := f.pathPrimaryIP(w, r); ip != nil {
		writeJSON(w, http.StatusOK, schema.PrimaryIPGetResponse{PrimaryIP: renderPrimaryIP(ip)})
	}
}

func (f *Fake) primaryIPNameUsed(name string) bool {
	for _, ip := range f.primaryIPs {
		if ip.Name == name {
			return true
		}
	}
	return false
}

func (f *Fake) createPrimaryIP(w http.ResponseWriter, r *http.Request) {
	var req schema.PrimaryIPCreateRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Name == "" {
		invalidInput(w, "name", "is required")
		return
	}
	if f.primaryIPNameUsed(req.Name) {
		uniqueness(w, "name", "primary IP name is already used")
		return
	}
	if req.Type != "ipv4" && req.Type != "ipv6" {
		invalidInput(w, "type", "must be ipv4 or ipv6")
		return
	}
	// assignee_type is optional since hcloud-go v2.39.0 (API changelog
	// 2026-04-27); "server" is the only assignee there is, and it is
	// needed when an assignee_id is.
	switch {
	case req.AssigneeType != "" && req.AssigneeType != "server":
		invalidInput(w, "assignee_type", "must be server")
		return
	case req.AssigneeID != nil && req.AssigneeType == "":
		invalidInput(w, "assignee_type", "is required with assignee_id")
		return
	}
	labels := labelsOf(req.Labels)
	if msg := checkLabels(labels); msg != "" {
		invalidInput(w, "labels", msg)
		return
	}
	var sv *server
	var loc schema.Location
	if req.AssigneeID != nil {
		sv = f.servers[*req.AssigneeID]
		if sv == nil {
			invalidInput(w, "assignee_id", "server not found")
			return
		}
		if code := f.canAssign(sv, req.Type); code != "" {
			apiError(w, http.StatusUnprocessableEntity, code, "cannot assign a %s to server %d", req.Type, sv.s.ID)
			return
		}
		loc = sv.s.Location
	} else {
		l, ok := findLocation(req.Location)
		if !ok {
			invalidInput(w, "location", "location is required when no assignee is given")
			return
		}
		loc = l
	}
	ip := f.allocPrimaryIP(req.Type, loc, req.Name, req.AutoDelete != nil && *req.AutoDelete, labels)
	resp := schema.PrimaryIPCreateResponse{}
	if sv != nil {
		ip.AssigneeID, ip.AssigneeType = &sv.s.ID, "server"
		ac := f.newAction("assign_primary_ip", nil, ref("primary_ip", ip.ID), ref("server", sv.s.ID))
		resp.Action = &ac.a
	}
	resp.PrimaryIP = renderPrimaryIP(ip)
	writeJSON(w, http.StatusCreated, resp)
}

// canAssign returns the API's error code when ip type typ cannot be
// assigned to sv now, "" when it can.
func (f *Fake) canAssign(sv *server, typ string) string {
	if sv.s.Status != "off" {
		return "server_not_stopped"
	}
	for _, ip := range f.primaryIPs {
		if ip.AssigneeID != nil && *ip.AssigneeID == sv.s.ID && ip.Type == typ {
			return "server_has_" + typ
		}
	}
	return ""
}

func (f *Fake) updatePrimaryIP(w http.ResponseWriter, r *http.Request) {
	ip := f.pathPrimaryIP(w, r)
	if ip == nil {
		return
	}
	var req schema.PrimaryIPUpdateRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Name != "" && req.Name != ip.Name {
		if f.primaryIPNameUsed(req.Name) {
			uniqueness(w, "name", "primary IP name is already used")
			return
		}
		ip.Name = req.Name
	}
	if req.Labels != nil {
		l := labelsOf(req.Labels)
		if msg := checkLabels(l); msg != "" {
			invalidInput(w, "labels", msg)
			return
		}
		ip.Labels = l
	}
	if req.AutoDelete != nil {
		ip.AutoDelete = *req.AutoDelete
	}
	writeJSON(w, http.StatusOK, schema.PrimaryIPUpdateResponse{PrimaryIP: renderPrimaryIP(ip)})
}

// deletePrimaryIP follows the rule in force since May 2026: an assigned
// primary IP must be unassigned before it can be deleted.
func (f *Fake) deletePrimaryIP(w http.ResponseWriter, r *http.Request) {
	ip := f.pathPrimaryIP(w, r)
	if ip == nil {
		return
	}
	if ip.AssigneeID != nil {
		apiError(w, http.StatusUnprocessableEntity, "must_be_unassigned", "primary IP is still assigned to server %d", *ip.AssigneeID)
		return
	}
	delete(f.primaryIPs, ip.ID)
	w.WriteHeader(http.StatusNoContent)
}

func (f *Fake) primaryIPAction(w http.ResponseWriter, r *http.Request) {
	ip := f.pathPrimaryIP(w, r)
	if ip == nil {
		return
	}
	switch r.PathValue("action") {
	case "assign":
		var req schema.PrimaryIPActionAssignRequest
		if !decode(w, r, &req) {
			return
		}
		sv := f.servers[req.AssigneeID]
		switch {
		case req.AssigneeType != "server":
			invalidInput(w, "assignee_type", "must be server")
			return
		case sv == nil:
			invalidInput(w, "assignee_id", "server not found")
			return
		case ip.AssigneeID != nil:
			apiError(w, http.StatusUnprocessableEntity, "primary_ip_already_assigned", "primary IP is assigned to server %d", *ip.AssigneeID)
			return
		case ip.Location.Name != sv.s.Location.Name:
			apiError(w, http.StatusUnprocessableEntity, "primary_ip_datacenter_mismatch", "primary IP is in %s, server in %s", ip.Location.Name, sv.s.Location.Name)
			return
		}
		if code := f.canAssign(sv, ip.Type); code != "" {
			apiError(w, http.StatusUnprocessableEntity, code, "cannot assign a %s to server %d", ip.Type, sv.s.ID)
			return
		}
		ip.AssigneeID, ip.AssigneeType = &sv.s.ID, "server"
		ac := f.newAction("assign_primary_ip", nil, ref("primary_ip", ip.ID), ref("server", sv.s.ID))
		writeJSON(w, http.StatusCreated, schema.PrimaryIPActionAssignResponse{Action: ac.a})
	case "unassign":
		if ip.AssigneeID == nil {
			apiError(w, http.StatusUnprocessableEntity, "invalid_input", "primary IP is not assigned")
			return
		}
		if sv := f.servers[*ip.AssigneeID]; sv != nil && sv.s.Status != "off" {
			apiError(w, http.StatusUnprocessableEntity, "server_not_stopped", "server %d must be powered off", sv.s.ID)
			return
		}
		prev := *ip.AssigneeID
		ip.AssigneeID, ip.AssigneeType = nil, unassigned
		ac := f.newAction("unassign_primary_ip", nil, ref("primary_ip", ip.ID), ref("server", prev))
		writeJSON(w, http.StatusCreated, schema.PrimaryIPActionUnassignResponse{Action: ac.a})
	case "change_dns_ptr":
		var req schema.PrimaryIPActionChangeDNSPtrRequest
		if !decode(w, r, &req) {
			return
		}
		ip.DNSPtr = nil
		if req.DNSPtr != nil {
			ip.DNSPtr = []schema.PrimaryIPDNSPTR{{IP: req.IP, DNSPtr: *req.DNSPtr}}
		}
		ac := f.newAction("change_dns_ptr", nil, ref("primary_ip", ip.ID))
		writeJSON(w, http.StatusCreated, schema.PrimaryIPActionChangeDNSPtrResponse{Action: ac.a})
	default:
		notFound(w, "action")
	}
}
