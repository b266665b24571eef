package fake

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// zone is a primary DNS zone and its rrsets, keyed "name/type" (the API's
// rrset id).
type zone struct {
	z      schema.Zone
	rrsets map[string]*schema.ZoneRRSet
}

var (
	zoneNameRE  = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	rrsetNameRE = regexp.MustCompile(`^(@|\*|(\*\.)?[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*)$`)
	rrsetTypes  = []string{"A", "AAAA", "CAA", "CNAME", "DS", "HINFO", "HTTPS", "MX", "NS", "PTR", "RP", "SOA", "SRV", "SVCB", "TLSA", "TXT"}
)

// AddZone creates a primary zone directly, without an API call (so it is
// not counted as a write), for tests that start with a zone in place.
func (f *Fake) AddZone(name string) schema.Zone {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.renderZone(f.newZone(name, 3600, map[string]string{}))
}

func (f *Fake) newZone(name string, ttl int, labels map[string]string) *zone {
	z := &zone{
		z: schema.Zone{
			ID: f.id(), Name: name, Created: f.now(), TTL: ttl, Mode: "primary", Labels: labels,
			Status: "ok", Registrar: "other", PrimaryNameservers: []schema.ZonePrimaryNameserver{},
			AuthoritativeNameservers: schema.ZoneAuthoritativeNameservers{
				Assigned:  []string{"hydrogen.ns.hetzner.com.", "oxygen.ns.hetzner.com.", "helium.ns.hetzner.de."},
				Delegated: []string{}, DelegationStatus: "unknown",
			},
		},
		rrsets: map[string]*schema.ZoneRRSet{},
	}
	// Like the real service, a new zone starts with its SOA and NS sets.
	z.put(&schema.ZoneRRSet{Name: "@", Type: "SOA", Records: []schema.ZoneRRSetRecord{{
		Value: "hydrogen.ns.hetzner.com. dns.hetzner.com. 2026010100 86400 10800 3600000 3600"}}})
	z.put(&schema.ZoneRRSet{Name: "@", Type: "NS", Records: []schema.ZoneRRSetRecord{
		{Value: "hydrogen.ns.hetzner.com."}, {Value: "oxygen.ns.hetzner.com."}, {Value: "helium.ns.hetzner.de."}}})
	f.zones[z.z.ID] = z
	return z
}

func (z *zone) put(rs *schema.ZoneRRSet) {
	rs.ID = rs.Name + "/" + rs.Type
	rs.Zone = z.z.ID
	if rs.Labels == nil {
		rs.Labels = map[string]string{}
	}
	if rs.Records == nil {
		rs.Records = []schema.ZoneRRSetRecord{}
	}
	z.rrsets[rs.ID] = rs
}

func (f *Fake) renderZone(z *zone) schema.Zone {
	out := z.z
	out.Labels = copyLabels(z.z.Labels)
	out.RecordCount = 0
	for _, rs := range z.rrsets {
		out.RecordCount += len(rs.Records)
	}
	return out
}

func renderRRSet(rs *schema.ZoneRRSet) schema.ZoneRRSet {
	out := *rs
	out.Labels = copyLabels(rs.Labels)
	out.Records = append([]schema.ZoneRRSetRecord{}, rs.Records...)
	return out
}

