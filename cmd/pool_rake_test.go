package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/fake"
	"github.com/omc-coop/omc/pool/scalelite"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision/roles"
)

// The stand-in docker on the Scalelite host is this test binary (see
// fake.StandInDocker).
func init() { fake.RakeStandIn() }

// rakeRig is the pool rig with api: rake: omc reaches Scalelite over SSH
// to a real sshd on 127.0.0.1 (the node scalelite-1), whose docker is
// the FAKE stand-in answering Scalelite's rake tasks on the FAKE
// Scalelite's state; the nodes are FAKE BBB APIs.
type rakeRig struct {
	*poolRig
	srv *sshtest.Server
}

const rakeContainer = "sl-api" // not the default: the inventory's is used

func newRakeRig(t *testing.T) *rakeRig {
	t.Helper()
	return newRakeRigWith(t, staticNodes)
}

// newRakeRigWith: the eu group's machines are given by nodes (the static
// three, or a counted group of a provider).
func newRakeRigWith(t *testing.T, nodes string) *rakeRig {
	t.Helper()
	d := isolate(t)
	t.Setenv("OMC_T_LB", testLBSecret)
	t.Setenv("OMC_T_SEED", testSeed)
	srv := sshtest.Start(t)
	r := &rakeRig{poolRig: &poolRig{t: t, dir: d, sl: fake.NewScalelite(t, testLBSecret), bbb: fake.NewBBB(t)}, srv: srv}
	r.sl.SetRakeContainer(rakeContainer)
	r.deps = &fleet.PoolDeps{Poll: 20 * time.Millisecond, RakeDocker: r.sl.StandInDocker(t, d)}
	hostKey := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey)))
	src := fmt.Sprintf(`apiVersion: omc/v1
name: t
secrets:
  bbb_seed: env:OMC_T_SEED
groups:
  lb:
    provider: static
    roles: [scalelite]
    nodes:
      - name: scalelite-1
        address: 127.0.0.1
        domain: scalelite.example.org
        host_key: %q
        ssh: {port: %d, key: %s, user: %s}
  eu:
    roles: [bbb]
    domain: "{name}.example.org"
    settings: {bbb_version: "3.0"}
    pool:
      url: https://scalelite.example.org
      secret: env:OMC_T_LB
      api: rake
      host: scalelite-1
      container: %s
      bbb_url: %s/{name}/bigbluebutton/api
      checks: []
      tenant_secrets: tenants
%s`, hostKey, srv.Port, srv.KeyFile, srv.User, rakeContainer, r.bbb.Server.URL, nodes)
	r.inv = filepath.Join(d, "omc.yaml")
	if err := os.WriteFile(r.inv, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.checkNeverShown)
	t.Cleanup(r.checkHostSide)
	return r
}

// checkHostSide: on the Scalelite host, the load-balancer secret never
// arrives (rake does not need it); a node's BBB secret only as an
// argument of the tasks that register it, a tenant's only in the tasks
// that set it. Every task ran in the inventory's container without -i or
// -t, and sshd saw no secret (its log names the one exec: the shell).
func (r *rakeRig) checkHostSide() {
	inv, err := inventory.Load(r.inv)
	if err != nil {
		r.t.Error(err)
		return
	}
	nodeSecrets := roles.SecretValues(inv, inv.Nodes())
	var tenantSecrets []string
	for _, t := range r.sl.Tenants() {
		tenantSecrets = append(tenantSecrets, t.Secrets...)
	}
	calls := r.sl.RakeCalls()
	if len(calls) == 0 {
		r.t.Error("no rake task reached the Scalelite host")
	}
	for _, c := range calls {
		line := strings.Join(c, " ")
		if !strings.HasPrefix(line, "exec "+rakeContainer+" bundle exec rake ") || len(c) != 6 {
			r.t.Errorf("unexpected docker arguments: %q", c)
			continue
		}
		task, _, _ := strings.Cut(c[5], "[")
		if strings.Contains(line, testLBSecret) || strings.Contains(line, testSeed) {
			r.t.Errorf("%s: the load-balancer secret or the seed reached the Scalelite host", task)
		}
		for _, sec := range nodeSecrets {
			if sec != "" && strings.Contains(line, sec) && task != "servers:add" && task != "servers:update" {
				r.t.Errorf("%s carried a node's BBB secret", task)
			}
		}
		for _, sec := range tenantSecrets {
			if sec != "" && strings.Contains(line, sec) && task != "tenants:add" && task != "tenants:update" {
				r.t.Errorf("%s carried a tenant secret", task)
			}
		}
	}
	log := r.srv.Log()
	for _, sec := range append(append([]string{testLBSecret, testSeed}, nodeSecrets...), tenantSecrets...) {
		if sec != "" && strings.Contains(log, sec) {
			r.t.Errorf("a secret (%.6s…) is in sshd's log", sec)
		}
	}
}

