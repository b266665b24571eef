package hcloud

import (
	"context"
	"fmt"
	"github.com/omc-coop/omc/providers"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"

	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/providers/hcloud/fake"
)

func TestUpFromNothing(t *testing.T) {
	e := newEnv(t)
	inv, g := loadInv(t, "coop", 3, "")
	ms := e.create(inv, g)

	want := []string{"coop-bbb-1", "coop-bbb-2", "coop-bbb-3"}
	if got := e.serverNames(map[string]string{LabelInventory: "coop", LabelGroup: "eu", LabelRolePrefix + "bbb": "true"}); !slices.Equal(got, want) {
		t.Fatalf("servers = %v, want %v", got, want)
	}
	if len(ms) != 3 {
		t.Fatalf("machines = %+v", ms)
	}
	for i, m := range ms {
		s, _ := e.fake.Server(want[i])
		if m.Name != want[i] || m.Address != s.PublicNet.IPv4.IP || m.Status != "running" {
			t.Errorf("machine %d = %+v, server %s %s", i, m, s.PublicNet.IPv4.IP, s.Status)
		}
		if s.Labels[LabelNode] != want[i] || s.ServerType.Name != "cx22" || s.Location.Name != "fsn1" || *s.Image.Name != "ubuntu-22.04" {
			t.Errorf("server %s: %+v", want[i], s)
		}
		// The host key is omc's: kept 0600, handed over in user data.
		path := filepath.Join(e.p.opts.StateDir, "hostkeys", "coop", want[i])
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("host key file %s: %v %v", path, fi, err)
		}
		if !strings.HasPrefix(m.HostKey, "ssh-ed25519 ") {
			t.Errorf("machine %s host key %q", m.Name, m.HostKey)
		}
		checkUserData(t, e.fake.UserData(want[i]), m.HostKey)

		// Two kept primary IPs per node, the ones the server uses.
		ips := e.ipsOf(want[i])
		if len(ips) != 2 {
			t.Fatalf("%s has %d primary IPs", want[i], len(ips))
		}
		for _, ip := range ips {
			if ip.AutoDelete || ip.AssigneeID == nil || *ip.AssigneeID != s.ID || ip.Labels[LabelInventory] != "coop" {
				t.Errorf("primary IP %+v", ip)
			}
		}
		if len(s.PublicNet.Firewalls) != 1 {
			t.Errorf("%s firewalls = %+v", want[i], s.PublicNet.Firewalls)
		}
	}
	if len(e.fake.PrimaryIPs()) != 6 {
		t.Errorf("%d primary IPs, want 6", len(e.fake.PrimaryIPs()))
	}

	fws := e.fake.Firewalls()
	if len(fws) != 1 || fws[0].Labels[LabelGroup] != "eu" || len(fws[0].AppliedTo) != 1 ||
		fws[0].AppliedTo[0].LabelSelector.Selector != "omc/inventory=coop,omc/group=eu" || len(fws[0].AppliedTo[0].AppliedToResources) != 3 {
		t.Fatalf("firewalls = %+v", fws)
	}
	var ports []string
	for _, r := range fws[0].Rules {
		ports = append(ports, *r.Port+"/"+r.Protocol)
	}
	// bbb, and turn because the group has no turn node of its own.
	if got := strings.Join(ports, " "); got != "22/tcp 80/tcp 443/tcp 16384-32768/udp 3478/tcp 3478/udp 443/udp 32769-65535/udp" {
		t.Errorf("firewall ports = %s", got)
	}
	if keys := e.fake.SSHKeys(); len(keys) != 1 || keys[0].PublicKey != e.p.opts.PublicKey || keys[0].Labels[LabelInventory] != "coop" {
		t.Errorf("ssh keys = %+v", keys)
	}
	if pgs := e.fake.PlacementGroups(); len(pgs) != 1 || pgs[0].Type != "spread" || len(pgs[0].Servers) != 3 {
		t.Errorf("placement groups = %+v", pgs)
	}

	var wantRecs []string
	for _, name := range want {
		s, _ := e.fake.Server(name)
		_, n, _ := net.ParseCIDR(s.PublicNet.IPv6.IP)
		wantRecs = append(wantRecs, name+" A "+s.PublicNet.IPv4.IP, name+" AAAA "+ipv6Host(n))
	}
	slices.Sort(wantRecs)
	if got := e.records(); !slices.Equal(got, wantRecs) {
		t.Errorf("records = %v\nwant %v", got, wantRecs)
	}
	for _, rs := range e.fake.RRSets("example.org") {
		if (rs.Type == "A" || rs.Type == "AAAA") && rs.Labels[LabelNode] != rs.Name {
			t.Errorf("record %s %s labels %v", rs.Name, rs.Type, rs.Labels)
		}
	}
	if len(e.sshWaits) != 3 || !strings.HasSuffix(e.sshWaits[0], ":22") {
		t.Errorf("SSH waits = %v", e.sshWaits)
	}
	if e.fake.RunningActions() != 0 {
		t.Errorf("%d actions left running", e.fake.RunningActions())
	}
}

