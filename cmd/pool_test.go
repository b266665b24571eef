package cmd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/golden"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/fake"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/provision/roles"
)

const (
	testLBSecret = "lb-secret-never-in-output-5d1f0c"
	testSeed     = "seed-never-in-output-77a3e9"
)

// poolRig is a fleet whose pool is a FAKE Scalelite and whose nodes are
// FAKE BBB APIs, all on 127.0.0.1, described by a real inventory file.
type poolRig struct {
	t    *testing.T
	dir  string
	inv  string
	sl   *fake.Scalelite
	bbb  *fake.BBB
	deps *fleet.PoolDeps
	// seen collects everything omc printed (but the deliberate one-time
	// showing of a new tenant secret), for the never-shown checks.
	mu   sync.Mutex
	seen strings.Builder
}

// group is the inventory's group eu: static nodes, or hcloud counted ones.
func newPoolRig(t *testing.T, group string) *poolRig {
	t.Helper()
	d := isolate(t)
	t.Setenv("OMC_T_LB", testLBSecret)
	t.Setenv("OMC_T_SEED", testSeed)
	r := &poolRig{t: t, dir: d, sl: fake.NewScalelite(t, testLBSecret), bbb: fake.NewBBB(t)}
	r.deps = &fleet.PoolDeps{Poll: 5 * time.Millisecond}
	src := fmt.Sprintf(`apiVersion: omc/v1
name: t
secrets:
  bbb_seed: env:OMC_T_SEED
groups:
  eu:
    roles: [bbb]
    domain: "{name}.example.org"
    settings: {bbb_version: "3.0"}
    pool:
      url: %s
      secret: env:OMC_T_LB
      bbb_url: %s/{name}/bigbluebutton/api
      checks: []
      tenant_secrets: tenants
%s`, r.sl.URL, r.bbb.Server.URL, group)
	r.inv = filepath.Join(d, "omc.yaml")
	if err := os.WriteFile(r.inv, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.checkNeverShown)
	return r
}

const staticNodes = `    provider: static
    nodes:
      - {name: bbb-1, address: 127.0.0.1}
      - {name: bbb-2, address: 127.0.0.1}
      - {name: bbb-3, address: 127.0.0.1}
`

func (r *poolRig) load() *inventory.Inventory {
	r.t.Helper()
	inv, err := inventory.Load(r.inv)
	if err != nil {
		r.t.Fatal(err)
	}
	return inv
}

// node starts node name's fake BBB API with the secret omc derives for it
// (or another one) at version.
func (r *poolRig) node(name, version string, secret ...string) *fake.Node {
	r.t.Helper()
	inv := r.load()
	for _, n := range inv.Nodes() {
		if n.Name == name {
			sec, err := roles.APISecret(inv, n)
			if err != nil {
				r.t.Fatal(err)
			}
			if len(secret) > 0 {
				sec = secret[0]
			}
			// A node omc converged: allowRevealOfBBBVersion=true.
			return r.bbb.AddNode(name, sec, version).RevealVersion(true)
		}
	}
	// Not in the inventory (yet): as omc scale will see it.
	n := &inventory.Node{Name: name, Group: "eu", Roles: []string{"bbb"}, Settings: inventory.Settings{BBBVersion: "3.0", SeedSecret: "bbb_seed"}}
	sec, err := roles.APISecret(inv, n)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.bbb.AddNode(name, sec, version).RevealVersion(true)
}

// call runs a command's run function as Main would, and returns what it
// printed and its exit code.
func (r *poolRig) call(json bool, fn func(s *ui.Streams, g *globalOptions) error) (string, string, int) {
	r.t.Helper()
	return r.callWith(json, nil, fn)
}

// callWith is call with the factory's other stand-ins set by with (the
// rig's pool deps are in already).
func (r *poolRig) callWith(json bool, with func(*factory), fn func(s *ui.Streams, g *globalOptions) error) (string, string, int) {
	r.t.Helper()
	var out, errb bytes.Buffer
	s := &ui.Streams{In: strings.NewReader(""), Out: &out, Err: &errb, CI: true}
	g := &globalOptions{Inventory: r.inv, Output: "text", f: testFactory()}
	g.f.Pool = r.deps
	if with != nil {
		with(g.f)
	}
	if json {
		g.Output = "json"
	}
	err := fn(s, g)
	if err != nil {
		var ee *exitError
		if !(asExit(err, &ee) && ee.Silent) {
			fmt.Fprintln(&errb, "omc: "+err.Error())
		}
	}
	r.mu.Lock()
	r.seen.WriteString(out.String() + errb.String())
	r.mu.Unlock()
	return out.String(), errb.String(), exitCode(err)
}