// tasksSince are the task names (without arguments) run since call n.
func (r *rakeRig) tasksSince(n int) []string {
	var out []string
	for _, c := range r.sl.RakeCalls()[n:] {
		task, _, _ := strings.Cut(c[5], "[")
		out = append(out, task)
	}
	return out
}

func TestRakePoolUpRegistersTheGroupAndASecondRunWritesNothing(t *testing.T) {
	r := newRakeRig(t)
	for _, n := range []string{"bbb-1", "bbb-2", "bbb-3"} {
		r.node(n, "3.0.4")
	}
	// plan first: the changes are shown, nothing runs but listings.
	pending, errs, code := r.plan("bbb-1", "bbb-2")
	if code != 0 || pending != 4 || !strings.Contains(errs, "bbb-1: pool eu: add") || r.sl.Writes() != 0 {
		t.Fatalf("plan: code %d, %d pending, %d writes\n%s", code, pending, r.sl.Writes(), errs)
	}
	if got := strings.Join(r.tasksSince(0), " "); strings.Trim(strings.ReplaceAll(got, "servers", ""), " ") != "" {
		t.Fatalf("plan ran more than listings: %s", got)
	}

	// bbb-3 failed to converge: it is not touched.
	errs, code = r.up("bbb-1", "bbb-2")
	if code != 0 || !strings.Contains(errs, "bbb-1: pool eu: add") || !strings.Contains(errs, "bbb-2: pool eu: enable health check passed") {
		t.Fatalf("code %d\n%s", code, errs)
	}
	if s := r.state(t, "bbb-1"); s.State != pool.Enabled || s.LoadMultiplier != 1 {
		t.Fatalf("bbb-1: %+v", s)
	}
	if s := r.state(t, "bbb-3"); s.State != "absent" {
		t.Fatalf("bbb-3 was registered although it failed to converge: %+v", s)
	}
	if w := r.sl.Writes(); w != 4 {
		t.Fatalf("writes %d, want 4 (2 servers:add, 2 servers:enable)", w)
	}
	if errs, code = r.up("bbb-1", "bbb-2", "bbb-3"); code != 0 || r.sl.Writes() != 6 || strings.Contains(errs, "bbb-1:") {
		t.Fatalf("third node: code %d writes %d\n%s", code, r.sl.Writes(), errs)
	}

	// The second run: listings only, no writes, nothing reported.
	before, calls := r.sl.Writes(), len(r.sl.RakeCalls())
	errs, code = r.up("bbb-1", "bbb-2", "bbb-3")
	if code != 0 || r.sl.Writes() != before || errs != "" {
		t.Fatalf("second run: code %d, %d writes\n%s", code, r.sl.Writes()-before, errs)
	}
	if got := r.tasksSince(calls); len(got) == 0 || strings.Trim(strings.ReplaceAll(strings.Join(got, " "), "servers", ""), " ") != "" {
		t.Fatalf("second run ran %v", got)
	}
	if pending, errs, code := r.plan("bbb-1", "bbb-2", "bbb-3"); code != 0 || pending != 0 || errs != "" || r.sl.Writes() != before {
		t.Fatalf("plan after up: code %d, %d pending\n%s", code, pending, errs)
	}
	if len(r.sl.Servers()) != 3 {
		t.Fatalf("duplicates: %+v", r.sl.Servers())
	}

	// A changed tag and multiplier: servers:update and servers:tag.
	src, _ := os.ReadFile(r.inv)
	os.WriteFile(r.inv, bytes.Replace(src, []byte("{name: bbb-2, address: 127.0.0.1}"), []byte("{name: bbb-2, address: 127.0.0.1, tag: big, load_multiplier: 2}"), 1), 0o644)
	calls = len(r.sl.RakeCalls())
	errs, code = r.up("bbb-1", "bbb-2", "bbb-3")
	s := r.state(t, "bbb-2")
	if code != 0 || s.Tag != "big" || s.LoadMultiplier != 2 || s.State != pool.Enabled || r.sl.Writes() != before+2 {
		t.Fatalf("update: code %d %+v writes %d\n%s", code, s, r.sl.Writes()-before, errs)
	}
	if got := strings.Join(r.tasksSince(calls), " "); !strings.Contains(got, "servers:update servers:tag") {
		t.Fatalf("update ran %s", got)
	}
}