// checkUserData parses the cloud-config and checks it installs exactly
// the host key omc returned.
func checkUserData(t *testing.T, ud, hostKey string) {
	t.Helper()
	if !strings.HasPrefix(ud, "#cloud-config\n") {
		t.Fatalf("user data is not a cloud-config:\n%s", ud)
	}
	var cc struct {
		Delete  bool              `yaml:"ssh_deletekeys"`
		GenKeys []string          `yaml:"ssh_genkeytypes"`
		Keys    map[string]string `yaml:"ssh_keys"`
	}
	if err := yaml.Unmarshal([]byte(ud), &cc); err != nil {
		t.Fatalf("user data: %v", err)
	}
	if !cc.Delete || !slices.Equal(cc.GenKeys, []string{"ed25519"}) || cc.Keys["ed25519_public"] != hostKey {
		t.Fatalf("cloud-config = %+v, want host key %s", cc, hostKey)
	}
	priv, err := ssh.ParsePrivateKey([]byte(cc.Keys["ed25519_private"]))
	if err != nil || providers.AuthorizedKey(priv.PublicKey()) != hostKey {
		t.Fatalf("private host key does not match the public one: %v", err)
	}
}

func TestSecondCreateMakesNoWrites(t *testing.T) {
	e := newEnv(t)
	inv, g := loadInv(t, "coop", 3, "")
	first := e.create(inv, g)
	e.fake.ResetCalls()
	second := e.create(inv, g)
	if w := e.writes(); len(w) != 0 {
		t.Fatalf("second create wrote: %v", w)
	}
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("machines changed:\n%v\n%v", first, second)
	}
	listed, err := e.p.List(context.Background(), inv, g)
	e.checkErr(err)
	if len(listed) != 3 || listed[0].HostKeys[0] != first[0].HostKey || listed[0].Address != first[0].Address {
		t.Fatalf("List = %+v", listed)
	}
}

func TestScaleUpCreatesOnlyTheNewNodes(t *testing.T) {
	e := newEnv(t)
	inv, g := loadInv(t, "coop", 3, "")
	e.create(inv, g)
	e.fake.ResetCalls()
	inv5, g5 := loadInv(t, "coop", 5, "")
	ms := e.create(inv5, g5)
	if len(ms) != 5 {
		t.Fatalf("%d machines", len(ms))
	}
	var posts []string
	for _, w := range e.writes() {
		if strings.HasPrefix(w, "POST /servers ") || strings.HasPrefix(w, "POST /primary_ips ") {
			posts = append(posts, w)
		}
	}
	if len(posts) != 6 { // 2 servers, 4 primary IPs
		t.Fatalf("writes = %v", e.writes())
	}
	for _, w := range e.writes() {
		if strings.Contains(w, "firewalls") || strings.Contains(w, "ssh_keys") || strings.Contains(w, "placement_groups") {
			t.Errorf("scale-up touched group resources: %s", w)
		}
	}
	if got := e.serverNames(nil); len(got) != 5 {
		t.Fatalf("servers = %v", got)
	}
}

