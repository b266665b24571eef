package fake_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
	"github.com/hetznercloud/hcloud-go/v2/hcloud/exp/actionutil"

	"github.com/omc-coop/omc/providers/hcloud/fake"
)

const token = "fake-token-for-tests"

// client is the real hcloud-go client pointed at a fresh fake.
func client(t *testing.T) (*fake.Fake, *hcloud.Client) {
	t.Helper()
	f, endpoint := fake.Serve(t, token)
	c := hcloud.NewClient(
		hcloud.WithEndpoint(endpoint),
		hcloud.WithToken(token),
		hcloud.WithPollOpts(hcloud.PollOpts{BackoffFunc: hcloud.ConstantBackoff(0)}),
		hcloud.WithRetryOpts(hcloud.RetryOpts{BackoffFunc: hcloud.ConstantBackoff(0), MaxRetries: 5}),
	)
	return f, c
}

func createServer(t *testing.T, c *hcloud.Client, name string, labels map[string]string) *hcloud.Server {
	t.Helper()
	ctx := context.Background()
	res, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{
		Name: name, ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-22.04"},
		Location: &hcloud.Location{Name: "fsn1"}, Labels: labels,
	})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if err := c.Action.WaitFor(ctx, actionutil.AppendNext(res.Action, res.NextActions)...); err != nil {
		t.Fatalf("wait %s: %v", name, err)
	}
	return res.Server
}

func waitActions(t *testing.T, c *hcloud.Client, acs ...*hcloud.Action) {
	t.Helper()
	if err := c.Action.WaitFor(context.Background(), acs...); err != nil {
		t.Fatal(err)
	}
}

func TestAuth(t *testing.T) {
	_, endpoint := fake.Serve(t, token)
	c := hcloud.NewClient(hcloud.WithEndpoint(endpoint), hcloud.WithToken("wrong"))
	_, err := c.Server.All(context.Background())
	if !hcloud.IsError(err, hcloud.ErrorCodeUnauthorized) {
		t.Fatalf("err = %v, want unauthorized", err)
	}
}

