package fake_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
	"github.com/hetznercloud/hcloud-go/v2/hcloud/exp/actionutil"
)

// These tests pin behaviour the real API has and an earlier fake lacked
// (issue 18); each names its source.

// hcloud-go hcloud/error.go ErrorCodeLocked: "Item is locked (Another
// action is running)"; docs.hetzner.cloud Errors table: 423 locked.
func TestServerLockedWhileItsActionRuns(t *testing.T) {
	f, c := client(t)
	f.ActionPolls = 3
	ctx := context.Background()
	res, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "a", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-24.04"}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Server.RebuildWithResult(ctx, res.Server, hcloud.ServerRebuildOpts{Image: &hcloud.Image{Name: "debian-12"}})
	if !hcloud.IsError(err, hcloud.ErrorCodeLocked) {
		t.Fatalf("rebuild while create_server runs: err = %v, want locked", err)
	}
	var apiErr hcloud.Error
	if !errors.As(err, &apiErr) || apiErr.Response() == nil || apiErr.Response().StatusCode != http.StatusLocked {
		resp := apiErr.Response()
		t.Fatalf("locked should come with HTTP 423: %+v", resp)
	}
	if _, _, err := c.Server.Poweroff(ctx, res.Server); !hcloud.IsError(err, hcloud.ErrorCodeLocked) {
		t.Fatalf("poweroff while create_server runs: err = %v, want locked", err)
	}
	if err := c.Action.WaitFor(ctx, actionutil.AppendNext(res.Action, res.NextActions)...); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Server.RebuildWithResult(ctx, res.Server, hcloud.ServerRebuildOpts{Image: &hcloud.Image{Name: "debian-12"}}); err != nil {
		t.Fatalf("rebuild once the server is idle: %v", err)
	}
	// Another server is not locked by this one's rebuild.
	other := createServer(t, c, "b", nil)
	if _, _, err := c.Server.Poweroff(ctx, other); err != nil {
		t.Fatalf("poweroff of an idle server: %v", err)
	}
}

// Unverified upstream: that a zone is locked while an rrset action runs.
func TestZoneLockedWhileRRSetActionRuns(t *testing.T) {
	f, c := client(t)
	f.ActionPolls = 3
	ctx := context.Background()
	f.AddZone("example.org")
	f.AddZone("example.net")
	z, _, _ := c.Zone.GetByName(ctx, "example.org")
	other, _, _ := c.Zone.GetByName(ctx, "example.net")
	rec := []hcloud.ZoneRRSetRecord{{Value: "127.77.0.1"}}
	res, _, err := c.Zone.CreateRRSet(ctx, z, hcloud.ZoneRRSetCreateOpts{Name: "a", Type: "A", Records: rec})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Zone.CreateRRSet(ctx, z, hcloud.ZoneRRSetCreateOpts{Name: "b", Type: "A", Records: rec}); !hcloud.IsError(err, hcloud.ErrorCodeLocked) {
		t.Fatalf("second rrset in a busy zone: err = %v, want locked", err)
	}
	if _, _, err := c.Zone.CreateRRSet(ctx, other, hcloud.ZoneRRSetCreateOpts{Name: "b", Type: "A", Records: rec}); err != nil {
		t.Fatalf("rrset in another zone: %v", err)
	}
	waitActions(t, c, res.Action)
	if _, _, err := c.Zone.CreateRRSet(ctx, z, hcloud.ZoneRRSetCreateOpts{Name: "b", Type: "A", Records: rec}); err != nil {
		t.Fatalf("rrset once the zone is idle: %v", err)
	}
}

// A lock nobody waits out still ends: each refusal counts as a poll.
func TestLockEndsAfterRefusals(t *testing.T) {
	f, c := client(t)
	f.ActionPolls = 2
	ctx := context.Background()
	res, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "a", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-24.04"}, StartAfterCreate: hcloud.Ptr(false)})
	if err != nil {
		t.Fatal(err)
	}
	var errs int
	for range 5 {
		if _, _, err := c.Server.Poweron(ctx, res.Server); err == nil {
			break
		}
		errs++
	}
	if errs != 2 {
		t.Fatalf("poweron refused %d times, want ActionPolls=2", errs)
	}
}

// hcloud-go action.go: ids are required since 2025-01-30; commit cf2d426:
// "returns a deprecated_api_endpoint response otherwise"; docs: 410.
func TestActionsListNeedsIDs(t *testing.T) {
	_, c := client(t)
	createServer(t, c, "a", nil)
	_, err := c.Action.All(context.Background()) //nolint:staticcheck // the removed call, on purpose
	if !hcloud.IsError(err, hcloud.ErrorDeprecatedAPIEndpoint) {
		t.Fatalf("GET /actions without id: err = %v, want deprecated_api_endpoint", err)
	}
	d, ok := err.(hcloud.Error).Details.(hcloud.ErrorDetailsDeprecatedAPIEndpoint)
	if !ok || d.Announcement == "" || err.(hcloud.Error).Response().StatusCode != http.StatusGone {
		t.Fatalf("details = %#v, want an announcement and HTTP 410", err.(hcloud.Error).Details)
	}
}