func TestRakeDrainEnableRemove(t *testing.T) {
	r := newRakeRig(t)
	r.threeUp()
	r.bbb.Node("bbb-2").CreateMeetingAt("class", 5, 1, time.Now().Add(-time.Hour))
	r.sl.StartPoller(t, 5*time.Millisecond)
	waitUntil(t, func() bool { s := r.state(t, "bbb-2"); return s.Online && s.Load == 6 })
	ctx := context.Background()

	// The meeting goes on: the drain gives up, the node stays cordoned.
	_, errs, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runDrain(ctx, s, g, &drainOptions{Node: "bbb-2", Timeout: 300 * time.Millisecond})
	})
	if code != ExitError || !strings.Contains(errs, "still has load 6") || r.state(t, "bbb-2").State != pool.Cordoned || len(r.bbb.Node("bbb-2").Meetings()) != 1 {
		t.Fatalf("drain timeout: code %d %+v\n%s", code, r.state(t, "bbb-2"), errs)
	}
	// The meeting ends: Scalelite disables the node, the drain finishes.
	go func() { time.Sleep(100 * time.Millisecond); r.bbb.Node("bbb-2").EndMeeting("class") }()
	out, errs, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runDrain(ctx, s, g, &drainOptions{Node: "bbb-2", Timeout: 10 * time.Second, Yes: true})
	})
	if code != 0 || out != "bbb-2\tdisabled\n" {
		t.Fatalf("drain: %d %q\n%s", code, out, errs)
	}

	// --force: servers:panic ends the meetings at the deadline.
	r.bbb.Node("bbb-3").CreateMeetingAt("late", 3, 0, time.Now().Add(-time.Hour))
	waitUntil(t, func() bool { return r.state(t, "bbb-3").Load == 3 })
	calls := len(r.sl.RakeCalls())
	_, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runDrain(ctx, s, g, &drainOptions{Node: "bbb-3", Timeout: 100 * time.Millisecond, Force: true, Yes: true})
	})
	if code != 0 || len(r.bbb.Node("bbb-3").Meetings()) != 0 || r.state(t, "bbb-3").State != pool.Disabled {
		t.Fatalf("force: %d %+v\n%s", code, r.state(t, "bbb-3"), errs)
	}
	if got := strings.Join(r.tasksSince(calls), " "); !strings.Contains(got, "servers:cordon") || !strings.Contains(got, "servers:panic") {
		t.Fatalf("force ran %s", got)
	}

	// enable: back in after the health gate.
	out, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runEnable(ctx, s, g, &drainOptions{Node: "bbb-2"})
	})
	if code != 0 || out != "bbb-2\tenabled\n" || r.state(t, "bbb-2").State != pool.Enabled {
		t.Fatalf("enable: %d %q\n%s", code, out, errs)
	}
	// A node failing the gate stays out; the error names no secret.
	r.bbb.Node("bbb-3").SetSecret("rotated-by-hand")
	_, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runEnable(ctx, s, g, &drainOptions{Node: "bbb-3"})
	})
	if code != ExitError || !strings.Contains(errs, "checksumError") || r.state(t, "bbb-3").State != pool.Disabled {
		t.Fatalf("enable with a wrong secret: %d\n%s", code, errs)
	}

	// remove: drained and deregistered (servers:remove).
	calls = len(r.sl.RakeCalls())
	_, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runRemove(ctx, s, g, &drainOptions{Node: "bbb-1", Timeout: 10 * time.Second, Yes: true})
	})
	if code != 0 || r.state(t, "bbb-1").State != "absent" || !strings.Contains(strings.Join(r.tasksSince(calls), " "), "servers:remove") {
		t.Fatalf("remove: %d %+v %v\n%s", code, r.state(t, "bbb-1"), r.tasksSince(calls), errs)
	}
	// Removing it again: Scalelite does not have it, nothing to do.
	_, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runRemove(ctx, s, g, &drainOptions{Node: "bbb-1", Timeout: time.Second, Yes: true})
	})
	if code != 0 {
		t.Fatalf("remove twice: %d\n%s", code, errs)
	}
}