func asExit(err error, ee **exitError) bool {
	for e := err; e != nil; {
		if x, ok := e.(*exitError); ok {
			*ee = x
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

// up runs the pool step of omc up as if every named node converged.
func (r *poolRig) up(nodes ...string) (string, int) {
	r.t.Helper()
	_, errs, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		inv := r.load()
		var sel []*inventory.Node
		var results []provision.Result
		for _, n := range inv.Nodes() {
			sel = append(sel, n)
			res := provision.Result{Host: n.Name}
			if !contains(nodes, n.Name) {
				res.Err = fmt.Errorf("converge failed")
			}
			results = append(results, res)
		}
		return fleet.SyncAfterUp(context.Background(), inv, sel, results, poolEnv(s, g))
	})
	return errs, code
}

// threeUp converges bbb-1, bbb-2 and bbb-3 at BBB 3.0.4 into the pool.
func (r *poolRig) threeUp() {
	r.t.Helper()
	for _, n := range []string{"bbb-1", "bbb-2", "bbb-3"} {
		r.node(n, "3.0.4")
	}
	if errs, code := r.up("bbb-1", "bbb-2", "bbb-3"); code != 0 {
		r.t.Fatal(errs)
	}
}

// plan runs the pool step of omc plan: the named nodes are converged
// (nothing pending on them), the others have changes pending.
func (r *poolRig) plan(nodes ...string) (int, string, int) {
	r.t.Helper()
	var pending int
	_, errs, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		inv := r.load()
		var results []provision.Result
		for _, n := range inv.Nodes() {
			res := provision.Result{Host: n.Name}
			if !contains(nodes, n.Name) {
				res.Changed = 1
			}
			results = append(results, res)
		}
		var err error
		pending, err = fleet.PlanPools(context.Background(), inv, inv.Nodes(), results, poolEnv(s, g))
		return err
	})
	return pending, errs, code
}

