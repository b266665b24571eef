// Package fake is a FAKE of the Hetzner Cloud API for tests; it follows the
// published API and hcloud-go's schema types; it is not the real service.
//
// It is stateful, so the real hcloud-go client can be pointed at it
// (hcloud.WithEndpoint(url+"/v1")) and a provider can be tested the way it
// runs: servers, actions, SSH keys, firewalls, primary IPs, placement
// groups, DNS zones and rrsets, the catalogue (locations, server types,
// images), label selectors, pagination and bearer auth. Tests read its
// state directly (Servers, PrimaryIPs, …), count its write calls (Writes)
// and script failures (Inject).
//
// # Upstream it follows
//
// hcloud-go v2.47.0 (the version go.mod pins): its schema package for
// every body, hcloud/error.go for error codes, and its CHANGELOG for the
// API's dated changes, which the fake applies as of late 2026:
//
//   - GET /actions without id answers 410 deprecated_api_endpoint (removed
//     2025-01-30; hcloud-go commit cf2d426, hcloud/action.go);
//   - GET /datacenters answers 410 deprecated_api_endpoint (gone after
//     2026-10-01; CHANGELOG v2.44.0);
//   - POST /primary_ips takes no assignee_type, and an unassigned primary
//     IP shows assignee_type "unassigned" (CHANGELOG v2.39.0, since
//     2026-08-01);
//   - POST /servers takes the location by id or name (hcloud/server.go
//     sends the id when it knows it).
//
// Status codes come from the API reference's error table
// (docs.hetzner.cloud/reference/cloud): 410 deprecated_api_endpoint, 423
// locked. Error messages are the fake's own words; codes and body shape
// ({"error":{"code","message","details"}}) are upstream's. Fixtures of
// upstream's bodies are in testdata/upstream/hcloud; contract tests in
// providers/hcloud check the fake against them.
//
// # Locks
//
// A call that would start an action on a server (any server action,
// DELETE) while another action on it runs is refused with 423 locked, as
// the API does. Calls that start an action on a zone (rrset create,
// delete and actions) are refused likewise while a zone action runs;
// that zones lock is unverified upstream (no source says so; their
// actions do name the zone as resource). Each refusal counts as one poll
// of the blocking action, so a lock ends even when nobody waits for it.
//
// # The official CLI against it
//
// The hcloud CLI v1.67.0, built from hetznercloud/cli at that tag, was
// run against testdata/fakehcloud (2026-12-05) and did, with exit 0:
// ssh-key create; location, server-type and image list; primary-ip
// create --type ipv4 --location fsn1 (no assignee) and list, describe;
// firewall create, add-rule, apply-to-resource --type label_selector;
// server create --type cx22 --image ubuntu-24.04 --location fsn1
// --ssh-key op --label role=bbb [--primary-ipv4 ip1], list, describe,
// poweroff, delete; zone list; zone rrset create, list, set-records,
// describe, delete. Refusals as the API's: server create on a primary IP
// of another location (primary_ip_datacenter_mismatch), firewall delete
// while applied (resource_in_use). TestOfficialCLI repeats the main ones
// when an hcloud binary is on PATH.
//
// # What it leaves out
//
// Every call is served under one lock; actions finish after ActionPolls
// reads instead of after time passes; the catalogue is a short fixed
// list (every server type offered in every location, no prices);
// sorting parameters are ignored (lists are in id order); volumes,
// networks, load balancers, floating IPs, certificates and storage boxes
// are not served. IPv4 addresses come from 127.77.0.0/16 and IPv6
// networks from 2001:db8::/32, so a tool that dials a fake server by
// mistake reaches this machine's loopback, never a real host.
package fake

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// Fake is an in-memory Hetzner Cloud project. The zero value is not
// usable; call New.
type Fake struct {
	mu sync.Mutex

	token string
	// ActionPolls is how many reads an action stays "running" before it
	// finishes; 0 makes actions finish as they start. Default 2.
	ActionPolls int

	now    func() time.Time
	nextID int64
	ipv4   int
	ipv6   int

	servers    map[int64]*server
	actions    map[int64]*action
	sshKeys    map[int64]*schema.SSHKey
	firewalls  map[int64]*schema.Firewall
	primaryIPs map[int64]*schema.PrimaryIP
	placements map[int64]*schema.PlacementGroup
	zones      map[int64]*zone

	faults []*Fault
	calls  []Call
	// actionErr is set for the request being served when a Fault says its
	// action must end in error; newAction consumes it.
	actionErr *schema.ActionError

	mux *http.ServeMux
}

