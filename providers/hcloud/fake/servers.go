package fake

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// server is the stored part of a server; its addresses, firewalls and
// placement group are derived from the other resources when rendered,
// so they cannot drift apart.
type server struct {
	s        schema.Server
	userData string
	hasKeys  bool
	pg       int64
}

var hostnameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,61}[a-zA-Z0-9])?$`)

// maxUserData is the API's limit on user_data.
const maxUserData = 32 * 1024

func (f *Fake) serverByName(name string) *server {
	for _, sv := range f.servers {
		if sv.s.Name == name {
			return sv
		}
	}
	return nil
}

// renderServer is a server as the API returns it.
func (f *Fake) renderServer(sv *server) schema.Server {
	s := sv.s
	s.Labels = copyLabels(sv.s.Labels)
	s.PublicNet = schema.ServerPublicNet{FloatingIPs: []int64{}, Firewalls: []schema.ServerFirewall{}}
	for _, id := range sortedKeys(f.primaryIPs) {
		ip := f.primaryIPs[id]
		if ip.AssigneeID == nil || *ip.AssigneeID != sv.s.ID {
			continue
		}
		if ip.Type == "ipv4" {
			s.PublicNet.IPv4 = schema.ServerPublicNetIPv4{ID: ip.ID, IP: ip.IP, DNSPtr: ptrFor(ip)}
		} else {
			s.PublicNet.IPv6 = schema.ServerPublicNetIPv6{ID: ip.ID, IP: ip.IP, DNSPtr: []schema.ServerPublicNetIPv6DNSPtr{}}
		}
	}
	for _, id := range sortedKeys(f.firewalls) {
		if f.applies(f.firewalls[id], sv) {
			s.PublicNet.Firewalls = append(s.PublicNet.Firewalls, schema.ServerFirewall{ID: id, Status: "applied"})
		}
	}
	s.PlacementGroup = nil
	if pg, ok := f.placements[sv.pg]; ok {
		r := f.renderPlacementGroup(pg)
		s.PlacementGroup = &r
	}
	s.PrivateNet = []schema.ServerPrivateNet{}
	s.Volumes = []int64{}
	s.LoadBalancers = []int64{}
	return s
}

func ptrFor(ip *schema.PrimaryIP) string {
	if len(ip.DNSPtr) > 0 {
		return ip.DNSPtr[0].DNSPtr
	}
	return "static." + ip.IP + ".clients.your-server.de"
}

func (f *Fake) listServers(w http.ResponseWriter, r *http.Request) {
	sel, ok := selectorParam(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var out []schema.Server
	for _, id := range sortedKeys(f.servers) {
		sv := f.servers[id]
		if n := q.Get("name"); n != "" && sv.s.Name != n {
			continue
		}
		if st := q["status"]; len(st) > 0 && !slices.Contains(st, sv.s.Status) {
			continue
		}
		if !sel.matches(sv.s.Labels) {
			continue
		}
		out = append(out, f.renderServer(sv))
	}
	writePage(w, r, "servers", out)
}

func (f *Fake) getServer(w http.ResponseWriter, r *http.Request) {
	sv := f.pathServer(w, r)
	if sv == nil {
		return
	}
	writeJSON(w, http.StatusOK, schema.ServerGetResponse{Server: f.renderServer(sv)})
}

func (f *Fake) pathServer(w http.ResponseWriter, r *http.Request) *server {
	id, ok := pathID(r)
	sv := f.servers[id]
	if !ok || sv == nil {
		notFound(w, "server")
		return nil
	}
	return sv
}

func (f *Fake) createServer(w http.ResponseWriter, r *http.Request) {
	var req schema.ServerCreateRequest
	if !decode(w, r, &req) {
		return
	}
	// Validate everything before changing anything, as the API does.
	if !hostnameRE.MatchString(req.Name) {
		invalidInput(w, "name", "must be a valid hostname")
		return
	}
	if f.serverByName(req.Name) != nil {
		uniqueness(w, "name", "server name is already used")
		return
	}
	st, ok := findServerType(req.ServerType)
	if !ok {
		invalidInput(w, "server_type", "server type not found")
		return
	}
	im, ok := findImage(req.Image)
	if !ok {
		invalidInput(w, "image", "image not found")
		return
	}
	locName := req.Location
	if locName == "" {
		locName = "fsn1"
	}
	loc, ok := findLocation(locName)
	if !ok {
		invalidInput(w, "location", "location not found")
		return
	}
	labels := labelsOf(req.Labels)
	if msg := checkLabels(labels); msg != "" {
		invalidInput(w, "labels", msg)
		return
	}
	if len(req.UserData) > maxUserData {
		invalidInput(w, "user_data", "must be at most 32 KiB")
		return
	}
	for _, k := range req.SSHKeys {
		if f.sshKeys[k] == nil {
			invalidInput(w, "ssh_keys", fmt.Sprintf("SSH key %d not found", k))
			return
		}
	}
	for _, fw := range req.Firewalls {
		if f.firewalls[fw.Firewall] == nil {
			invalidInput(w, "firewalls", fmt.Sprintf("firewall %d not found", fw.Firewall))
			return
		}
	}
	if req.PlacementGroup != 0 {
		pg := f.placements[req.PlacementGroup]
		if pg == nil {
			invalidInput(w, "placement_group", "placement group not found")
			return
		}
		if len(f.renderPlacementGroup(pg).Servers) >= 10 {
			apiError(w, http.StatusPreconditionFailed, "placement_error", "spread placement group is full")
			return
		}
	}
	want4, want6 := true, true
	var ip4, ip6 int64
	if pn := req.PublicNet; pn != nil {
		want4, want6 = pn.EnableIPv4 || pn.IPv4ID != 0, pn.EnableIPv6 || pn.IPv6ID != 0
		ip4, ip6 = pn.IPv4ID, pn.IPv6ID
	}
	for _, c := range []struct {
		id  int64
		typ string
	}{{ip4, "ipv4"}, {ip6, "ipv6"}} {
		if c.id == 0 {
			continue
		}
		ip := f.primaryIPs[c.id]
		switch {
		case ip == nil:
			invalidInput(w, "public_net", fmt.Sprintf("primary IP %d not found", c.id))
			return
		case ip.Type != c.typ:
			apiError(w, http.StatusUnprocessableEntity, "primary_ip_version_mismatch", "primary IP %d is not %s", c.id, c.typ)
			return
		case ip.AssigneeID != nil:
			apiError(w, http.StatusConflict, "primary_ip_assigned", "primary IP %d is already assigned", c.id)
			return
		case ip.Location.Name != loc.Name:
			apiError(w, http.StatusUnprocessableEntity, "primary_ip_datacenter_mismatch", "primary IP %d is in %s, not %s", c.id, ip.Location.Name, loc.Name)
			return
		}
	}

	start := req.StartAfterCreate == nil || *req.StartAfterCreate
	sv := &server{
		s: schema.Server{
			ID: f.id(), Name: req.Name, Status: "initializing", Created: f.now(),
			ServerType: renderServerType(st), Location: loc, Image: &im, Labels: labels,
			PrimaryDiskSize: st.Disk, IncludedTraffic: 20 << 40,
		},
		userData: req.UserData,
		hasKeys:  len(req.SSHKeys) > 0,
		pg:       req.PlacementGroup,
	}
	f.servers[sv.s.ID] = sv
	assign := func(id int64, typ string, want bool) {
		if !want {
			return
		}
		if id == 0 {
			id = f.allocPrimaryIP(typ, loc, "", true, map[string]string{}).ID
		}
		f.primaryIPs[id].AssigneeID = &sv.s.ID
		f.primaryIPs[id].AssigneeType = "server"
	}
	assign(ip4, "ipv4", want4)
	assign(ip6, "ipv6", want6)
	for _, fw := range req.Firewalls {
		f.firewalls[fw.Firewall].AppliedTo = append(f.firewalls[fw.Firewall].AppliedTo,
			schema.FirewallResource{Type: "server", Server: &schema.FirewallResourceServer{ID: sv.s.ID}})
	}

	fail := f.actionErr
	create := f.newAction("create_server", func(ok bool) {
		if !start || !ok {
			sv.s.Status = "off"
		}
	}, ref("server", sv.s.ID))
	var next []schema.Action
	if start {
		f.actionErr = fail
		ac := f.newAction("start_server", func(ok bool) {
			if ok {
				sv.s.Status = "running"
			}
		}, ref("server", sv.s.ID))
		next = append(next, ac.a)
	}
	resp := schema.ServerCreateResponse{Server: f.renderServer(sv), Action: create.a, NextActions: next}
	if next == nil {
		resp.NextActions = []schema.Action{}
	}
	if !sv.hasKeys {
		pw := fmt.Sprintf("fake-root-password-%d", sv.s.ID)
		resp.RootPassword = &pw
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (f *Fake) updateServer(w http.ResponseWriter, r *http.Request) {
	sv := f.pathServer(w, r)
	if sv == nil {
		return
	}
	var req schema.ServerUpdateRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Name != "" && req.Name != sv.s.Name {
		if f.serverByName(req.Name) != nil {
			uniqueness(w, "name", "server name is already used")
			return
		}
		sv.s.Name = req.Name
	}
	if req.Labels != nil {
		l := labelsOf(req.Labels)
		if msg := checkLabels(l); msg != "" {
			invalidInput(w, "labels", msg)
			return
		}
		sv.s.Labels = l
	}
	writeJSON(w, http.StatusOK, schema.ServerUpdateResponse{Server: f.renderServer(sv)})
}

// deleteServer removes the server at once: its auto_delete primary IPs go
// with it, the others are unassigned and kept.
func (f *Fake) deleteServer(w http.ResponseWriter, r *http.Request) {
	sv := f.pathServer(w, r)
	if sv == nil || f.refuseLocked(w, "server", sv.s.ID) {
		return
	}
	id := sv.s.ID
	delete(f.servers, id)
	for _, ipID := range sortedKeys(f.primaryIPs) {
		ip := f.primaryIPs[ipID]
		if ip.AssigneeID == nil || *ip.AssigneeID != id {
			continue
		}
		if ip.AutoDelete {
			delete(f.primaryIPs, ipID)
			continue
		}
		ip.AssigneeID, ip.AssigneeType = nil, unassigned
	}
	for _, fw := range f.firewalls {
		fw.AppliedTo = slices.DeleteFunc(fw.AppliedTo, func(res schema.FirewallResource) bool {
			return res.Type == "server" && res.Server != nil && res.Server.ID == id
		})
	}
	ac := f.newAction("delete_server", nil, ref("server", id))
	writeJSON(w, http.StatusOK, schema.ServerDeleteResponse{Action: ac.a})
}

// serverAction serves the power and rebuild actions omc uses.
func (f *Fake) serverAction(w http.ResponseWriter, r *http.Request) {
	sv := f.pathServer(w, r)
	if sv == nil || f.refuseLocked(w, "server", sv.s.ID) {
		return
	}
	res := ref("server", sv.s.ID)
	setStatus := func(now, then string) func(bool) {
		sv.s.Status = now
		return func(ok bool) {
			if ok {
				sv.s.Status = then
			}
		}
	}
	switch r.PathValue("action") {
	case "poweron":
		ac := f.newAction("start_server", setStatus("starting", "running"), res)
		writeJSON(w, http.StatusCreated, schema.ServerActionPoweronResponse{Action: ac.a})
	case "poweroff":
		ac := f.newAction("stop_server", setStatus(sv.s.Status, "off"), res)
		writeJSON(w, http.StatusCreated, schema.ServerActionPoweroffResponse{Action: ac.a})
	case "shutdown":
		ac := f.newAction("shutdown_server", setStatus("stopping", "off"), res)
		writeJSON(w, http.StatusCreated, schema.ServerActionShutdownResponse{Action: ac.a})
	case "reboot", "reset":
		ac := f.newAction(r.PathValue("action")+"_server", setStatus(sv.s.Status, "running"), res)
		writeJSON(w, http.StatusCreated, schema.ServerActionResetResponse{Action: ac.a})
	case "rebuild":
		var req schema.ServerActionRebuildRequest
		if !decode(w, r, &req) {
			return
		}
		im, ok := findImage(req.Image)
		if !ok {
			invalidInput(w, "image", "image not found")
			return
		}
		if req.UserData != nil && len(*req.UserData) > maxUserData {
			invalidInput(w, "user_data", "must be at most 32 KiB")
			return
		}
		sv.s.Image = &im
		if req.UserData != nil {
			sv.userData = *req.UserData
		}
		ac := f.newAction("rebuild_server", setStatus("rebuilding", "running"), res)
		resp := schema.ServerActionRebuildResponse{Action: ac.a}
		if !sv.hasKeys {
			pw := fmt.Sprintf("fake-root-password-%d", ac.a.ID)
			resp.RootPassword = &pw
		}
		writeJSON(w, http.StatusCreated, resp)
	default:
		notFound(w, "action")
	}
}