func TestPoolPlanShowsChangesAndWritesNothing(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	for _, n := range []string{"bbb-1", "bbb-2", "bbb-3"} {
		r.node(n, "3.0.4")
	}
	// bbb-3 has host changes pending: its registration waits for up. The
	// others would be added and enabled: 2 adds, 2 enables.
	pending, errs, code := r.plan("bbb-1", "bbb-2")
	if code != 0 || pending != 4 || !strings.Contains(errs, "bbb-1: pool eu: add") || !strings.Contains(errs, "bbb-2: pool eu: enable") || strings.Contains(errs, "bbb-3") {
		t.Fatalf("plan: code %d, %d pending\n%s", code, pending, errs)
	}
	if w := r.sl.Writes(); w != 0 || len(r.sl.Servers()) != 0 {
		t.Fatalf("plan wrote to the pool: %d writes, %d servers", w, len(r.sl.Servers()))
	}
	if _, code := r.up("bbb-1", "bbb-2", "bbb-3"); code != 0 {
		t.Fatal("up failed")
	}
	if pending, errs, code := r.plan("bbb-1", "bbb-2", "bbb-3"); code != 0 || pending != 0 || errs != "" {
		t.Fatalf("plan after up: code %d, %d pending\n%s", code, pending, errs)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (r *poolRig) state(t *testing.T, node string) pool.Server {
	t.Helper()
	s, ok := r.sl.ServerByURL(r.bbb.Server.URL + "/" + node + "/bigbluebutton/api")
	if !ok {
		return pool.Server{State: "absent"}
	}
	return s
}

// checkNeverShown: no secret but a tenant's own, shown once on purpose,
// appears in anything omc printed or logged.
func (r *poolRig) checkNeverShown() {
	r.mu.Lock()
	text := r.seen.String()
	r.mu.Unlock()
	logs, _ := filepath.Glob(filepath.Join(r.dir, "state", "logs", "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		text += string(b)
	}
	secrets := []string{testLBSecret, testSeed}
	if inv, err := inventory.Load(r.inv); err == nil {
		secrets = append(secrets, roles.SecretValues(inv, inv.Nodes())...)
	}
	for _, t := range r.sl.Tenants() {
		secrets = append(secrets, t.Secrets...)
	}
	for _, sec := range secrets {
		if sec != "" && strings.Contains(text, sec) {
			r.t.Errorf("a secret (%.6s…) appeared in output or logs", sec)
		}
	}
}

func TestPoolUpRegistersTheGroupAndASecondRunWritesNothing(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	for _, n := range []string{"bbb-1", "bbb-2", "bbb-3"} {
		r.node(n, "3.0.4")
	}
	// bbb-3 failed to converge: it is not touched.
	errs, code := r.up("bbb-1", "bbb-2")
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
		t.Fatalf("writes %d, want 4 (2 adds, 2 enables)", w)
	}
	errs, code = r.up("bbb-1", "bbb-2", "bbb-3")
	if code != 0 || r.sl.Writes() != 6 || strings.Contains(errs, "bbb-1:") {
		t.Fatalf("third node: code %d writes %d\n%s", code, r.sl.Writes(), errs)
	}
	before := r.sl.Writes()
	errs, code = r.up("bbb-1", "bbb-2", "bbb-3")
	if code != 0 || r.sl.Writes() != before || errs != "" {
		t.Fatalf("second run: code %d, %d writes\n%s", code, r.sl.Writes()-before, errs)
	}
	if len(r.sl.Servers()) != 3 {
		t.Fatalf("duplicates: %+v", r.sl.Servers())
	}
	// A changed tag and multiplier in the inventory is one update each.
	src, _ := os.ReadFile(r.inv)
	os.WriteFile(r.inv, bytes.Replace(src, []byte("{name: bbb-2, address: 127.0.0.1}"), []byte("{name: bbb-2, address: 127.0.0.1, tag: big, load_multiplier: 2}"), 1), 0o644)
	errs, code = r.up("bbb-1", "bbb-2", "bbb-3")
	if s := r.state(t, "bbb-2"); code != 0 || s.Tag != "big" || s.LoadMultiplier != 2 || r.sl.Writes() != before+1 {
		t.Fatalf("update: code %d %+v writes %d\n%s", code, s, r.sl.Writes()-before, errs)
	}
}

func TestPoolUpDoesNotEnableANodeWithAWrongSecret(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.node("bbb-1", "3.0.4")
	r.node("bbb-2", "3.0.4", "what-bbb-2-really-runs-with")
	r.node("bbb-3", "2.7.9")
	errs, code := r.up("bbb-1", "bbb-2", "bbb-3")
	if code != ExitError || !strings.Contains(errs, "bbb-2 not enabled in pool eu") || !strings.Contains(errs, "checksumError") ||
		!strings.Contains(errs, "bbb-3 not enabled in pool eu: left disabled: bbbVersion is 2.7.9, expected 3.0") {
		t.Fatalf("code %d\n%s", code, errs)
	}
	for n, want := range map[string]string{"bbb-1": pool.Enabled, "bbb-2": pool.Disabled, "bbb-3": pool.Disabled} {
		if s := r.state(t, n); s.State != want {
			t.Errorf("%s is %s, want %s", n, s.State, want)
		}
	}
	if strings.Contains(errs, "what-bbb-2-really-runs-with") {
		t.Error("the node's own secret was shown")
	}
}

func TestStatusTableGoldenJSONAndUnhealthyExit(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.threeUp()
	inv := r.load()
	at := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	fleet.RecordConverge(inv, at, "bbb-1", "bbb-2", "bbb-3")
	old := time.Now().Add(-time.Hour)
	r.bbb.Node("bbb-1").CreateMeetingAt("maths", 12, 1, old)
	r.bbb.Node("bbb-1").CreateMeetingAt("art", 4, 1, old)
	r.bbb.Node("bbb-2").CreateMeetingAt("music", 2, 1, old)
	r.sl.Poll(context.Background())

	// All healthy: exit 0.
	out, errs, code := run(t, "", "status", "-i", r.inv)
	r.seen.WriteString(out + errs)
	if code != 0 {
		t.Fatalf("healthy: code %d\n%s\n%s", code, out, errs)
	}

	// bbb-3 stops answering: Scalelite takes it offline, status exits 5.
	r.bbb.Node("bbb-3").SetDown(true)
	r.sl.Poll(context.Background())
	r.sl.Poll(context.Background())
	out, errs, code = run(t, "", "status", "eu", "-i", r.inv)
	r.seen.WriteString(out + errs)
	if code != ExitUnhealthy || !strings.Contains(errs, "1 of 3 nodes unhealthy") {
		t.Fatalf("unhealthy: code %d\n%s\n%s", code, out, errs)
	}
	got := strings.ReplaceAll(out, r.sl.URL, "$SCALELITE")
	got = strings.ReplaceAll(got, r.bbb.Server.URL, "$BBB")
	golden.AssertString(t, "status.golden", got)

	out, _, code = run(t, "", "status", "-i", r.inv, "-o", "json")
	r.seen.WriteString(out)
	if code != ExitUnhealthy {
		t.Fatalf("json: code %d", code)
	}
	checkStatusSchema(t, out)
	var st statusV1
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	n1, n3 := st.Pools[0].Nodes[0], st.Pools[0].Nodes[2]
	if st.Healthy || *n1.Meetings != 2 || *n1.Users != 16 || *n1.Load != 18 || !n1.Healthy || n1.LastConverge == nil || !n1.LastConverge.Equal(at) ||
		n3.Healthy || n3.Meetings != nil || n3.Online {
		t.Fatalf("json: %s", out)
	}
}

// checkStatusSchema pins omc status -o json version 1: exactly these keys
// with these JSON types (null allowed where marked with ?).
func checkStatusSchema(t *testing.T, out string) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	check := func(where string, m map[string]any, want map[string]string) {
		var got []string
		for k := range m {
			got = append(got, k)
		}
		sort.Strings(got)
		var keys []string
		for k := range want {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			typ := want[k]
			v, ok := m[k]
			if !ok {
				if strings.HasSuffix(typ, "!") { // omitempty
					continue
				}
				t.Errorf("%s: missing %q", where, k)
				continue
			}
			typ = strings.TrimSuffix(typ, "!")
			if v == nil && strings.HasSuffix(typ, "?") {
				continue
			}
			typ = strings.TrimSuffix(typ, "?")
			ok = false
			switch typ {
			case "string":
				_, ok = v.(string)
			case "number":
				_, ok = v.(float64)
			case "bool":
				_, ok = v.(bool)
			case "array":
				_, ok = v.([]any)
			case "object":
				_, ok = v.(map[string]any)
			case "time":
				s, isStr := v.(string)
				_, err := time.Parse(time.RFC3339, s)
				ok = isStr && err == nil
			}
			if !ok {
				t.Errorf("%s.%s: %v is not a %s", where, k, v, typ)
			}
		}
		for _, k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%s: unexpected key %q (add it to the documented schema)", where, k)
			}
		}
	}
	check("status", doc, map[string]string{"v": "number", "type": "string", "healthy": "bool", "pools": "array"})
	if doc["v"] != 1.0 || doc["type"] != "status" {
		t.Errorf("v %v type %v", doc["v"], doc["type"])
	}
	for _, p := range doc["pools"].([]any) {
		pm := p.(map[string]any)
		check("pool", pm, map[string]string{"group": "string", "scalelite": "string", "error": "string!", "nodes": "array", "unmanaged": "number"})
		for _, n := range pm["nodes"].([]any) {
			check("node", n.(map[string]any), map[string]string{"node": "string", "provider": "string", "address": "string", "machine": "string",
				"bbb_version": "string", "pool_state": "string", "online": "bool", "meetings": "number?", "users": "number?", "load": "number?",
				"tls_expires": "time?", "last_converge": "time?", "held": "string!", "healthy": "bool", "problems": "array", "transfers": "object!"})
		}
	}
}