func TestServerLifecycle(t *testing.T) {
	f, c := client(t)
	ctx := context.Background()
	s := createServer(t, c, "a", map[string]string{"role": "bbb"})
	got, _, err := c.Server.GetByID(ctx, s.ID)
	if err != nil || got.Status != hcloud.ServerStatusRunning {
		t.Fatalf("server = %+v, %v; want running", got, err)
	}
	if got.PublicNet.IPv4.IP == nil || got.PublicNet.IPv6.Network == nil {
		t.Fatalf("public net = %+v", got.PublicNet)
	}
	if !got.PublicNet.IPv4.IP.IsLoopback() {
		t.Errorf("fake IPv4 %s should be loopback", got.PublicNet.IPv4.IP)
	}
	if f.RunningActions() != 0 {
		t.Errorf("%d actions still running", f.RunningActions())
	}

	_, _, err = c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "a", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-22.04"}})
	if !hcloud.IsError(err, hcloud.ErrorCodeUniquenessError) {
		t.Fatalf("duplicate name: err = %v", err)
	}

	// Auto-created primary IPs go with the server.
	res, _, err := c.Server.DeleteWithResult(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Action.WaitFor(ctx, res.Action); err != nil {
		t.Fatal(err)
	}
	if n := len(f.Servers()) + len(f.PrimaryIPs()); n != 0 {
		t.Fatalf("%d resources left after delete", n)
	}
}

func TestKeptPrimaryIP(t *testing.T) {
	f, c := client(t)
	ctx := context.Background()
	ip, _, err := c.PrimaryIP.Create(ctx, hcloud.PrimaryIPCreateOpts{
		Name: "kept", Type: hcloud.PrimaryIPTypeIPv4, AssigneeType: "server", Location: "fsn1",
		AutoDelete: hcloud.Ptr(false), Labels: map[string]string{"omc/node": "a"},
	})
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{
		Name: "a", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-22.04"},
		Location:  &hcloud.Location{Name: "fsn1"},
		PublicNet: &hcloud.ServerCreatePublicNet{EnableIPv4: true, IPv4: ip.PrimaryIP},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Server.PublicNet.IPv4.IP.Equal(ip.PrimaryIP.IP) {
		t.Fatalf("server got %s, want the kept %s", res.Server.PublicNet.IPv4.IP, ip.PrimaryIP.IP)
	}
	waitActions(t, c, actionutil.AppendNext(res.Action, res.NextActions)...)
	if _, err := c.PrimaryIP.Delete(ctx, ip.PrimaryIP); !hcloud.IsError(err, "must_be_unassigned") {
		t.Fatalf("deleting an assigned IP: err = %v", err)
	}
	if _, _, err := c.Server.DeleteWithResult(ctx, res.Server); err != nil {
		t.Fatal(err)
	}
	ips := f.PrimaryIPs()
	if len(ips) != 1 || ips[0].AssigneeID != nil {
		t.Fatalf("kept IP should survive unassigned: %+v", ips)
	}
	if _, err := c.PrimaryIP.Delete(ctx, ip.PrimaryIP); err != nil {
		t.Fatal(err)
	}
}

func TestLabelSelectors(t *testing.T) {
	_, c := client(t)
	ctx := context.Background()
	createServer(t, c, "a", map[string]string{"env": "prod", "role": "bbb"})
	createServer(t, c, "b", map[string]string{"env": "dev", "role": "bbb"})
	createServer(t, c, "c", map[string]string{"env": "prod"})
	for sel, want := range map[string]string{
		"env=prod":                 "a,c",
		"env==prod":                "a,c",
		"env!=prod":                "b",
		"role":                     "a,b",
		"!role":                    "c",
		"env=prod,role=bbb":        "a",
		"env in (dev,prod)":        "a,b,c",
		"env notin (dev)":          "a,c",
		"role,env notin (prod),!x": "b",
	} {
		ss, err := c.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: sel}})
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		var names []string
		for _, s := range ss {
			names = append(names, s.Name)
		}
		if got := strings.Join(names, ","); got != want {
			t.Errorf("%s: got %s, want %s", sel, got, want)
		}
	}
	_, err := c.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: "a=b,,"}})
	if !hcloud.IsError(err, hcloud.ErrorCodeInvalidInput) {
		t.Errorf("bad selector: err = %v", err)
	}
}

func TestPagination(t *testing.T) {
	f, c := client(t)
	ctx := context.Background()
	for i := range 30 {
		createServer(t, c, fmt.Sprintf("s%02d", i), nil)
	}
	f.ResetCalls()
	ss, err := c.Server.All(ctx) // hcloud-go asks for 50 a page
	if err != nil || len(ss) != 30 {
		t.Fatalf("All: %d servers, %v", len(ss), err)
	}
	page, resp, err := c.Server.List(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{Page: 2, PerPage: 25}})
	if err != nil || len(page) != 5 || page[0].Name != "s25" {
		t.Fatalf("page 2: %d servers, %v", len(page), err)
	}
	p := resp.Meta.Pagination
	if p.Page != 2 || p.PreviousPage != 1 || p.NextPage != 0 || p.LastPage != 2 || p.TotalEntries != 30 {
		t.Fatalf("pagination = %+v", p)
	}
}

