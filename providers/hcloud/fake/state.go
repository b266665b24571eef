package fake

import (
	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// State accessors return copies as the API would render them, in id
// order, so tests can assert on the whole project without API calls.

// Servers returns every server.
func (f *Fake) Servers() []schema.Server {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []schema.Server
	for _, id := range sortedKeys(f.servers) {
		out = append(out, f.renderServer(f.servers[id]))
	}
	return out
}

// Server returns the server with this name.
func (f *Fake) Server(name string) (schema.Server, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sv := f.serverByName(name); sv != nil {
		return f.renderServer(sv), true
	}
	return schema.Server{}, false
}

// UserData returns the user data the named server was created or last
// rebuilt with.
func (f *Fake) UserData(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sv := f.serverByName(name); sv != nil {
		return sv.userData
	}
	return ""
}

// PrimaryIPs returns every primary IP.
func (f *Fake) PrimaryIPs() []schema.PrimaryIP {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []schema.PrimaryIP
	for _, id := range sortedKeys(f.primaryIPs) {
		out = append(out, renderPrimaryIP(f.primaryIPs[id]))
	}
	return out
}

// Firewalls returns every firewall, label selectors resolved.
func (f *Fake) Firewalls() []schema.Firewall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []schema.Firewall
	for _, id := range sortedKeys(f.firewalls) {
		out = append(out, f.renderFirewall(f.firewalls[id]))
	}
	return out
}

// SSHKeys returns every SSH key.
func (f *Fake) SSHKeys() []schema.SSHKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []schema.SSHKey
	for _, id := range sortedKeys(f.sshKeys) {
		out = append(out, renderSSHKey(f.sshKeys[id]))
	}
	return out
}

// PlacementGroups returns every placement group.
func (f *Fake) PlacementGroups() []schema.PlacementGroup {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []schema.PlacementGroup
	for _, id := range sortedKeys(f.placements) {
		out = append(out, f.renderPlacementGroup(f.placements[id]))
	}
	return out
}

// RRSets returns the rrsets of the named zone, SOA and NS included.
func (f *Fake) RRSets(zoneName string) []schema.ZoneRRSet {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []schema.ZoneRRSet
	for _, z := range f.zones {
		if z.z.Name != zoneName {
			continue
		}
		for _, rs := range z.sortedRRSets() {
			out = append(out, renderRRSet(rs))
		}
	}
	return out
}

// RunningActions counts actions that have not finished.
func (f *Fake) RunningActions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, ac := range f.actions {
		if ac.a.Status == "running" {
			n++
		}
	}
	return n
}