func TestDrainEnableRemove(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.threeUp()
	r.bbb.Node("bbb-2").CreateMeetingAt("class", 5, 1, time.Now().Add(-time.Hour))
	r.sl.StartPoller(t, 5*time.Millisecond)
	waitUntil(t, func() bool { s := r.state(t, "bbb-2"); return s.Online && s.Load == 6 })
	ctx := context.Background()

	// A meeting that does not end: the drain gives up, the node stays
	// cordoned, the meeting goes on.
	_, errs, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runDrain(ctx, s, g, &drainOptions{Node: "bbb-2", Timeout: 100 * time.Millisecond})
	})
	if code != ExitError || !strings.Contains(errs, "still has load 6") || r.state(t, "bbb-2").State != pool.Cordoned || len(r.bbb.Node("bbb-2").Meetings()) != 1 {
		t.Fatalf("drain timeout: code %d %+v\n%s", code, r.state(t, "bbb-2"), errs)
	}
	// omc up does not put a drained node back.
	if errs, code := r.up("bbb-1", "bbb-2", "bbb-3"); code != 0 || r.state(t, "bbb-2").State != pool.Cordoned || !strings.Contains(errs, "drained by an operator") {
		t.Fatalf("up after drain: %d %s", code, errs)
	}
	// The meeting ends: the drain finishes with the node disabled.
	go func() { time.Sleep(50 * time.Millisecond); r.bbb.Node("bbb-2").EndMeeting("class") }()
	out, _, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runDrain(ctx, s, g, &drainOptions{Node: "bbb-2", Timeout: 10 * time.Second, Yes: true})
	})
	if code != 0 || out != "bbb-2\tdisabled\n" {
		t.Fatalf("drain: %d %q", code, out)
	}
	sout, _, scode := run(t, "", "status", "-i", r.inv)
	if scode != 0 || !strings.Contains(sout, "bbb-2: drained by an operator: omc drain by") {
		t.Fatalf("a drained node is not unhealthy: %d\n%s", scode, sout)
	}

	// --force ends the meetings at the deadline.
	r.bbb.Node("bbb-3").CreateMeetingAt("late", 3, 0, time.Now().Add(-time.Hour))
	waitUntil(t, func() bool { return r.state(t, "bbb-3").Load == 3 })
	_, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runDrain(ctx, s, g, &drainOptions{Node: "bbb-3", Timeout: 50 * time.Millisecond, Force: true, Yes: true})
	})
	if code != 0 || len(r.bbb.Node("bbb-3").Meetings()) != 0 || r.state(t, "bbb-3").State != pool.Disabled {
		t.Fatalf("force: %d %+v\n%s", code, r.state(t, "bbb-3"), errs)
	}

	// enable: healthy, back in; a node failing its gate stays out.
	out, _, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runEnable(ctx, s, g, &drainOptions{Node: "bbb-2"})
	})
	if code != 0 || out != "bbb-2\tenabled\n" || r.state(t, "bbb-2").State != pool.Enabled {
		t.Fatalf("enable: %d %q", code, out)
	}
	r.bbb.Node("bbb-3").SetSecret("rotated-by-hand")
	_, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runEnable(ctx, s, g, &drainOptions{Node: "bbb-3"})
	})
	if code != ExitError || !strings.Contains(errs, "checksumError") || r.state(t, "bbb-3").State != pool.Disabled {
		t.Fatalf("enable with a wrong secret: %d\n%s", code, errs)
	}

	// remove: drained and deregistered; the up that follows registers it
	// again, disabled, until omc enable.
	_, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runRemove(ctx, s, g, &drainOptions{Node: "bbb-1", Timeout: 10 * time.Second, Yes: true})
	})
	if code != 0 || r.state(t, "bbb-1").State != "absent" {
		t.Fatalf("remove: %d %+v\n%s", code, r.state(t, "bbb-1"), errs)
	}
	if _, code := r.up("bbb-1"); code != 0 || r.state(t, "bbb-1").State != pool.Disabled {
		t.Fatalf("up after remove: %+v", r.state(t, "bbb-1"))
	}
}