func TestFaults(t *testing.T) {
	f, c := client(t)
	ctx := context.Background()

	// 429 twice, then success: hcloud-go retries rate_limit_exceeded.
	f.Inject(fake.Fault{Method: http.MethodPost, Path: "/servers", Status: http.StatusTooManyRequests, Times: 2})
	createServer(t, c, "a", nil)
	var statuses []int
	for _, call := range f.WriteCalls() {
		statuses = append(statuses, call.Status)
	}
	if fmt.Sprint(statuses) != "[429 429 201]" {
		t.Fatalf("write statuses = %v", statuses)
	}

	// The second create fails with a 500, and changes nothing.
	f.FailNthCreate("servers", 2)
	createServer(t, c, "b", nil)
	_, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "c", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-22.04"}})
	if !hcloud.IsError(err, hcloud.ErrorCodeServerError) {
		t.Fatalf("err = %v, want server_error", err)
	}
	if _, ok := f.Server("c"); ok {
		t.Fatal("a failed create must not make a server")
	}

	// An action scripted to fail.
	f.Inject(fake.Fault{Method: http.MethodPost, Path: "/servers/*/actions/rebuild", ActionError: "rebuild_failed"})
	s, _ := f.Server("a")
	res, _, err := c.Server.RebuildWithResult(ctx, &hcloud.Server{ID: s.ID}, hcloud.ServerRebuildOpts{Image: &hcloud.Image{Name: "debian-12"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Action.WaitFor(ctx, res.Action); err == nil || !strings.Contains(err.Error(), "rebuild_failed") {
		t.Fatalf("wait: err = %v, want rebuild_failed", err)
	}
}

func TestFirewallLabelSelector(t *testing.T) {
	f, c := client(t)
	ctx := context.Background()
	_, cidr, _ := net.ParseCIDR("0.0.0.0/0")
	res, _, err := c.Firewall.Create(ctx, hcloud.FirewallCreateOpts{
		Name: "fw",
		Rules: []hcloud.FirewallRule{{Direction: hcloud.FirewallRuleDirectionIn, Protocol: hcloud.FirewallRuleProtocolTCP,
			Port: hcloud.Ptr("22"), SourceIPs: []net.IPNet{*cidr}}},
		ApplyTo: []hcloud.FirewallResource{{Type: hcloud.FirewallResourceTypeLabelSelector,
			LabelSelector: &hcloud.FirewallResourceLabelSelector{Selector: "group=x"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Action.WaitFor(ctx, res.Actions...); err != nil {
		t.Fatal(err)
	}
	createServer(t, c, "in", map[string]string{"group": "x"})
	createServer(t, c, "out", map[string]string{"group": "y"})
	s, _ := f.Server("in")
	if len(s.PublicNet.Firewalls) != 1 {
		t.Errorf("matching server has firewalls %+v", s.PublicNet.Firewalls)
	}
	s, _ = f.Server("out")
	if len(s.PublicNet.Firewalls) != 0 {
		t.Errorf("other server has firewalls %+v", s.PublicNet.Firewalls)
	}
	fw, _, _ := c.Firewall.GetByID(ctx, res.Firewall.ID)
	if len(fw.AppliedTo) != 1 || len(fw.AppliedTo[0].AppliedToResources) != 1 {
		t.Fatalf("applied to %+v", fw.AppliedTo)
	}
	if _, err := c.Firewall.Delete(ctx, fw); !hcloud.IsError(err, hcloud.ErrorCodeResourceInUse) {
		t.Fatalf("delete in use: %v", err)
	}
	acts, _, err := c.Firewall.RemoveResources(ctx, fw, fw.AppliedTo[:1])
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Action.WaitFor(ctx, acts...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Firewall.Delete(ctx, fw); err != nil {
		t.Fatal(err)
	}
}

func TestSSHKeyUniqueness(t *testing.T) {
	_, c := client(t)
	ctx := context.Background()
	pub := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBnVmmjN8SR2W7YCzq8ye0AuSNWD3PxsWcoH1RxIR0Ff test"
	k, _, err := c.SSHKey.Create(ctx, hcloud.SSHKeyCreateOpts{Name: "one", PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.SSHKey.Create(ctx, hcloud.SSHKeyCreateOpts{Name: "two", PublicKey: pub}); !hcloud.IsError(err, hcloud.ErrorCodeUniquenessError) {
		t.Fatalf("same key twice: %v", err)
	}
	got, _, err := c.SSHKey.GetByFingerprint(ctx, k.Fingerprint)
	if err != nil || got == nil || got.ID != k.ID {
		t.Fatalf("by fingerprint: %+v, %v", got, err)
	}
}

func TestZones(t *testing.T) {
	f, c := client(t)
	ctx := context.Background()
	f.AddZone("example.org")
	z, _, err := c.Zone.GetByName(ctx, "example.org")
	if err != nil || z == nil {
		t.Fatalf("zone: %v", err)
	}
	res, _, err := c.Zone.CreateRRSet(ctx, z, hcloud.ZoneRRSetCreateOpts{
		Name: "bbb1", Type: hcloud.ZoneRRSetTypeA, Labels: map[string]string{"omc/node": "bbb1"},
		Records: []hcloud.ZoneRRSetRecord{{Value: "127.77.0.1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitActions(t, c, res.Action)
	rs := res.RRSet
	rs.Zone = z
	if _, _, err := c.Zone.CreateRRSet(ctx, z, hcloud.ZoneRRSetCreateOpts{Name: "bbb1", Type: hcloud.ZoneRRSetTypeA,
		Records: []hcloud.ZoneRRSetRecord{{Value: "127.77.0.2"}}}); !hcloud.IsError(err, hcloud.ErrorCodeUniquenessError) {
		t.Fatalf("duplicate rrset: %v", err)
	}
	act, _, err := c.Zone.AddRRSetRecords(ctx, rs, hcloud.ZoneRRSetAddRecordsOpts{Records: []hcloud.ZoneRRSetRecord{{Value: "127.77.0.2"}}})
	if err != nil {
		t.Fatal(err)
	}
	waitActions(t, c, act)
	act, _, err = c.Zone.SetRRSetRecords(ctx, rs, hcloud.ZoneRRSetSetRecordsOpts{Records: []hcloud.ZoneRRSetRecord{{Value: "127.77.0.3"}}})
	if err != nil {
		t.Fatal(err)
	}
	waitActions(t, c, act)
	got, _, err := c.Zone.GetRRSetByNameAndType(ctx, z, "bbb1", hcloud.ZoneRRSetTypeA)
	if err != nil || len(got.Records) != 1 || got.Records[0].Value != "127.77.0.3" {
		t.Fatalf("rrset = %+v, %v", got, err)
	}
	labelled, err := c.Zone.AllRRSetsWithOpts(ctx, z, hcloud.ZoneRRSetListOpts{ListOpts: hcloud.ListOpts{LabelSelector: "omc/node"}})
	if err != nil || len(labelled) != 1 {
		t.Fatalf("labelled rrsets: %d, %v", len(labelled), err)
	}
	act, _, err = c.Zone.RemoveRRSetRecords(ctx, rs, hcloud.ZoneRRSetRemoveRecordsOpts{Records: []hcloud.ZoneRRSetRecord{{Value: "127.77.0.3"}}})
	if err != nil {
		t.Fatal(err)
	}
	waitActions(t, c, act)
	if got, _, _ := c.Zone.GetRRSetByNameAndType(ctx, z, "bbb1", hcloud.ZoneRRSetTypeA); got != nil {
		t.Fatalf("an rrset whose last record was removed should be gone: %+v", got)
	}
	if _, _, err := c.Zone.SetRRSetRecords(ctx, &hcloud.ZoneRRSet{Zone: z, Name: "x", Type: "A"},
		hcloud.ZoneRRSetSetRecordsOpts{Records: []hcloud.ZoneRRSetRecord{{Value: "not-an-ip"}}}); !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
		t.Fatalf("set_records on a missing rrset: err = %v, want not_found", err)
	}
}

func TestActionsFinishAfterPolls(t *testing.T) {
	f, c := client(t)
	f.ActionPolls = 3
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "a", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-22.04"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Action.Status != hcloud.ActionStatusRunning || res.Server.Status != hcloud.ServerStatusInitializing {
		t.Fatalf("a new server should be initializing with a running action: %s, %s", res.Server.Status, res.Action.Status)
	}
	f.ResetCalls()
	if err := c.Action.WaitFor(ctx, actionutil.AppendNext(res.Action, res.NextActions)...); err != nil {
		t.Fatal(err)
	}
	if n := len(f.Calls()); n != 3 {
		t.Errorf("waited with %d polls, want 3", n)
	}
}
