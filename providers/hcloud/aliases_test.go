package hcloud

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/omc-coop/omc/providers"
)

var _ providers.Aliases = (*Provider)(nil)

// Tenants' sub-domains carry the pool domain's A and AAAA records, made
// once, followed when the address moves, and deleted when unnamed.
func TestAliasesFollowTheirTargetAndGo(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	inv, g := loadInv(t, "coop", 1, "")
	ms := e.create(inv, g)
	target := "coop-bbb-1.example.org"
	names := []string{"school-a.coop-bbb-1.example.org", "school-b.coop-bbb-1.example.org"}
	var v6 string
	for _, r := range e.records() {
		if strings.HasPrefix(r, "coop-bbb-1 AAAA ") {
			v6 = strings.TrimPrefix(r, "coop-bbb-1 AAAA ")
		}
	}

	// dry: the changes, none made
	e.fake.ResetCalls()
	changes, err := e.p.SyncAliases(ctx, inv, g, target, names, true)
	if err != nil || len(changes) != 4 || len(e.writes()) != 0 {
		t.Fatalf("dry: %v %v writes %v", changes, err, e.writes())
	}
	changes, err = e.p.SyncAliases(ctx, inv, g, target, names, false)
	e.checkErr(err)
	want := []string{
		"coop-bbb-1 A " + ms[0].Address, "coop-bbb-1 AAAA " + v6,
		"school-a.coop-bbb-1 A " + ms[0].Address, "school-a.coop-bbb-1 AAAA " + v6,
		"school-b.coop-bbb-1 A " + ms[0].Address, "school-b.coop-bbb-1 AAAA " + v6,
	}
	if got := e.records(); !slices.Equal(got, want) || len(changes) != 4 {
		t.Fatalf("records = %v\nchanges %v", got, changes)
	}
	for _, rs := range e.fake.RRSets("example.org") {
		if strings.HasPrefix(rs.Name, "school-") && (rs.Labels[LabelAlias] != "true" || rs.Labels[LabelGroup] != "eu" || rs.Labels[LabelNode] != "") {
			t.Errorf("%s %s labels %v", rs.Name, rs.Type, rs.Labels)
		}
	}
	if !strings.Contains(e.stderr.String(), "creating record school-a.coop-bbb-1.example.org A") {
		t.Errorf("no line for the new record:\n%s", e.stderr.String())
	}

	// A second run writes nothing.
	e.fake.ResetCalls()
	if changes, err := e.p.SyncAliases(ctx, inv, g, target, names, false); err != nil || len(changes) != 0 || len(e.writes()) != 0 {
		t.Fatalf("second run: %v %v writes %v", changes, err, e.writes())
	}

	// The target moves (someone points it elsewhere): the aliases follow.
	z, _, _ := e.client.Zone.GetByName(ctx, "example.org")
	rs, _, _ := e.client.Zone.GetRRSetByNameAndType(ctx, z, "coop-bbb-1", hcloud.ZoneRRSetTypeA)
	rs.Zone = z
	act, _, err := e.client.Zone.SetRRSetRecords(ctx, rs, hcloud.ZoneRRSetSetRecordsOpts{Records: []hcloud.ZoneRRSetRecord{{Value: "127.0.0.9"}}})
	e.checkErr(err)
	e.checkErr(e.client.Action.WaitFor(ctx, act))
	e.fake.ResetCalls()
	_, err = e.p.SyncAliases(ctx, inv, g, target, names, false)
	e.checkErr(err)
	if got := e.records(); !slices.Contains(got, "school-a.coop-bbb-1 A 127.0.0.9") || !slices.Contains(got, "school-b.coop-bbb-1 A 127.0.0.9") || len(e.writes()) != 2 {
		t.Fatalf("after the move: %v writes %v", got, e.writes())
	}

	// school-a is no longer named: its records go, school-b's stay, and
	// the node's own are never touched.
	e.fake.ResetCalls()
	_, err = e.p.SyncAliases(ctx, inv, g, target, names[1:], false)
	e.checkErr(err)
	got := e.records()
	if slices.ContainsFunc(got, func(r string) bool { return strings.HasPrefix(r, "school-a.") }) || !slices.Contains(got, "school-b.coop-bbb-1 AAAA "+v6) || !slices.Contains(got, "coop-bbb-1 AAAA "+v6) {
		t.Fatalf("after removing school-a: %v", got)
	}
	for _, w := range e.writes() {
		if !strings.HasPrefix(w, "DELETE ") || !strings.Contains(w, "/rrsets/school-a.coop-bbb-1/") {
			t.Errorf("unexpected write %s", w)
		}
	}
	if len(e.writes()) != 2 {
		t.Errorf("writes %v", e.writes())
	}
	// None left: every alias goes.
	_, err = e.p.SyncAliases(ctx, inv, g, target, nil, false)
	e.checkErr(err)
	if got := e.records(); len(got) != 2 {
		t.Fatalf("after removing all: %v", got)
	}
}

// A record omc did not make is never taken over, nor a node's own.
func TestAliasDoesNotTakeOverRecords(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	inv, g := loadInv(t, "coop", 2, "")
	e.create(inv, g)
	z, _, _ := e.client.Zone.GetByName(ctx, "example.org")
	_, _, err := e.client.Zone.CreateRRSet(ctx, z, hcloud.ZoneRRSetCreateOpts{Name: "school-a.coop-bbb-1", Type: "A", Records: []hcloud.ZoneRRSetRecord{{Value: "127.0.0.8"}}})
	e.checkErr(err)
	_, err = e.p.SyncAliases(ctx, inv, g, "coop-bbb-1.example.org", []string{"school-a.coop-bbb-1.example.org"}, false)
	if err == nil || !strings.Contains(err.Error(), "omc did not make it") {
		t.Fatalf("foreign: %v", err)
	}
	_, err = e.p.SyncAliases(ctx, inv, g, "coop-bbb-1.example.org", []string{"coop-bbb-2.example.org"}, false)
	if err == nil || !strings.Contains(err.Error(), "belongs to node coop-bbb-2") {
		t.Fatalf("a node's record: %v", err)
	}
	if got := e.records(); !slices.Contains(got, "school-a.coop-bbb-1 A 127.0.0.8") || len(got) != 5 {
		t.Fatalf("records changed: %v", got)
	}
	// A target without addresses, a name outside the zone, no zone.
	_, err = e.p.SyncAliases(ctx, inv, g, "nowhere.example.org", []string{"x.nowhere.example.org"}, false)
	if err == nil || !strings.Contains(err.Error(), "nowhere.example.org has no A or AAAA record in DNS zone example.org") {
		t.Fatalf("no target: %v", err)
	}
	_, err = e.p.SyncAliases(ctx, inv, g, "coop-bbb-1.example.org", []string{"school.example.net"}, false)
	if err == nil || !strings.Contains(err.Error(), "not in DNS zone example.org") {
		t.Fatalf("outside: %v", err)
	}
	g.DNSZone = ""
	if _, err := e.p.SyncAliases(ctx, inv, g, "coop-bbb-1.example.org", nil, false); !errors.Is(err, providers.ErrNoDNS) {
		t.Fatalf("no zone: %v", err)
	}
}