func TestUpgradeStopsAtTheFailingNodeLeavingTheOthersServing(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.threeUp()
	// bbb-3 has a meeting, so it goes last.
	r.bbb.Node("bbb-3").CreateMeetingAt("class", 5, 1, time.Now().Add(-time.Hour))
	r.sl.StartPoller(t, 5*time.Millisecond)
	waitUntil(t, func() bool {
		s := r.state(t, "bbb-3")
		return s.Online && s.Load == 6 && r.state(t, "bbb-1").Online && r.state(t, "bbb-2").Online
	})
	var mu sync.Mutex
	var converged []string
	r.deps.Converge = func(_ context.Context, _ *inventory.Inventory, nodes []*inventory.Node, _ map[string]providers.Machine) map[string]error {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range nodes {
			if v := n.Run.BBBVersion; v != "3.0" {
				t.Errorf("%s converged with run version %q", n.Name, v)
			}
			if s := r.state(t, n.Name); s.State != pool.Disabled {
				t.Errorf("%s converged while %s", n.Name, s.State)
			}
			converged = append(converged, n.Name)
			if n.Name != "bbb-2" { // bbb-2 comes back at the old version
				r.bbb.Node(n.Name).SetVersion("3.0.5")
			}
		}
		return nil
	}
	out, errs, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runUpgrade(context.Background(), s, g, &upgradeOptions{Group: "eu", To: "3.0.5", Batch: 1, Timeout: 10 * time.Second, Yes: true})
	})
	if code != ExitError || !strings.Contains(errs, "bbb-2: health check: bbbVersion is 3.0.4, expected 3.0.5") {
		t.Fatalf("code %d\n%s\n%s", code, out, errs)
	}
	if strings.Join(converged, " ") != "bbb-1 bbb-2" || out != "upgraded\tbbb-1\nskipped\t-\nfailed\tbbb-2\nuntouched\tbbb-3\n" {
		t.Fatalf("converged %v\n%s", converged, out)
	}
	for n, want := range map[string]string{"bbb-1": pool.Enabled, "bbb-2": pool.Disabled, "bbb-3": pool.Enabled} {
		if s := r.state(t, n); s.State != want {
			t.Errorf("%s is %s, want %s", n, s.State, want)
		}
	}
	if len(r.bbb.Node("bbb-3").Meetings()) != 1 {
		t.Fatal("the meeting on the untouched node ended")
	}
	// Fixed, run again: bbb-1 skipped, bbb-2 only enabled, bbb-3 once
	// its meeting ended.
	r.bbb.Node("bbb-2").SetVersion("3.0.5")
	go func() {
		for r.state(t, "bbb-3").State != pool.Cordoned {
			time.Sleep(2 * time.Millisecond)
		}
		r.bbb.Node("bbb-3").EndMeeting("class")
	}()
	converged = nil
	out, errs, code = r.call(true, func(s *ui.Streams, g *globalOptions) error {
		return runUpgrade(context.Background(), s, g, &upgradeOptions{Group: "eu", To: "3.0.5", Batch: 2, Timeout: 10 * time.Second, Yes: true})
	})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var rep upgradeReportV1
	if code != 0 || json.Unmarshal([]byte(lines[len(lines)-1]), &rep) != nil {
		t.Fatalf("rerun: code %d\n%s\n%s", code, out, errs)
	}
	if strings.Join(rep.Skipped, " ") != "bbb-1 bbb-2" || strings.Join(rep.Upgraded, " ") != "bbb-3" || strings.Join(converged, " ") != "bbb-3" {
		t.Fatalf("rerun: %+v converged %v", rep, converged)
	}
	for _, n := range []string{"bbb-1", "bbb-2", "bbb-3"} {
		if s := r.state(t, n); s.State != pool.Enabled {
			t.Errorf("%s is %s", n, s.State)
		}
	}
}