// Call is one request the fake received.
type Call struct {
	Method string
	Path   string // without the /v1 prefix, without the query
	Query  string
	Status int
}

// New returns an empty project that accepts token.
func New(token string) *Fake {
	f := &Fake{
		token:       token,
		ActionPolls: 2,
		now:         time.Now,
		servers:     map[int64]*server{},
		actions:     map[int64]*action{},
		sshKeys:     map[int64]*schema.SSHKey{},
		firewalls:   map[int64]*schema.Firewall{},
		primaryIPs:  map[int64]*schema.PrimaryIP{},
		placements:  map[int64]*schema.PlacementGroup{},
		zones:       map[int64]*zone{},
	}
	f.routes()
	return f
}

// Serve starts f on a loopback httptest server, closed when the test ends,
// and returns the fake and its API endpoint (…/v1).
func Serve(tb testing.TB, token string) (*Fake, string) {
	tb.Helper()
	f := New(token)
	ts := httptest.NewServer(f)
	tb.Cleanup(ts.Close)
	return f, ts.URL + "/v1"
}

func (f *Fake) routes() {
	m := http.NewServeMux()
	h := func(pattern string, fn http.HandlerFunc) { m.HandleFunc(pattern, fn) }

	h("GET /v1/actions", f.listActions)
	h("GET /v1/actions/{id}", f.getAction)
	for _, res := range []string{"servers", "firewalls", "primary_ips"} {
		h("GET /v1/"+res+"/actions/{id}", f.getAction)
	}

	h("GET /v1/locations", f.listLocations)
	h("GET /v1/locations/{id}", f.getLocation)
	h("GET /v1/server_types", f.listServerTypes)
	h("GET /v1/server_types/{id}", f.getServerType)
	h("GET /v1/images", f.listImages)
	h("GET /v1/images/{id}", f.getImage)
	h("GET /v1/datacenters", f.datacentersGone)
	h("GET /v1/datacenters/{id}", f.datacentersGone)

	h("GET /v1/servers", f.listServers)
	h("POST /v1/servers", f.createServer)
	h("GET /v1/servers/{id}", f.getServer)
	h("PUT /v1/servers/{id}", f.updateServer)
	h("DELETE /v1/servers/{id}", f.deleteServer)
	h("POST /v1/servers/{id}/actions/{action}", f.serverAction)

	h("GET /v1/ssh_keys", f.listSSHKeys)
	h("POST /v1/ssh_keys", f.createSSHKey)
	h("GET /v1/ssh_keys/{id}", f.getSSHKey)
	h("DELETE /v1/ssh_keys/{id}", f.deleteSSHKey)

	h("GET /v1/firewalls", f.listFirewalls)
	h("POST /v1/firewalls", f.createFirewall)
	h("GET /v1/firewalls/{id}", f.getFirewall)
	h("DELETE /v1/firewalls/{id}", f.deleteFirewall)
	h("POST /v1/firewalls/{id}/actions/{action}", f.firewallAction)

	h("GET /v1/primary_ips", f.listPrimaryIPs)
	h("POST /v1/primary_ips", f.createPrimaryIP)
	h("GET /v1/primary_ips/{id}", f.getPrimaryIP)
	h("PUT /v1/primary_ips/{id}", f.updatePrimaryIP)
	h("DELETE /v1/primary_ips/{id}", f.deletePrimaryIP)
	h("POST /v1/primary_ips/{id}/actions/{action}", f.primaryIPAction)

	h("GET /v1/placement_groups", f.listPlacementGroups)
	h("POST /v1/placement_groups", f.createPlacementGroup)
	h("GET /v1/placement_groups/{id}", f.getPlacementGroup)
	h("DELETE /v1/placement_groups/{id}", f.deletePlacementGroup)

	h("GET /v1/zones", f.listZones)
	h("POST /v1/zones", f.createZone)
	h("GET /v1/zones/{zone}", f.getZone)
	h("GET /v1/zones/{zone}/rrsets", f.listRRSets)
	h("POST /v1/zones/{zone}/rrsets", f.createRRSet)
	h("GET /v1/zones/{zone}/rrsets/{name}/{type}", f.getRRSet)
	h("PUT /v1/zones/{zone}/rrsets/{name}/{type}", f.updateRRSet)
	h("DELETE /v1/zones/{zone}/rrsets/{name}/{type}", f.deleteRRSet)
	h("POST /v1/zones/{zone}/rrsets/{name}/{type}/actions/{action}", f.rrsetAction)

	f.mux = m
}