// sortedRRSets is in name, then type order.
func (z *zone) sortedRRSets() []*schema.ZoneRRSet {
	var out []*schema.ZoneRRSet
	for _, rs := range z.rrsets {
		out = append(out, rs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// findZone resolves {zone}: an id or a name.
func (f *Fake) findZone(w http.ResponseWriter, r *http.Request) *zone {
	key := r.PathValue("zone")
	if id, err := strconv.ParseInt(key, 10, 64); err == nil {
		if z := f.zones[id]; z != nil {
			return z
		}
	}
	for _, z := range f.zones {
		if z.z.Name == key {
			return z
		}
	}
	notFound(w, "zone")
	return nil
}

func (f *Fake) listZones(w http.ResponseWriter, r *http.Request) {
	sel, ok := selectorParam(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var out []schema.Zone
	for _, id := range sortedKeys(f.zones) {
		z := f.zones[id]
		if n := q.Get("name"); n != "" && z.z.Name != n {
			continue
		}
		if m := q.Get("mode"); m != "" && z.z.Mode != m {
			continue
		}
		if !sel.matches(z.z.Labels) {
			continue
		}
		out = append(out, f.renderZone(z))
	}
	writePage(w, r, "zones", out)
}

func (f *Fake) getZone(w http.ResponseWriter, r *http.Request) {
	if z := f.findZone(w, r); z != nil {
		writeJSON(w, http.StatusOK, schema.ZoneGetResponse{Zone: f.renderZone(z)})
	}
}

func (f *Fake) createZone(w http.ResponseWriter, r *http.Request) {
	var req schema.ZoneCreateRequest
	if !decode(w, r, &req) {
		return
	}
	if !zoneNameRE.MatchString(req.Name) {
		invalidInput(w, "name", "must be a domain name")
		return
	}
	if req.Mode != "primary" {
		invalidInput(w, "mode", "this fake only serves primary zones")
		return
	}
	for _, z := range f.zones {
		if z.z.Name == req.Name {
			uniqueness(w, "name", "zone already exists")
			return
		}
	}
	labels := labelsOf(req.Labels)
	if msg := checkLabels(labels); msg != "" {
		invalidInput(w, "labels", msg)
		return
	}
	ttl := 3600
	if req.TTL != nil {
		ttl = *req.TTL
	}
	z := f.newZone(req.Name, ttl, labels)
	for _, rs := range req.RRSets {
		z.put(&schema.ZoneRRSet{Name: rs.Name, Type: rs.Type, TTL: rs.TTL, Labels: labelsOf(rs.Labels), Records: rs.Records})
	}
	ac := f.newAction("create_zone", nil, ref("zone", z.z.ID))
	writeJSON(w, http.StatusCreated, schema.ZoneCreateResponse{Zone: f.renderZone(z), Action: ac.a})
}

func (f *Fake) listRRSets(w http.ResponseWriter, r *http.Request) {
	z := f.findZone(w, r)
	if z == nil {
		return
	}
	sel, ok := selectorParam(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var out []schema.ZoneRRSet
	for _, rs := range z.sortedRRSets() {
		if n := q.Get("name"); n != "" && rs.Name != n {
			continue
		}
		if ts := q["type"]; len(ts) > 0 && !slices.Contains(ts, rs.Type) {
			continue
		}
		if !sel.matches(rs.Labels) {
			continue
		}
		out = append(out, renderRRSet(rs))
	}
	writePage(w, r, "rrsets", out)
}

// pathRRSet resolves {zone}/rrsets/{name}/{type}.
func (f *Fake) pathRRSet(w http.ResponseWriter, r *http.Request) (*zone, *schema.ZoneRRSet) {
	z := f.findZone(w, r)
	if z == nil {
		return nil, nil
	}
	rs := z.rrsets[r.PathValue("name")+"/"+r.PathValue("type")]
	if rs == nil {
		notFound(w, "rrset")
		return nil, nil
	}
	return z, rs
}

func (f *Fake) getRRSet(w http.ResponseWriter, r *http.Request) {
	if _, rs := f.pathRRSet(w, r); rs != nil {
		writeJSON(w, http.StatusOK, schema.ZoneRRSetGetResponse{RRSet: renderRRSet(rs)})
	}
}

// checkRecords validates values the fake understands (A, AAAA) and
// rejects empty values; other types are taken as given.
func checkRecords(typ string, recs []schema.ZoneRRSetRecord) string {
	for _, rec := range recs {
		ip := net.ParseIP(rec.Value)
		switch {
		case strings.TrimSpace(rec.Value) == "":
			return "record value must not be empty"
		case typ == "A" && (ip == nil || ip.To4() == nil):
			return fmt.Sprintf("%q is not an IPv4 address", rec.Value)
		case typ == "AAAA" && (ip == nil || ip.To4() != nil):
			return fmt.Sprintf("%q is not an IPv6 address", rec.Value)
		}
	}
	return ""
}

// The rrset calls that start an action are refused while another action
// runs on the zone. Unverified: no source says the API locks a zone
// during create_rrset and the like; its actions name the zone as their
// resource, which is what locking follows for servers.

func (f *Fake) createRRSet(w http.ResponseWriter, r *http.Request) {
	z := f.findZone(w, r)
	if z == nil || f.refuseLocked(w, "zone", z.z.ID) {
		return
	}
	var req schema.ZoneRRSetCreateRequest
	if !decode(w, r, &req) {
		return
	}
	if !rrsetNameRE.MatchString(req.Name) {
		invalidInput(w, "name", "must be a relative name or @")
		return
	}
	if !slices.Contains(rrsetTypes, req.Type) {
		invalidInput(w, "type", "unknown record type")
		return
	}
	if z.rrsets[req.Name+"/"+req.Type] != nil {
		uniqueness(w, "name", "rrset %s/%s already exists", req.Name, req.Type)
		return
	}
	if msg := checkRecords(req.Type, req.Records); msg != "" {
		invalidInput(w, "records", msg)
		return
	}
	labels := labelsOf(req.Labels)
	if msg := checkLabels(labels); msg != "" {
		invalidInput(w, "labels", msg)
		return
	}
	rs := &schema.ZoneRRSet{Name: req.Name, Type: req.Type, TTL: req.TTL, Labels: labels, Records: dedupe(req.Records)}
	z.put(rs)
	ac := f.newAction("create_rrset", nil, ref("zone", z.z.ID))
	writeJSON(w, http.StatusCreated, schema.ZoneRRSetCreateResponse{RRSet: renderRRSet(rs), Action: ac.a})
}

func (f *Fake) updateRRSet(w http.ResponseWriter, r *http.Request) {
	_, rs := f.pathRRSet(w, r)
	if rs == nil {
		return
	}
	var req schema.ZoneRRSetUpdateRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Labels != nil {
		l := labelsOf(req.Labels)
		if msg := checkLabels(l); msg != "" {
			invalidInput(w, "labels", msg)
			return
		}
		rs.Labels = l
	}
	writeJSON(w, http.StatusOK, schema.ZoneRRSetUpdateResponse{RRSet: renderRRSet(rs)})
}

func (f *Fake) deleteRRSet(w http.ResponseWriter, r *http.Request) {
	z, rs := f.pathRRSet(w, r)
	if rs == nil || f.refuseLocked(w, "zone", z.z.ID) {
		return
	}
	if rs.Type == "SOA" {
		apiError(w, http.StatusUnprocessableEntity, "protected", "the SOA rrset cannot be deleted")
		return
	}
	delete(z.rrsets, rs.ID)
	ac := f.newAction("delete_rrset", nil, ref("zone", z.z.ID))
	writeJSON(w, http.StatusCreated, schema.ActionGetResponse{Action: ac.a})
}

// rrsetAction serves set_records, add_records (which creates the rrset
// when it is missing), remove_records (which deletes the rrset once it is
// empty) and change_ttl.
func (f *Fake) rrsetAction(w http.ResponseWriter, r *http.Request) {
	z := f.findZone(w, r)
	if z == nil || f.refuseLocked(w, "zone", z.z.ID) {
		return
	}
	name, typ := r.PathValue("name"), r.PathValue("type")
	rs := z.rrsets[name+"/"+typ]
	act := r.PathValue("action")
	if rs == nil && act != "add_records" {
		notFound(w, "rrset")
		return
	}
	switch act {
	case "set_records", "add_records", "remove_records":
		var req schema.ZoneRRSetAddRecordsRequest // the three bodies share "records"
		if !decode(w, r, &req) {
			return
		}
		if msg := checkRecords(typ, req.Records); msg != "" {
			invalidInput(w, "records", msg)
			return
		}
		switch act {
		case "set_records":
			if len(req.Records) == 0 {
				invalidInput(w, "records", "must not be empty; delete the rrset instead")
				return
			}
			rs.Records = dedupe(req.Records)
		case "add_records":
			if rs == nil {
				if !rrsetNameRE.MatchString(name) || !slices.Contains(rrsetTypes, typ) {
					invalidInput(w, "name", "bad rrset name or type")
					return
				}
				rs = &schema.ZoneRRSet{Name: name, Type: typ}
				z.put(rs)
			}
			if req.TTL != nil {
				rs.TTL = req.TTL
			}
			rs.Records = dedupe(append(rs.Records, req.Records...))
		case "remove_records":
			rs.Records = slices.DeleteFunc(rs.Records, func(x schema.ZoneRRSetRecord) bool {
				return slices.ContainsFunc(req.Records, func(y schema.ZoneRRSetRecord) bool { return x.Value == y.Value })
			})
			if len(rs.Records) == 0 {
				delete(z.rrsets, rs.ID)
			}
		}
	case "change_ttl":
		var req schema.ZoneRRSetChangeTTLRequest
		if !decode(w, r, &req) {
			return
		}
		rs.TTL = req.TTL
	default:
		notFound(w, "action")
		return
	}
	ac := f.newAction(act, nil, ref("zone", z.z.ID))
	writeJSON(w, http.StatusCreated, schema.ActionGetResponse{Action: ac.a})
}

func dedupe(recs []schema.ZoneRRSetRecord) []schema.ZoneRRSetRecord {
	out := []schema.ZoneRRSetRecord{}
	for _, r := range recs {
		if !slices.ContainsFunc(out, func(x schema.ZoneRRSetRecord) bool { return x.Value == r.Value }) {
			out = append(out, r)
		}
	}
	return out
}