func TestDeleteRemovesOnlyOurs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	inv, g := loadInv(t, "coop", 4, "")
	e.create(inv, g)
	other, og := loadInv(t, "other", 2, "")
	e.create(other, og)
	// A server made by hand, without labels, and one with a look-alike label.
	for _, name := range []string{"handmade", "lookalike"} {
		labels := map[string]string{}
		if name == "lookalike" {
			labels = map[string]string{LabelInventory: "coop"}
		}
		res, _, err := e.client.Server.Create(ctx, hcloud.ServerCreateOpts{Name: name, ServerType: &hcloud.ServerType{Name: "cx22"},
			Image: &hcloud.Image{Name: "debian-12"}, Labels: labels})
		e.checkErr(err)
		e.checkErr(e.client.Action.WaitFor(ctx, res.Action))
	}
	recsBefore := len(e.records())

	e.checkErr(e.p.Delete(ctx, inv, g, []string{"coop-bbb-2", "coop-bbb-4", "not-a-node"}))
	if got := e.serverNames(nil); !slices.Equal(got, []string{"coop-bbb-1", "coop-bbb-3", "handmade", "lookalike", "other-bbb-1", "other-bbb-2"}) {
		t.Fatalf("servers after delete = %v", got)
	}
	for _, n := range []string{"coop-bbb-2", "coop-bbb-4"} {
		if ips := e.ipsOf(n); len(ips) != 0 {
			t.Errorf("%s primary IPs left: %+v", n, ips)
		}
		if _, err := os.Stat(filepath.Join(e.p.opts.StateDir, "hostkeys", "coop", n)); !os.IsNotExist(err) {
			t.Errorf("%s host key left: %v", n, err)
		}
	}
	if got := len(e.records()); got != recsBefore-4 {
		t.Errorf("records: %d, want %d", got, recsBefore-4)
	}
	if len(e.fake.Firewalls()) != 2 || len(e.fake.PlacementGroups()) != 2 {
		t.Fatalf("group resources must stay while servers are left: %d firewalls, %d placement groups",
			len(e.fake.Firewalls()), len(e.fake.PlacementGroups()))
	}

	// The last nodes take the group's firewall and placement group along.
	e.checkErr(e.p.Delete(ctx, inv, g, []string{"coop-bbb-1", "coop-bbb-3"}))
	if got := e.serverNames(nil); !slices.Equal(got, []string{"handmade", "lookalike", "other-bbb-1", "other-bbb-2"}) {
		t.Fatalf("servers = %v", got)
	}
	fws := e.fake.Firewalls()
	if len(fws) != 1 || fws[0].Labels[LabelInventory] != "other" || len(e.fake.PlacementGroups()) != 1 {
		t.Fatalf("firewalls = %+v, placement groups = %+v", fws, e.fake.PlacementGroups())
	}
	for _, ip := range e.fake.PrimaryIPs() {
		if ip.Labels[LabelInventory] == "coop" {
			t.Errorf("coop primary IP left: %+v", ip)
		}
	}
	if got := len(e.records()); got != 4 {
		t.Errorf("records left = %v, want other's 4", e.records())
	}
	if len(e.fake.SSHKeys()) != 1 {
		t.Errorf("the SSH key is shared and stays: %+v", e.fake.SSHKeys())
	}
}