func TestTenantsSecretsShownOnceStoredAndNeverListed(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.sl.SetMultitenancy(true)
	ctx := context.Background()
	out, errs, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runTenantAdd(ctx, s, g, &tenantOptions{Name: "school-a"})
	})
	secret := strings.TrimSpace(out)
	tl := r.sl.Tenants()
	if code != 0 || len(secret) != 64 || len(tl) != 1 || tl[0].Secrets[0] != secret || !strings.Contains(errs, "shown only this once") {
		t.Fatalf("add: %d %q\n%s", code, out, errs)
	}
	// the one deliberate showing is not "seen" output
	r.mu.Lock()
	seen := strings.ReplaceAll(r.seen.String(), secret, "")
	r.seen.Reset()
	r.seen.WriteString(seen)
	r.mu.Unlock()
	stored := filepath.Join(r.dir, "tenants", "school-a.secret")
	b, err := os.ReadFile(stored)
	if fi, _ := os.Stat(stored); err != nil || strings.TrimSpace(string(b)) != secret || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stored: %v %q", err, b)
	}

	// --secret-file: written there, not shown.
	sf := filepath.Join(r.dir, "b.secret")
	out, errs, code = r.call(true, func(s *ui.Streams, g *globalOptions) error {
		return runTenantAdd(ctx, s, g, &tenantOptions{Name: "school-b", SecretFile: sf})
	})
	b, _ = os.ReadFile(sf)
	if code != 0 || len(strings.TrimSpace(string(b))) != 64 || strings.Contains(out, strings.TrimSpace(string(b))) || !strings.Contains(out, `"secret_file"`) {
		t.Fatalf("secret-file: %d\n%s\n%s", code, out, errs)
	}

	// list: names, never secrets (checkNeverShown looks at all of it).
	out, _, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runTenantList(ctx, s, g, &tenantOptions{})
	})
	if code != 0 || !strings.Contains(out, "school-a") || !strings.Contains(out, "school-b") || !strings.Contains(out, stored) {
		t.Fatalf("list: %s", out)
	}

	// rotate --keep-old: both valid; rotate: only the new one.
	out, _, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runTenantRotate(ctx, s, g, &tenantOptions{Name: "school-a", KeepOld: true, Yes: true})
	})
	second := strings.TrimSpace(out)
	if code != 0 || strings.Join(r.sl.Tenants()[0].Secrets, ":") != second+":"+secret {
		t.Fatalf("rotate --keep-old: %d %v", code, r.sl.Tenants()[0].Secrets)
	}
	r.mu.Lock()
	seen = strings.ReplaceAll(r.seen.String(), second, "")
	r.seen.Reset()
	r.seen.WriteString(seen)
	r.mu.Unlock()

	// disable: a secret nobody is told, the stored copy gone.
	out, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runTenantDisable(ctx, s, g, &tenantOptions{Name: "school-a", Yes: true})
	})
	now := r.sl.Tenants()[0].Secrets
	if code != 0 || out != "" || len(now) != 1 || now[0] == secret || now[0] == second || fileExists(stored) {
		t.Fatalf("disable: %d %q %v\n%s", code, out, now, errs)
	}
	// Unknown tenant: an error naming it.
	_, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runTenantRotate(ctx, s, g, &tenantOptions{Name: "nobody"})
	})
	if code != ExitError || !strings.Contains(errs, `no tenant named "nobody"`) {
		t.Fatalf("unknown: %d %s", code, errs)
	}
	// Multitenancy off: Scalelite's refusal, explained.
	r.sl.SetMultitenancy(false)
	_, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runTenantList(ctx, s, g, &tenantOptions{})
	})
	if code != ExitError || !strings.Contains(errs, "MULTITENANCY_ENABLED") {
		t.Fatalf("multitenancy off: %d %s", code, errs)
	}
}