func TestRakeTenantsSecretsShownOnceAndNeverListed(t *testing.T) {
	r := newRakeRig(t)
	r.sl.SetMultitenancy(true)
	ctx := context.Background()
	forget := func(secret string) { // the one deliberate showing is not "seen" output
		r.mu.Lock()
		seen := strings.ReplaceAll(r.seen.String(), secret, "")
		r.seen.Reset()
		r.seen.WriteString(seen)
		r.mu.Unlock()
	}
	out, errs, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runTenantAdd(ctx, s, g, &tenantOptions{Name: "school-a"})
	})
	secret := strings.TrimSpace(out)
	tl := r.sl.Tenants()
	if code != 0 || len(secret) != 64 || len(tl) != 1 || tl[0].Name != "school-a" || tl[0].Secrets[0] != secret || !strings.Contains(errs, "tenant school-a: the secret above is shown only this once") {
		t.Fatalf("add: %d %q\n%s", code, out, errs)
	}
	forget(secret)
	stored := filepath.Join(r.dir, "tenants", "school-a.secret")
	if b, err := os.ReadFile(stored); err != nil || strings.TrimSpace(string(b)) != secret {
		t.Fatalf("stored: %v %q", err, b)
	}
	// -o json carries the name and the ID rake printed.
	out, _, code = r.call(true, func(s *ui.Streams, g *globalOptions) error {
		return runTenantAdd(ctx, s, g, &tenantOptions{Name: "school-b"})
	})
	var added tenantSecretV1
	if code != 0 || json.Unmarshal([]byte(out), &added) != nil || added.Name != "school-b" || added.ID != r.sl.Tenants()[1].ID || len(added.Secret) != 64 {
		t.Fatalf("add -o json: %d %s", code, out)
	}
	forget(added.Secret)
	// The same name again: Scalelite's rake (and the fake) would make a
	// second tenant; omc refuses before asking it.
	_, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runTenantAdd(ctx, s, g, &tenantOptions{Name: "school-a"})
	})
	if code != ExitError || !strings.Contains(errs, `tenant "school-a" exists already (id `+tl[0].ID+")") || len(r.sl.Tenants()) != 2 {
		t.Fatalf("add twice: %d\n%s", code, errs)
	}

	// list: names and IDs, never secrets (checkNeverShown reads it all).
	out, _, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runTenantList(ctx, s, g, &tenantOptions{})
	})
	if code != 0 || !strings.Contains(out, "school-a") || !strings.Contains(out, "school-b") || !strings.Contains(out, tl[0].ID) || !strings.Contains(out, stored) {
		t.Fatalf("list: %s", out)
	}
	out, _, code = r.call(true, func(s *ui.Streams, g *globalOptions) error {
		return runTenantList(ctx, s, g, &tenantOptions{})
	})
	var l tenantListV1
	if code != 0 || json.Unmarshal([]byte(out), &l) != nil || len(l.Tenants) != 2 || l.Tenants[0].Name != "school-a" || l.Tenants[1].Secrets != 1 || strings.Contains(out, `"secret":`) {
		t.Fatalf("list -o json: %s", out)
	}

	// rotate --keep-old: tenants:update with both secrets.
	out, _, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runTenantRotate(ctx, s, g, &tenantOptions{Name: "school-a", KeepOld: true, Yes: true})
	})
	second := strings.TrimSpace(out)
	if code != 0 || strings.Join(r.sl.Tenants()[0].Secrets, ":") != second+":"+secret || r.sl.Tenants()[0].Name != "school-a" {
		t.Fatalf("rotate --keep-old: %d %+v", code, r.sl.Tenants()[0])
	}
	forget(second)
	// disable: one secret nobody is told.
	_, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runTenantDisable(ctx, s, g, &tenantOptions{Name: "school-a", Yes: true})
	})
	if now := r.sl.Tenants()[0].Secrets; code != 0 || len(now) != 1 || now[0] == secret || now[0] == second || fileExists(stored) {
		t.Fatalf("disable: %d %v\n%s", code, now, errs)
	}
	// Multitenancy off: rake's abort, explained.
	r.sl.SetMultitenancy(false)
	_, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runTenantList(ctx, s, g, &tenantOptions{})
	})
	if code != ExitError || !strings.Contains(errs, "MULTITENANCY_ENABLED") {
		t.Fatalf("multitenancy off: %d %s", code, errs)
	}
}