func TestServerDeletedBehindOurBackComesBackOnItsAddress(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	inv, g := loadInv(t, "coop", 2, "")
	before := e.create(inv, g)
	recs := e.records()
	s, _ := e.fake.Server("coop-bbb-2")
	_, _, err := e.client.Server.DeleteWithResult(ctx, &hcloud.Server{ID: s.ID})
	e.checkErr(err)

	listed, err := e.p.List(ctx, inv, g)
	e.checkErr(err)
	if len(listed) != 1 {
		t.Fatalf("List = %+v", listed)
	}
	e.fake.ResetCalls()
	after := e.create(inv, g)
	if !reflect.DeepEqual(before[1].Address, after[1].Address) || before[1].HostKey != after[1].HostKey {
		t.Fatalf("re-created node changed: %+v -> %+v", before[1], after[1])
	}
	s2, _ := e.fake.Server("coop-bbb-2")
	if s2.PublicNet.IPv6.IP != s.PublicNet.IPv6.IP {
		t.Errorf("IPv6 %s -> %s", s.PublicNet.IPv6.IP, s2.PublicNet.IPv6.IP)
	}
	if got := e.writes(); len(got) != 1 || !strings.HasPrefix(got[0], "POST /servers 201") {
		t.Errorf("re-creation should be one server create, got %v", got)
	}
	if !slices.Equal(e.records(), recs) {
		t.Errorf("records changed: %v -> %v", recs, e.records())
	}
}

func TestFailedCreateLeavesNoOrphans(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault fake.Fault
	}{
		{"create refused", fake.Fault{Method: http.MethodPost, Path: "/servers", After: 1, Status: http.StatusInternalServerError}},
		{"create action fails", fake.Fault{Method: http.MethodPost, Path: "/servers", After: 1, ActionError: "resource_unavailable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.Parallel = 1 })
			inv, g := loadInv(t, "coop", 3, "")
			e.fake.Inject(tc.fault)
			_, err := e.p.Create(context.Background(), inv, g, groupNodes(inv, g))
			if err == nil || !strings.Contains(err.Error(), "creating server coop-bbb-2") {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(err.Error(), "left behind") {
				t.Errorf("cleanup should have succeeded: %v", err)
			}
			if got := e.serverNames(nil); !slices.Equal(got, []string{"coop-bbb-1", "coop-bbb-3"}) {
				t.Fatalf("servers = %v", got)
			}
			if ips := e.ipsOf("coop-bbb-2"); len(ips) != 0 {
				t.Fatalf("orphan primary IPs: %+v", ips)
			}
			if len(e.fake.PrimaryIPs()) != 4 {
				t.Fatalf("primary IPs = %d, want the 4 of the nodes that exist", len(e.fake.PrimaryIPs()))
			}
			// The next run finishes the job.
			e.create(inv, g)
			if got := e.serverNames(nil); len(got) != 3 {
				t.Fatalf("servers after retry = %v", got)
			}
		})
	}
}

func TestFailedCleanupSaysWhatIsLeft(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Parallel = 1 })
	inv, g := loadInv(t, "coop", 1, "")
	e.fake.Inject(
		fake.Fault{Method: http.MethodPost, Path: "/servers", Status: http.StatusServiceUnavailable},
		fake.Fault{Method: http.MethodDelete, Path: "/primary_ips/*", Status: http.StatusServiceUnavailable, Times: -1},
	)
	_, err := e.p.Create(context.Background(), inv, g, groupNodes(inv, g))
	if err == nil {
		t.Fatal("create should fail")
	}
	msg := err.Error()
	for _, ip := range e.ipsOf("coop-bbb-1") {
		if !strings.Contains(msg, "primary IP "+strings.TrimSuffix(ip.IP, "/64")) && !strings.Contains(msg, fmt.Sprintf("(id %d)", ip.ID)) {
			t.Errorf("error does not name leftover %s:\n%s", ip.IP, msg)
		}
	}
	if !strings.Contains(msg, "left behind") || len(e.ipsOf("coop-bbb-1")) != 2 {
		t.Fatalf("err = %v", err)
	}
}

func TestRateLimitThenSuccess(t *testing.T) {
	e := newEnv(t)
	inv, g := loadInv(t, "coop", 1, "")
	e.fake.Inject(fake.Fault{Method: http.MethodPost, Path: "/servers", Status: http.StatusTooManyRequests, Times: 3})
	e.create(inv, g)
	var servers []string
	for _, w := range e.writes() {
		if strings.HasPrefix(w, "POST /servers ") {
			servers = append(servers, w)
		}
	}
	if fmt.Sprint(servers) != "[POST /servers 429 POST /servers 429 POST /servers 429 POST /servers 201]" {
		t.Fatalf("server creates = %v", servers)
	}
}