func TestPoolCommandsNeverShowTheLoadBalancerSecretOnErrors(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.node("bbb-1", "3.0.4")
	// Scalelite runs with another LB secret: every call is refused.
	t.Setenv("OMC_T_LB", testLBSecret+"-wrong")
	out, errs, code := run(t, "", "status", "-i", r.inv)
	r.seen.WriteString(out + errs)
	if code != ExitUnhealthy || !strings.Contains(out, "load-balancer secret omc uses is not Scalelite's") {
		t.Fatalf("code %d\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out+errs, testLBSecret+"-wrong") {
		t.Fatal("the (wrong) load-balancer secret was shown")
	}
	for _, args := range [][]string{{"drain", "bbb-1"}, {"enable", "bbb-1"}, {"tenant", "list"}, {"upgrade", "eu", "--to", "3.0", "--yes"}} {
		out, errs, code := run(t, "", append(args, "-i", r.inv)...)
		r.seen.WriteString(out + errs)
		if code == 0 || strings.Contains(out+errs, testLBSecret) {
			t.Errorf("%v: code %d\n%s", args, code, errs)
		}
	}
}

// hcloud-backed rig for omc scale: the group's machines live in the FAKE
// Hetzner Cloud API; "converging" a node starts its FAKE BBB API.
func TestScaleThreeToFiveToTwoWithMeetings(t *testing.T) {
	r := newPoolRig(t, `    provider: hcloud
    location: fsn1
    server_type: cx22
    image: ubuntu-22.04
    count: 3
    name: bbb-{n}
`)
	hc, converged := r.hcloudGroup(t, "bbb-1", "bbb-2", "bbb-3")
	if errs, code := r.up("bbb-1", "bbb-2", "bbb-3"); code != 0 {
		t.Fatal(errs)
	}
	r.sl.StartPoller(t, 5*time.Millisecond)
	waitUntil(t, func() bool {
		return r.state(t, "bbb-1").Online && r.state(t, "bbb-2").Online && r.state(t, "bbb-3").Online
	})

	// --dry-run: the capacity model's reasoning, nothing made.
	_, errs, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runScale(context.Background(), s, g, &scaleOptions{Group: "eu", N: -1, ForUsers: 700, DryRun: true})
	})
	if code != 0 || !strings.Contains(errs, "eu: 3 → 5 nodes (700 users + 20% headroom = 840, at 200 users per node = 5 node(s))") || len(hc.Servers()) != 3 {
		t.Fatalf("dry run: %d\n%s", code, errs)
	}

	// 3 → 5
	_, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runScale(context.Background(), s, g, &scaleOptions{Group: "eu", N: -1, ForUsers: 700})
	})
	if code != 0 || strings.Join(converged(), " ") != "bbb-4 bbb-5" || len(hc.Servers()) != 5 || !strings.Contains(errs, "eu: count set to 5") {
		t.Fatalf("scale up: %d %v\n%s", code, converged(), errs)
	}
	for _, n := range []string{"bbb-1", "bbb-2", "bbb-3", "bbb-4", "bbb-5"} {
		if s := r.state(t, n); s.State != pool.Enabled {
			t.Fatalf("%s is %s", n, s.State)
		}
	}
	if g := r.load().Group("eu"); g.Count != 5 {
		t.Fatalf("inventory count %d", g.Count)
	}

	// Meetings on bbb-1, bbb-3, bbb-4 and bbb-5; 5 → 2 removes bbb-3..5,
	// least loaded first, each only once its meeting ended.
	old := time.Now().Add(-time.Hour)
	for n, users := range map[string]int{"bbb-1": 20, "bbb-3": 8, "bbb-4": 1, "bbb-5": 3} {
		r.bbb.Node(n).CreateMeetingAt("m-"+n, users, 0, old)
	}
	waitUntil(t, func() bool {
		return r.state(t, "bbb-1").Load == 20 && r.state(t, "bbb-3").Load == 8 && r.state(t, "bbb-4").Load == 1 && r.state(t, "bbb-5").Load == 3
	})
	go func() {
		for _, n := range []string{"bbb-4", "bbb-5", "bbb-3"} {
			waitUntil(t, func() bool { return r.state(t, n).State != pool.Enabled })
			time.Sleep(20 * time.Millisecond)
			r.bbb.Node(n).EndMeeting("m-" + n)
		}
	}()
	_, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runScale(context.Background(), s, g, &scaleOptions{Group: "eu", N: 2, Yes: true, Timeout: 10 * time.Second})
	})
	if code != 0 || !strings.Contains(errs, "remove, least loaded first: bbb-4, bbb-5, bbb-3") || len(hc.Servers()) != 2 {
		t.Fatalf("scale down: %d servers %d\n%s", code, len(hc.Servers()), errs)
	}
	for _, n := range []string{"bbb-1", "bbb-2"} {
		if s := r.state(t, n); s.State != pool.Enabled {
			t.Errorf("%s is %s", n, s.State)
		}
	}
	if len(r.bbb.Node("bbb-1").Meetings()) != 1 || len(r.sl.Servers()) != 2 {
		t.Fatalf("bbb-1's meeting or the pool: %+v", r.sl.Servers())
	}
	if g := r.load().Group("eu"); g.Count != 2 {
		t.Fatalf("inventory count %d", g.Count)
	}
	// Not on a terminal, deleting needs --yes.
	_, errs, code = r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runScale(context.Background(), s, g, &scaleOptions{Group: "eu", N: 1})
	})
	if code != ExitUsage || len(hc.Servers()) != 2 {
		t.Fatalf("without --yes: %d %s", code, errs)
	}
}