func TestRakeStatusShowsThePool(t *testing.T) {
	r := newRakeRig(t)
	r.threeUp()
	old := time.Now().Add(-time.Hour)
	r.bbb.Node("bbb-1").CreateMeetingAt("maths", 12, 1, old)
	r.bbb.Node("bbb-2").CreateMeetingAt("music", 2, 1, old)
	r.sl.Poll(context.Background())
	status := func(json bool, targets ...string) (string, string, int) {
		return r.call(json, func(s *ui.Streams, g *globalOptions) error {
			return runStatus(context.Background(), s, g, &statusOptions{Targets: targets})
		})
	}
	out, errs, code := status(false)
	if code != 0 || !strings.Contains(out, "pool eu (https://scalelite.example.org): 3 nodes, 3 healthy") {
		t.Fatalf("healthy: code %d\n%s\n%s", code, out, errs)
	}
	rows := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 9 {
			rows[strings.Join(f[:9], " ")] = true
		}
	}
	for _, row := range []string{"bbb-1 static 127.0.0.1 3.0.4 enabled online 1 12 13", "bbb-2 static 127.0.0.1 3.0.4 enabled online 1 2 3", "bbb-3 static 127.0.0.1 3.0.4 enabled online 0 0 0"} {
		if !rows[row] {
			t.Errorf("no row %q in\n%s", row, out)
		}
	}

	// bbb-3 stops answering: offline in Scalelite, exit 5.
	r.bbb.Node("bbb-3").SetDown(true)
	r.sl.Poll(context.Background())
	r.sl.Poll(context.Background())
	out, _, code = status(true, "eu")
	if code != ExitUnhealthy {
		t.Fatalf("unhealthy: code %d\n%s", code, out)
	}
	checkStatusSchema(t, out)
	var st statusV1
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	p := st.Pools[0]
	n1, n3 := p.Nodes[0], p.Nodes[2]
	if st.Healthy || p.Error != "" || p.Scalelite != "https://scalelite.example.org" || n1.PoolState != pool.Enabled || *n1.Load != 13 || !n1.Healthy ||
		n3.Healthy || n3.Online || !strings.Contains(strings.Join(n3.Problems, "\n"), "Scalelite sees it offline") {
		t.Fatalf("json: %s", out)
	}

	// The Scalelite host unreachable: the pool's error says so, every
	// node is still listed with its pool state unknown, exit 5.
	r.srv.Stop()
	out, errs, code = status(false)
	if code != ExitUnhealthy || !strings.Contains(out, "Scalelite: scalelite node scalelite-1:") ||
		!strings.Contains(out, "pool eu (https://scalelite.example.org): 3 nodes, 0 healthy") || !strings.Contains(errs, "3 of 4 nodes unhealthy") ||
		strings.Count(out, "pool state unknown") != 3 {
		t.Fatalf("host down: code %d\n%s\n%s", code, out, errs)
	}
}