func TestRateLimitGivesUpBounded(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxRetries = 2 })
	inv, g := loadInv(t, "coop", 1, "")
	e.fake.Inject(fake.Fault{Method: http.MethodGet, Path: "/servers", Status: http.StatusTooManyRequests, Times: -1})
	_, err := e.p.List(context.Background(), inv, g)
	if err == nil || !strings.Contains(err.Error(), "rate_limit_exceeded") {
		t.Fatalf("err = %v", err)
	}
	if n := len(e.fake.Calls()); n != 3 {
		t.Fatalf("%d calls, want 1 + 2 retries", n)
	}
}

func TestRebuildKeepsAddressDNSAndHostKey(t *testing.T) {
	e := newEnv(t)
	inv, g := loadInv(t, "coop", 2, "")
	before := e.create(inv, g)
	recs := e.records()
	s1, _ := e.fake.Server("coop-bbb-1")
	e.fake.ResetCalls()

	nodes := groupNodes(inv, g)[:1]
	ms, err := e.p.Rebuild(context.Background(), inv, g, nodes)
	e.checkErr(err)
	if len(ms) != 1 || ms[0].Address != before[0].Address || ms[0].HostKeys[0] != before[0].HostKey || ms[0].Status != "running" {
		t.Fatalf("rebuilt = %+v, before %+v", ms, before[0])
	}
	s2, _ := e.fake.Server("coop-bbb-1")
	if s2.ID != s1.ID || s2.PublicNet.IPv6.IP != s1.PublicNet.IPv6.IP {
		t.Errorf("server changed: %+v -> %+v", s1.PublicNet, s2.PublicNet)
	}
	checkUserData(t, e.fake.UserData("coop-bbb-1"), before[0].HostKey)
	if got := e.writes(); len(got) != 1 || got[0] != fmt.Sprintf("POST /servers/%d/actions/rebuild 201", s1.ID) {
		t.Errorf("rebuild writes = %v", got)
	}
	if !slices.Equal(e.records(), recs) {
		t.Errorf("records changed")
	}
}

func TestDNSFollowsAddressChange(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	inv, g := loadInv(t, "coop", 1, "")
	e.create(inv, g)
	// Someone points the record elsewhere; the next run puts it back.
	z, _, _ := e.client.Zone.GetByName(ctx, "example.org")
	rs, _, _ := e.client.Zone.GetRRSetByNameAndType(ctx, z, "coop-bbb-1", hcloud.ZoneRRSetTypeA)
	rs.Zone = z
	act, _, err := e.client.Zone.SetRRSetRecords(ctx, rs, hcloud.ZoneRRSetSetRecordsOpts{Records: []hcloud.ZoneRRSetRecord{{Value: "127.0.0.9"}}})
	e.checkErr(err)
	e.checkErr(e.client.Action.WaitFor(ctx, act))
	e.fake.ResetCalls()
	ms := e.create(inv, g)
	if got := e.writes(); len(got) != 1 || !strings.Contains(got[0], "/rrsets/coop-bbb-1/A/actions/set_records") {
		t.Fatalf("writes = %v", got)
	}
	if !slices.Contains(e.records(), "coop-bbb-1 A "+ms[0].Address) {
		t.Fatalf("records = %v", e.records())
	}
}

func TestForeignRecordIsNotTakenOver(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	z, _, _ := e.client.Zone.GetByName(ctx, "example.org")
	_, _, err := e.client.Zone.CreateRRSet(ctx, z, hcloud.ZoneRRSetCreateOpts{Name: "coop-bbb-1", Type: "A", Records: []hcloud.ZoneRRSetRecord{{Value: "127.0.0.8"}}})
	e.checkErr(err)
	inv, g := loadInv(t, "coop", 1, "")
	_, err = e.p.Create(ctx, inv, g, groupNodes(inv, g))
	if err == nil || !strings.Contains(err.Error(), "omc did not make it") {
		t.Fatalf("err = %v", err)
	}
	if got := e.records(); !slices.Equal(got, []string{"coop-bbb-1 A 127.0.0.8"}) {
		t.Fatalf("records = %v", got)
	}
}