// watchedProvider fails the test when a machine is deleted while its node
// still has meetings or is still registered.
type watchedProvider struct {
	providers.Provider
	r *poolRig
	t *testing.T
}

func (w *watchedProvider) Delete(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, names []string) error {
	for _, n := range names {
		if node := w.r.bbb.Node(n); node != nil && len(node.Meetings()) > 0 {
			w.t.Errorf("%s deleted with %d meeting(s)", n, len(node.Meetings()))
		}
		if s := w.r.state(w.t, n); s.State != "absent" {
			w.t.Errorf("%s deleted while registered (%s)", n, s.State)
		}
		w.r.bbb.RemoveNode(n)
	}
	return w.Provider.Delete(ctx, inv, g, names)
}

func testPubKey(t *testing.T) string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ssh.NewPublicKey(pub)
	return providers.AuthorizedKey(k)
}

func waitUntil(t *testing.T, ok func() bool) {
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Error("timed out waiting")
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestExitCodeFiveIsDocumented(t *testing.T) {
	out, _, code := run(t, "", "help", "exit-codes")
	if code != 0 || !strings.Contains(out, `5    "omc status" only: a node is unhealthy`) {
		t.Fatalf("%d\n%s", code, out)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil || !strings.Contains(string(readme), "| 5 | `omc status` only") {
		t.Fatal("README's exit code table lacks 5")
	}
	for _, c := range []string{"status", "drain", "enable", "remove", "upgrade", "scale", "tenant"} {
		if !strings.Contains(string(readme), "| `omc "+c) {
			t.Errorf("README's command table lacks omc %s", c)
		}
	}
}