// hcloud-go v2.44.0 CHANGELOG: GET /datacenters answers 410 Gone after
// 2026-10-01.
func TestDatacentersAreGone(t *testing.T) {
	_, c := client(t)
	_, err := c.Datacenter.All(context.Background()) //nolint:staticcheck // deprecated upstream, on purpose
	if !hcloud.IsError(err, hcloud.ErrorDeprecatedAPIEndpoint) {
		t.Fatalf("err = %v, want deprecated_api_endpoint", err)
	}
}

// The CLI resolves names through the catalogue endpoints (hcloud-go
// Location.Get, ServerType.Get, Image.GetForArchitecture).
func TestCatalogue(t *testing.T) {
	_, c := client(t)
	ctx := context.Background()
	loc, _, err := c.Location.Get(ctx, "nbg1")
	if err != nil || loc == nil || loc.Name != "nbg1" {
		t.Fatalf("location nbg1 = %+v, %v", loc, err)
	}
	byID, _, err := c.Location.GetByID(ctx, loc.ID)
	if err != nil || byID == nil || byID.Name != "nbg1" {
		t.Fatalf("location %d = %+v, %v", loc.ID, byID, err)
	}
	locs, err := c.Location.All(ctx)
	if err != nil || len(locs) < 3 {
		t.Fatalf("locations = %d, %v", len(locs), err)
	}
	st, _, err := c.ServerType.Get(ctx, "cx22")
	if err != nil || st == nil || st.Architecture != hcloud.ArchitectureX86 || len(st.Locations) == 0 {
		t.Fatalf("server type cx22 = %+v, %v", st, err)
	}
	im, _, err := c.Image.GetForArchitecture(ctx, "ubuntu-24.04", hcloud.ArchitectureX86)
	if err != nil || im == nil || im.Name != "ubuntu-24.04" {
		t.Fatalf("image = %+v, %v", im, err)
	}
	if im, _, err := c.Image.GetForArchitecture(ctx, "ubuntu-24.04", hcloud.ArchitectureARM); err != nil || im != nil {
		t.Fatalf("an arm image that does not exist = %+v, %v", im, err)
	}
	if st, _, err := c.ServerType.Get(ctx, "cx999"); err != nil || st != nil {
		t.Fatalf("unknown server type = %+v, %v", st, err)
	}
}

// hcloud-go hcloud/server.go sends a location's id when it knows it.
func TestServerLocationByID(t *testing.T) {
	_, c := client(t)
	ctx := context.Background()
	loc, _, _ := c.Location.Get(ctx, "hel1")
	res, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "a", ServerType: &hcloud.ServerType{Name: "cx22"},
		Image: &hcloud.Image{Name: "ubuntu-24.04"}, Location: loc})
	if err != nil {
		t.Fatalf("location by id: %v", err)
	}
	if res.Server.Location.Name != "hel1" {
		t.Fatalf("server in %s, want hel1", res.Server.Location.Name)
	}
}

// hcloud-go v2.39.0 CHANGELOG: assignee_type is optional on create, and
// an unassigned primary IP shows "unassigned" since 2026-08-01.
func TestPrimaryIPWithoutAssignee(t *testing.T) {
	f, c := client(t)
	ctx := context.Background()
	res, _, err := c.PrimaryIP.Create(ctx, hcloud.PrimaryIPCreateOpts{Name: "free", Type: hcloud.PrimaryIPTypeIPv4, Location: "fsn1"})
	if err != nil {
		t.Fatalf("create without assignee_type: %v", err)
	}
	if res.PrimaryIP.AssigneeType != "unassigned" {
		t.Fatalf("assignee_type = %q, want unassigned", res.PrimaryIP.AssigneeType)
	}
	s := createServerOn(t, c, "a", res.PrimaryIP)
	if ip := f.PrimaryIPs()[0]; ip.AssigneeType != "server" || ip.AssigneeID == nil || *ip.AssigneeID != s.ID {
		t.Fatalf("assigned IP = %+v", ip)
	}
	del, _, err := c.Server.DeleteWithResult(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	waitActions(t, c, del.Action)
	if ip := f.PrimaryIPs()[0]; ip.AssigneeType != "unassigned" || ip.AssigneeID != nil {
		t.Fatalf("IP kept after delete = %+v, want unassigned", ip)
	}
}

func createServerOn(t *testing.T, c *hcloud.Client, name string, ip *hcloud.PrimaryIP) *hcloud.Server {
	t.Helper()
	ctx := context.Background()
	res, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: name, ServerType: &hcloud.ServerType{Name: "cx22"},
		Image: &hcloud.Image{Name: "ubuntu-24.04"}, Location: &hcloud.Location{Name: "fsn1"},
		PublicNet: &hcloud.ServerCreatePublicNet{EnableIPv4: true, IPv4: ip}})
	if err != nil {
		t.Fatal(err)
	}
	waitActions(t, c, actionutil.AppendNext(res.Action, res.NextActions)...)
	return res.Server
}