func TestForeignServerWithTheSameName(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	res, _, err := e.client.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "coop-bbb-1", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "debian-12"}})
	e.checkErr(err)
	inv, g := loadInv(t, "coop", 1, "")
	_, err = e.p.Create(ctx, inv, g, groupNodes(inv, g))
	if err == nil || !strings.Contains(err.Error(), "already exists in the project without the labels") {
		t.Fatalf("err = %v", err)
	}
	if len(e.ipsOf("coop-bbb-1")) != 0 {
		t.Fatal("the IPs made for the refused server must be removed")
	}
	s, _ := e.fake.Server("coop-bbb-1")
	if s.ID != res.Server.ID || len(s.Labels) != 0 {
		t.Fatalf("the foreign server was touched: %+v", s)
	}
}

func TestFirewallFollowsSettings(t *testing.T) {
	e := newEnv(t)
	inv, g := loadInv(t, "coop", 1, "")
	e.create(inv, g)
	e.fake.ResetCalls()
	inv2, g2 := loadInv(t, "coop", 1, "    settings:\n      admin_cidrs: [198.51.100.0/24]\n")
	e.create(inv2, g2)
	if got := e.writes(); len(got) != 1 || !strings.Contains(got[0], "/actions/set_rules") {
		t.Fatalf("writes = %v", got)
	}
	r := e.fake.Firewalls()[0].Rules[0]
	if *r.Port != "22" || fmt.Sprint(r.SourceIPs) != "[198.51.100.0/24]" {
		t.Fatalf("ssh rule = %+v", r)
	}
	e.fake.ResetCalls()
	e.create(inv2, g2)
	if got := e.writes(); len(got) != 0 {
		t.Fatalf("writes = %v", got)
	}
}

func TestFirewallRules(t *testing.T) {
	show := func(rules []hcloud.FirewallRule) string {
		var out []string
		for _, r := range rules {
			var src []string
			for _, n := range r.SourceIPs {
				src = append(src, n.String())
			}
			out = append(out, fmt.Sprintf("%s/%s<-%s", *r.Port, r.Protocol, strings.Join(src, "+")))
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		roles, admin []string
		want         string
	}{
		{nil, nil, "22/tcp<-0.0.0.0/0+::/0"},
		{[]string{"bbb"}, []string{"10.1.0.0/16", "2001:db8::/32"},
			"22/tcp<-10.1.0.0/16+2001:db8::/32 80/tcp<-0.0.0.0/0+::/0 443/tcp<-0.0.0.0/0+::/0 16384-32768/udp<-0.0.0.0/0+::/0"},
		{[]string{"turn"}, nil, "22/tcp<-0.0.0.0/0+::/0 80/tcp<-0.0.0.0/0+::/0 443/tcp<-0.0.0.0/0+::/0 " +
			"3478/tcp<-0.0.0.0/0+::/0 3478/udp<-0.0.0.0/0+::/0 443/udp<-0.0.0.0/0+::/0 32769-65535/udp<-0.0.0.0/0+::/0"},
		// Bad admin ranges close SSH instead of opening it to everyone.
		{[]string{"scalelite"}, []string{"not-a-cidr"}, "80/tcp<-0.0.0.0/0+::/0 443/tcp<-0.0.0.0/0+::/0"},
	} {
		if got := show(FirewallRules(tc.roles, tc.admin)); got != tc.want {
			t.Errorf("FirewallRules(%v, %v)\n got %s\nwant %s", tc.roles, tc.admin, got, tc.want)
		}
	}
}

func TestTokenNeverLeaks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	inv, g := loadInv(t, "coop", 2, "")
	// A service that echoes the token back in an error message.
	e.fake.Inject(fake.Fault{Method: http.MethodPost, Path: "/servers", Status: http.StatusUnprocessableEntity,
		Code: "invalid_input", Message: "bad request for token " + testToken, Times: -1})
	_, err := e.p.Create(ctx, inv, g, groupNodes(inv, g))
	if err == nil {
		t.Fatal("create should fail")
	}
	var errs []string
	errs = append(errs, err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err))
	e.fake.ClearFaults()

	// A wrong token, from the group's secret.
	t.Setenv("OMC_TEST_HCLOUD", "wrong-"+testToken)
	inv2, g2 := loadInv(t, "coop", 1, "    token: env:OMC_TEST_HCLOUD\n")
	_, err = e.p.List(ctx, inv2, g2)
	if err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Fatalf("wrong token: err = %v", err)
	}
	errs = append(errs, err.Error())
	e.checkErr(e.p.Delete(ctx, inv, g, []string{"coop-bbb-1"}))
	for _, s := range append(errs, e.stderr.String()) {
		if strings.Contains(s, testToken) {
			t.Fatalf("token leaked: %s", s)
		}
	}
	if !strings.Contains(errs[0], "***") {
		t.Errorf("the echoed token should be masked: %s", errs[0])
	}
}