// ServeHTTP checks the token, records the call, applies any scripted
// fault, then serves the request under the fake's lock.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()

	path := strings.TrimPrefix(r.URL.Path, "/v1")
	rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		f.calls = append(f.calls, Call{Method: r.Method, Path: path, Query: r.URL.RawQuery, Status: rec.status})
	}()

	want := "Bearer " + f.token
	if got := r.Header.Get("Authorization"); f.token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		apiError(rec, http.StatusUnauthorized, "unauthorized", "unable to authenticate")
		return
	}
	f.actionErr = nil
	if ft := f.fault(r.Method, path); ft != nil {
		if ft.ActionError == "" {
			ft.write(rec)
			return
		}
		f.actionErr = &schema.ActionError{Code: ft.ActionError, Message: "scripted action failure"}
	}
	f.mux.ServeHTTP(rec, r)
	f.actionErr = nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Calls returns every request received so far, in order.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// Writes counts the POST, PUT and DELETE requests received so far,
// failed ones included: "a second run makes no API writes" is Writes()
// unchanged.
func (f *Fake) Writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if isWrite(c.Method) {
			n++
		}
	}
	return n
}

// WriteCalls returns the write requests received so far.
func (f *Fake) WriteCalls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Call
	for _, c := range f.calls {
		if isWrite(c.Method) {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls forgets the recorded calls (state is kept).
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

func isWrite(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodDelete
}

func (f *Fake) id() int64 {
	f.nextID++
	return f.nextID
}

// apiError writes the API's error body: {"error":{"code","message","details"}}.
func apiError(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":    code,
		"message": fmt.Sprintf(format, args...),
		"details": nil,
	}})
}

// invalidInput is the API's 422 for a bad field (the API reference's
// error table: 422 invalid_input; 400 is json_error).
func invalidInput(w http.ResponseWriter, field, msg string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": map[string]any{
		"code":    "invalid_input",
		"message": "invalid input in field '" + field + "'",
		"details": map[string]any{"fields": []map[string]any{{"name": field, "messages": []string{msg}}}},
	}})
}

// deprecated is the API's 410 for functionality it removed, with the
// changelog entry that announced it (hcloud-go schema.ErrorDetailsDeprecatedAPIEndpoint).
func deprecated(w http.ResponseWriter, announcement string) {
	writeJSON(w, http.StatusGone, map[string]any{"error": map[string]any{
		"code":    "deprecated_api_endpoint",
		"message": "API functionality was removed",
		"details": map[string]any{"announcement": announcement},
	}})
}

// uniqueness is the API's 409 for a field that must be unique, naming
// the field in details as the API reference's example does.
func uniqueness(w http.ResponseWriter, field, format string, args ...any) {
	writeJSON(w, http.StatusConflict, map[string]any{"error": map[string]any{
		"code":    "uniqueness_error",
		"message": fmt.Sprintf(format, args...),
		"details": map[string]any{"fields": []map[string]any{{"name": field}}},
	}})
}

func notFound(w http.ResponseWriter, what string) {
	apiError(w, http.StatusNotFound, "not_found", "%s not found", what)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body, answering json_error itself when it is bad.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		apiError(w, http.StatusBadRequest, "json_error", "invalid JSON: %v", err)
		return false
	}
	return true
}

// pathID parses the {id} path value; the API answers not_found for ids
// that are not numbers.
func pathID(r *http.Request) (int64, bool) {
	var id int64
	_, err := fmt.Sscan(r.PathValue("id"), &id)
	return id, err == nil && id > 0
}

func labelsOf(p *map[string]string) map[string]string {
	out := map[string]string{}
	if p != nil {
		for k, v := range *p {
			out[k] = v
		}
	}
	return out
}