// usage collect names the tenants of an api: rake pool from its rake
// tasks (it used to warn that they show as IDs).
func TestRakeUsageCollectNamesTenants(t *testing.T) {
	r := newRakeRig(t)
	src, _ := os.ReadFile(r.inv)
	// Scalelite's own BBB API (its recordings) is at pool.url.
	src = bytes.Replace(src, []byte("url: https://scalelite.example.org"), []byte("url: "+r.sl.URL), 1)
	os.WriteFile(r.inv, append(src, "billing: {database: state/usage.db}\n"...), 0o644)
	r.sl.SetMultitenancy(true)
	// Made through the JSON API: the rake tasks see the same fake.
	tn, err := (&scalelite.Client{URL: r.sl.URL, Secret: testLBSecret}).AddTenant(context.Background(), "school", []string{"school-tenant-secret-4b1e"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"bbb-1", "bbb-2", "bbb-3"} {
		r.node(n, "3.0.4").ServeSizes(true) // sizes as Mconf's build gives them
	}
	start := time.Date(2026, 11, 30, 23, 50, 0, 0, time.UTC)
	r.bbb.Node("bbb-1").CreateMeetingAt("lesson", 10, 1, start)
	r.bbb.Node("bbb-1").SetMetadata("lesson", map[string]string{"tenant-id": tn.ID})
	// A recording on bbb-1, moved into Scalelite by its importer after
	// the first sample: still billed at the size bbb-1 listed.
	r.bbb.Node("bbb-1").AddRecording(fake.Recording{RecordID: "rec-1", MeetingID: "lesson", Size: 3_000_000_000, Metadata: map[string]string{"tenant-id": tn.ID}})
	for _, m := range []int{0, 2} {
		if m == 2 {
			// rec-1 only in Scalelite now, and a second on the node: the
			// peak is both, only if Scalelite's part is counted.
			if !r.sl.Import(r.bbb.Node("bbb-1"), "rec-1") {
				t.Fatal("import")
			}
			r.bbb.Node("bbb-1").AddRecording(fake.Recording{RecordID: "rec-2", MeetingID: "lesson", Size: 1_000_000_000, Metadata: map[string]string{"tenant-id": tn.ID}})
		}
		at := start.Add(time.Duration(m) * time.Minute)
		clock := func(f *factory) { f.Now, f.HTTP = func() time.Time { return at }, tenantDNS() }
		_, errs, code := r.callWith(false, clock, func(s *ui.Streams, g *globalOptions) error {
			return runUsageCollect(context.Background(), s, g, &usageCollectOptions{})
		})
		if code != 0 || strings.Contains(errs, "warning") || !strings.Contains(errs, "bbb-1: sampled") {
			t.Fatalf("collect: %d\n%s", code, errs)
		}
	}
	if got := strings.Join(r.tasksSince(0), " "); !strings.Contains(got, "tenants") {
		t.Fatalf("the tenants were not read through rake: %s", got)
	}
	out, errs, code := run(t, "", "usage", "report", "--month", "2026-11", "-i", r.inv, "-o", "json")
	r.seen.WriteString(out + errs)
	var rep struct {
		Tenants []struct {
			Tenant             string `json:"tenant"`
			ParticipantMinutes int64  `json:"participant_minutes"`
			PeakRecordingBytes int64  `json:"peak_recording_bytes"`
		} `json:"tenants"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Tenants) != 1 || rep.Tenants[0].Tenant != "school" || rep.Tenants[0].ParticipantMinutes != 20 ||
		rep.Tenants[0].PeakRecordingBytes != 4_000_000_000 {
		t.Fatalf("report: %d\n%s\n%s", code, out, errs)
	}
}

func TestRakeUpgradeDrainsConvergesAndEnablesEachBatch(t *testing.T) {
	r := newRakeRig(t)
	r.threeUp()
	r.sl.StartPoller(t, 5*time.Millisecond)
	waitUntil(t, func() bool {
		return r.state(t, "bbb-1").Online && r.state(t, "bbb-2").Online && r.state(t, "bbb-3").Online
	})
	var mu sync.Mutex
	var converged []string
	r.deps.Converge = func(_ context.Context, _ *inventory.Inventory, nodes []*inventory.Node, _ map[string]providers.Machine) map[string]error {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range nodes {
			if s := r.state(t, n.Name); s.State != pool.Disabled {
				t.Errorf("%s converged while %s", n.Name, s.State)
			}
			converged = append(converged, n.Name)
			r.bbb.Node(n.Name).SetVersion("3.0.5")
		}
		return nil
	}
	calls := len(r.sl.RakeCalls())
	out, errs, code := r.call(true, func(s *ui.Streams, g *globalOptions) error {
		return runUpgrade(context.Background(), s, g, &upgradeOptions{Group: "eu", To: "3.0.5", Batch: 2, Timeout: 10 * time.Second, Yes: true})
	})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var rep upgradeReportV1
	if code != 0 || json.Unmarshal([]byte(lines[len(lines)-1]), &rep) != nil || len(rep.Upgraded) != 3 || len(converged) != 3 {
		t.Fatalf("upgrade: code %d converged %v\n%s\n%s", code, converged, out, errs)
	}
	for _, n := range []string{"bbb-1", "bbb-2", "bbb-3"} {
		if s := r.state(t, n); s.State != pool.Enabled || r.bbb.Node(n).Version() != "3.0.5" {
			t.Errorf("%s is %s at %s", n, s.State, r.bbb.Node(n).Version())
		}
	}
	tasks := strings.Join(r.tasksSince(calls), " ")
	if strings.Count(tasks, "servers:cordon") != 3 || strings.Count(tasks, "servers:enable") != 3 || strings.Contains(tasks, "servers:panic") {
		t.Fatalf("upgrade ran %s", tasks)
	}
}

// omc scale with api: rake: the new machine is registered and enabled
// through rake once healthy, and scaling down drains the least loaded
// node through rake (cordon), waits for its meeting to end, removes it
// from the pool and only then deletes its machine.
func TestRakeScaleUpAndDown(t *testing.T) {
	r := newRakeRigWith(t, `    provider: hcloud
    location: fsn1
    server_type: cx22
    image: ubuntu-22.04
    count: 2
    name: bbb-{n}
`)
	hc, converged := r.hcloudGroup(t, "bbb-1", "bbb-2")
	if errs, code := r.up("bbb-1", "bbb-2"); code != 0 {
		t.Fatal(errs)
	}
	r.sl.StartPoller(t, 5*time.Millisecond)
	waitUntil(t, func() bool { return r.state(t, "bbb-1").Online && r.state(t, "bbb-2").Online })

	// 2 → 3: made, converged, registered and enabled through rake.
	calls := len(r.sl.RakeCalls())
	_, errs, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runScale(context.Background(), s, g, &scaleOptions{Group: "eu", N: 3})
	})
	if code != 0 || strings.Join(converged(), " ") != "bbb-3" || len(hc.Servers()) != 3 || r.state(t, "bbb-3").State != pool.Enabled {
		t.Fatalf("scale up: %d %v %+v\n%s", code, converged(), r.state(t, "bbb-3"), errs)
	}
	if got := strings.Join(r.tasksSince(calls), " "); !strings.Contains(got, "servers:add") || !strings.Contains(got, "servers:enable") {
		t.Fatalf("scale up ran %s", got)
	}
	if g := r.load().Group("eu"); g.Count != 3 {
		t.Fatalf("inventory count %d", g.Count)
	}

	// 3 → 2 with a meeting on every node: bbb-3 (the names above the new
	// count go) is cordoned through rake and deleted only after its
	// meeting ended; the others keep theirs.
	old := time.Now().Add(-time.Hour)
	for n, users := range map[string]int{"bbb-1": 9, "bbb-2": 1, "bbb-3": 5} {
		r.bbb.Node(n).CreateMeetingAt("m-"+n, users, 0, old)
	}
	waitUntil(t, func() bool {
		return r.state(t, "bbb-1").Load == 9 && r.state(t, "bbb-2").Load == 1 && r.state(t, "bbb-3").Load == 5
	})
	go func() {
		waitUntil(t, func() bool { return r.state(t, "bbb-3").State != pool.Enabled })
		time.Sleep(20 * time.Millisecond)
		r.bbb.Node("bbb-3").EndMeeting("m-bbb-3")
	}()
	calls = len(r.sl.RakeCalls())
	_, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runScale(context.Background(), s, g, &scaleOptions{Group: "eu", N: 2, Yes: true, Timeout: 10 * time.Second})
	})
	if code != 0 || !strings.Contains(errs, "remove, least loaded first: bbb-3") || len(hc.Servers()) != 2 {
		t.Fatalf("scale down: %d servers %d\n%s", code, len(hc.Servers()), errs)
	}
	if got := strings.Join(r.tasksSince(calls), " "); !strings.Contains(got, "servers:cordon") || !strings.Contains(got, "servers:remove") {
		t.Fatalf("scale down ran %s", got)
	}
	if r.state(t, "bbb-3").State != "absent" || r.state(t, "bbb-1").State != pool.Enabled || r.state(t, "bbb-2").State != pool.Enabled {
		t.Fatalf("pool after scale down: %+v", r.sl.Servers())
	}
	if len(r.bbb.Node("bbb-1").Meetings()) != 1 || len(r.bbb.Node("bbb-2").Meetings()) != 1 {
		t.Fatal("a meeting on a kept node was ended")
	}
	if g := r.load().Group("eu"); g.Count != 2 {
		t.Fatalf("inventory count %d", g.Count)
	}
}

// omc status --watch over rake keeps its one SSH connection to the
// Scalelite host from one refresh to the next, and closes it at the end.
func TestRakeStatusWatchKeepsOneConnection(t *testing.T) {
	r := newRakeRig(t)
	r.threeUp()
	r.sl.Poll(context.Background())
	accepted := func() int { return strings.Count(r.srv.Log(), "Accepted publickey") }
	before := accepted()

	w := startWatch(t, r.deps, r.inv, 5*time.Second, nil)
	for i := 0; i < 3; i++ {
		if i > 0 {
			w.ticks <- time.Time{}
		}
		if f := w.scr.next(t); !strings.Contains(f, "3 serving") {
			t.Fatalf("frame %d:\n%s", i+1, f)
		}
	}
	calls := len(r.sl.RakeCalls())
	if err := w.stop(t); err != nil {
		t.Fatal(err)
	}
	if n := accepted() - before; n != 1 || calls < 3 {
		t.Fatalf("three refreshes: %d SSH connections (want 1), %d rake calls", n, calls)
	}
	// Closed at the end: sshd sees the client go.
	waitUntil(t, func() bool { return strings.Count(r.srv.Log(), "Closing connection to") >= accepted() })
}