func TestNoToken(t *testing.T) {
	t.Setenv("HCLOUD_TOKEN", "")
	p := New(Options{Endpoint: "http://127.0.0.1:1/v1"})
	inv, g := loadInv(t, "coop", 1, "")
	_, err := p.List(context.Background(), inv, g)
	if err == nil || !strings.Contains(err.Error(), "no API token") {
		t.Fatalf("err = %v", err)
	}
}

func TestNonRootUserGetsTheOperatorKey(t *testing.T) {
	e := newEnv(t)
	inv, g := loadInv(t, "coop", 1, "    ssh:\n      user: deploy\n")
	e.create(inv, g)
	ud := e.fake.UserData("coop-bbb-1")
	var cc struct {
		Users []any `yaml:"users"`
	}
	e.checkErr(yaml.Unmarshal([]byte(ud), &cc))
	if len(cc.Users) != 2 || cc.Users[0] != "default" || !strings.Contains(fmt.Sprint(cc.Users[1]), e.p.opts.PublicKey) ||
		!strings.Contains(fmt.Sprint(cc.Users[1]), "deploy") {
		t.Fatalf("users = %+v", cc.Users)
	}
}

func TestUnreachableServerIsRemoved(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.WaitSSH = func(context.Context, string) error { return fmt.Errorf("connection refused") }
	})
	inv, g := loadInv(t, "coop", 1, "")
	_, err := e.p.Create(context.Background(), inv, g, groupNodes(inv, g))
	if err == nil || !strings.Contains(err.Error(), "SSH does not answer: connection refused") {
		t.Fatalf("err = %v", err)
	}
	if len(e.fake.Servers()) != 0 || len(e.fake.PrimaryIPs()) != 0 {
		t.Fatalf("left: %+v %+v", e.fake.Servers(), e.fake.PrimaryIPs())
	}
}

// TestAgentKeyIsTheServersKey: an agent-only setup (no key file, the key
// in ssh-agent) gets the agent's public key registered as the servers'
// SSH key and put in cloud-init for a non-root user.
func TestAgentKeyIsTheServersKey(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	ag := sshtest.StartAgent(t)
	e := newEnv(t, func(o *Options) { o.PublicKey = "" })
	inv, g := loadInv(t, "coop", 1, "    ssh:\n      user: deploy\n")
	e.create(inv, g)
	want := providers.AuthorizedKey(ag.Key)
	keys := e.fake.SSHKeys()
	if len(keys) != 1 || keys[0].PublicKey != want || keys[0].Fingerprint != ssh.FingerprintLegacyMD5(ag.Key) {
		t.Fatalf("registered keys %+v, want the agent's %s", keys, want)
	}
	if ud := e.fake.UserData("coop-bbb-1"); !strings.Contains(ud, want) {
		t.Errorf("cloud-init does not give deploy the agent's key:\n%s", ud)
	}
}
