package robot

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/providers/robot/fake"
)

const mixedInv = `apiVersion: omc/v1
name: coop
groups:
  metal:
    provider: robot
    roles: [bbb]
    domain: "{name}.bbb.example.org"
    order: {product: EX44, location: FSN1}
    nodes:
      - {name: claimed, server: 321}
      - {name: ordered}
`

func TestClaimedServerIsListedAndUsedNeverOrdered(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowOrder = true })
	e.fake.AddServer(321, "192.0.2.50", "EX42")
	e.fake.AddServer(999, "192.0.2.99", "AX41") // not this inventory's
	inv := load(t, mixedInv)
	g := inv.Group("metal")
	ctx := context.Background()

	ms, err := e.p.List(ctx, inv, g)
	if err != nil || len(ms) != 1 || ms[0].Name != "claimed" || ms[0].Address != "192.0.2.50" || ms[0].ID != "321" || len(ms[0].HostKeys) != 0 {
		t.Fatalf("List: %+v %v", ms, err)
	}
	made, err := e.p.Create(ctx, inv, g, nodesOf(inv, "claimed"))
	if err != nil || len(made) != 1 || made[0].Address != "192.0.2.50" {
		t.Fatalf("Create: %+v %v", made, err)
	}
	if w := e.fake.Writes(); w != 0 {
		t.Errorf("a claimed server cost %d API writes; want none (%v)", w, e.fake.Calls())
	}
	if len(e.fake.Transactions()) != 0 || len(e.inst.targets) != 0 {
		t.Errorf("claimed server ordered or installed: %v %v", e.fake.Transactions(), e.inst.targets)
	}
	// A server number the account does not have is an error, not an order.
	e2 := newEnv(t, func(o *Options) { o.AllowOrder = true })
	if _, err := e2.p.List(ctx, inv, g); err == nil || !strings.Contains(err.Error(), "server 321 is not a server of this Robot account") {
		t.Fatalf("unknown server: %v", err)
	}
}

func TestOrderNeedsAllowOrderAndShowsThePrice(t *testing.T) {
	e := newEnv(t)
	e.fake.AddServer(321, "192.0.2.50", "EX42")
	inv := load(t, mixedInv)
	_, err := e.p.Create(context.Background(), inv, inv.Group("metal"), nodesOf(inv, "claimed", "ordered"))
	if err == nil {
		t.Fatal("ordered without --allow-order")
	}
	for _, want := range []string{"ordered: product EX44 (Dedicated Server EX44) in FSN1: €39.00/month, setup €0.00, plus primary IPv4 €1.70/month", "--allow-order", "nothing was ordered"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if w := e.fake.Writes(); w != 0 || len(e.fake.Transactions()) != 0 {
		t.Fatalf("%d writes, %d orders without --allow-order", w, len(e.fake.Transactions()))
	}
	noSecrets(t, err.Error(), e.stderr.String())
}

func TestOrderPlacedOnceRecordedInstalledAndSecondUpWritesNothing(t *testing.T) {
	e := newEnv(t)
	e.fake.OrderDelay = 40 * time.Millisecond
	e.fake.AddServer(321, "192.0.2.50", "EX42")
	inv := load(t, mixedInv)
	g := inv.Group("metal")
	ctx := AllowOrders(context.Background())

	ms, err := e.p.Create(ctx, inv, g, nodesOf(inv, "claimed", "ordered"))
	if err != nil {
		t.Fatalf("Create: %v\n%s", err, e.stderr.String())
	}
	txns := e.fake.Transactions()
	if len(txns) != 1 || txns[0].Product != "EX44" || txns[0].Status != "ready" {
		t.Fatalf("orders: %+v", txns)
	}
	// Ordered where the inventory says, with an IPv4: without the addon
	// Robot delivers an IPv6-only server omc could not reach.
	if txns[0].Location != "FSN1" || strings.Join(txns[0].Addons, ",") != "primary_ipv4" {
		t.Errorf("order placed in %q with addons %v; want FSN1 with primary_ipv4", txns[0].Location, txns[0].Addons)
	}
	srv, _ := e.fake.Server(txns[0].Server)
	if len(ms) != 2 || ms[1].Name != "ordered" || ms[1].Address != srv.IP || len(ms[1].HostKeys) != 1 {
		t.Fatalf("machines %+v", ms)
	}
	// The transaction and the order's own key are recorded.
	b, err := os.ReadFile(e.p.statePath("coop"))
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	rec := st.Nodes["ordered"]
	if rec == nil || rec.Order == nil || rec.Order.Transaction != txns[0].ID || rec.ServerNumber != txns[0].Server || rec.Install != installed {
		t.Fatalf("state: %s", b)
	}
	if len(txns[0].Keys) != 1 || txns[0].Keys[0] != rec.Order.KeyFingerprint {
		t.Errorf("order key %v, recorded %s", txns[0].Keys, rec.Order.KeyFingerprint)
	}
	if _, err := os.Stat(e.p.keyPath("order", "coop", "ordered")); err != nil {
		t.Errorf("per-order key not kept: %v", err)
	}
	// The install ran in rescue (armed with the operator's key, hw reset)
	// with omc's host key, and SSH was awaited with that key.
	if len(e.inst.targets) != 1 || !strings.HasPrefix(e.inst.targets[0].Address, "127.79.") {
		t.Fatalf("installs: %+v", e.inst.targets)
	}
	tg := e.inst.targets[0]
	if tg.HostKey.Public != ms[1].HostKeys[0] || tg.Hostname != "ordered.bbb.example.org" || tg.AuthorizedKeys[0] != e.opts.PublicKey {
		t.Errorf("target %+v", tg)
	}
	if srv.Resets[0] != "hw" || srv.RescueArmed {
		t.Errorf("server after install: %+v", srv)
	}
	if !strings.Contains(strings.Join(e.waits, "\n"), ms[1].HostKeys[0]) {
		t.Errorf("never waited for the installed system's key: %v", e.waits)
	}
	if claimed, _ := e.fake.Server(321); len(claimed.Resets) != 0 {
		t.Error("the claimed server was reset")
	}

	// The next run: List finds both, Create writes nothing.
	writes := e.fake.Writes()
	p2 := e.again()
	ms2, err := p2.List(ctx, inv, g)
	if err != nil || len(ms2) != 2 || ms2[1].HostKeys[0] != ms[1].HostKeys[0] {
		t.Fatalf("second List: %+v %v", ms2, err)
	}
	if _, err := p2.Create(ctx, inv, g, nodesOf(inv, "claimed", "ordered")); err != nil {
		t.Fatal(err)
	}
	if w := e.fake.Writes(); w != writes || len(e.fake.Transactions()) != 1 {
		t.Fatalf("second up: %d writes (want %d), %d orders", w, writes, len(e.fake.Transactions()))
	}
	noSecrets(t, e.stderr.String(), string(b))
	// Robot hands out a rescue root password even with keys; omc never
	// passes it on.
	if strings.Contains(e.stderr.String()+string(b), "fakeRescue") {
		t.Errorf("the rescue password was shown or stored:\n%s\n%s", e.stderr.String(), b)
	}
}

func TestMarketOrder(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowOrder = true })
	e.fake.OrderDelay = 0
	inv := load(t, "apiVersion: omc/v1\nname: coop\ngroups:\n  m:\n    provider: robot\n    nodes:\n      - {name: cheap, order: {market: 2366354}}\n")
	if _, err := e.p.Create(context.Background(), inv, inv.Group("m"), inv.Nodes()); err != nil {
		t.Fatal(err)
	}
	txns := e.fake.Transactions()
	if len(txns) != 1 || !txns[0].Market || txns[0].Product != "2366354" || strings.Join(txns[0].Addons, ",") != "primary_ipv4" {
		t.Fatalf("%+v", txns)
	}
	if !strings.Contains(e.stderr.String(), "ordering server-market offer 2366354 (SB106, Intel Core i7-6700, 64 GB RAM") || !strings.Contains(e.stderr.String(), "€50.42/month") {
		t.Errorf("price not shown before ordering:\n%s", e.stderr.String())
	}
}

func TestSlowOrderStaysRecordedAndIsNeverPlacedTwice(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowOrder = true; o.OrderTimeout = 30 * time.Millisecond })
	inv := load(t, mixedInv)
	g := inv.Group("metal")
	ctx := context.Background()
	_, err := e.p.Create(ctx, inv, g, nodesOf(inv, "ordered"))
	if err == nil || !strings.Contains(err.Error(), `is still "in process"`) || !strings.Contains(err.Error(), "no second order") {
		t.Fatalf("want a bounded wait, got %v", err)
	}
	e.fake.AddServer(321, "192.0.2.50", "EX42")
	if ms, err := e.p.List(ctx, inv, g); err != nil || len(ms) != 1 || ms[0].Name != "claimed" {
		t.Fatalf("List while the order is in process: %+v %v", ms, err)
	}
	e.fake.Advance(2 * time.Hour)
	if _, err := e.again().Create(ctx, inv, g, nodesOf(inv, "ordered")); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Transactions()); n != 1 {
		t.Fatalf("%d orders", n)
	}
}

func TestInterruptedOrderIsFoundByItsKey(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowOrder = true })
	e.fake.OrderDelay = 0
	e.fake.Inject(fake.Fault{Method: http.MethodPost, Path: "/order/server/transaction", Drop: true})
	inv := load(t, mixedInv)
	g := inv.Group("metal")
	ctx := context.Background()
	_, err := e.p.Create(ctx, inv, g, nodesOf(inv, "ordered"))
	if err == nil || !strings.Contains(err.Error(), "outcome is unknown") {
		t.Fatalf("want an unknown outcome, got %v", err)
	}
	if n := len(e.fake.Transactions()); n != 1 {
		t.Fatalf("the dropped order was not placed in the fake (%d)", n)
	}
	if _, err := e.again().Create(ctx, inv, g, nodesOf(inv, "ordered")); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Transactions()); n != 1 {
		t.Fatalf("ordered again after a lost answer: %d orders", n)
	}
	if !strings.Contains(e.stderr.String(), "whose answer was lost") {
		t.Errorf("stderr:\n%s", e.stderr.String())
	}
}

func TestRefusedOrderLeavesNothingBehind(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowOrder = true })
	e.fake.Inject(fake.Fault{Method: http.MethodPost, Path: "/order/server/transaction", Status: 409, Code: "CONFLICT"})
	inv := load(t, mixedInv)
	_, err := e.p.Create(context.Background(), inv, inv.Group("metal"), nodesOf(inv, "ordered"))
	if err == nil || !strings.Contains(err.Error(), "nothing was ordered") {
		t.Fatalf("%v", err)
	}
	st, _ := e.p.readState("coop")
	if len(st.Nodes) != 0 || len(e.fake.Keys()) != 0 || len(e.fake.Transactions()) != 0 {
		t.Fatalf("left behind: state %+v, keys %v", st.Nodes, e.fake.Keys())
	}
}

func TestWrongPasswordFailsAtOnceWithOneRequest(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Password = "wrong-password-xyz" })
	inv := load(t, mixedInv)
	g := inv.Group("metal")
	_, err := e.p.List(context.Background(), inv, g)
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "does not retry") {
		t.Fatalf("want ErrUnauthorized, got %v", err)
	}
	// The same run never tries again: a second failure would count
	// towards the lock-out.
	_, err2 := e.p.Create(AllowOrders(context.Background()), inv, g, inv.Nodes())
	if !errors.Is(err2, ErrUnauthorized) {
		t.Fatalf("second call: %v", err2)
	}
	if n := len(e.fake.Calls()); n != 1 || e.requests != 1 {
		t.Fatalf("%d requests reached the service (%d sent); want exactly one", n, e.requests)
	}
	if strings.Contains(err.Error()+err2.Error(), "wrong-password-xyz") {
		t.Fatal("password in the error")
	}
}

// Robot blocks the caller's IP for ten minutes after three failed
// logins (webservice doc, "Authentication error"), even for the right
// password. omc must not add to the count: one request per run, no
// retry of a 401, and an error that names the block, so the operator
// waits instead of trying again.
func TestLockOutAfterThreeFailedLoginsIsNotRetriedAndIsExplained(t *testing.T) {
	e := newEnv(t)
	inv := load(t, mixedInv)
	for i := 0; i < 3; i++ {
		before := len(e.fake.Calls())
		bad := e.again(func(o *Options) { o.Password = "nope" })
		_, err := bad.List(context.Background(), inv, inv.Group("metal"))
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatal(err)
		}
		if n := len(e.fake.Calls()) - before; n != 1 {
			t.Fatalf("run %d with a wrong password sent %d requests; each adds to the lock-out count, want 1", i+1, n)
		}
	}
	before := len(e.fake.Calls())
	_, err := e.again().List(context.Background(), inv, inv.Group("metal"))
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("the right password during the lock-out: %v", err)
	}
	if n := len(e.fake.Calls()) - before; n != 1 {
		t.Fatalf("%d requests during the lock-out, want 1", n)
	}
	for _, want := range []string{"does not retry", "after 3 failed logins Hetzner blocks this IP for 10 minutes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not explain the lock-out (%q):\n%v", want, err)
		}
	}
	e.fake.Advance(11 * time.Minute)
	e.fake.AddServer(321, "192.0.2.50", "EX42")
	if _, err := e.again().List(context.Background(), inv, inv.Group("metal")); err != nil {
		t.Fatalf("after ten minutes: %v", err)
	}
}

// retryWaits makes a provider's waits between retries instant: each is
// recorded and moves the fake's clock instead, so no test waits or times.
func retryWaits(f *fake.Fake) (mod func(*Options), waits func() []time.Duration) {
	var mu sync.Mutex
	var got []time.Duration
	mod = func(o *Options) {
		o.RetrySleep = func(_ context.Context, d time.Duration) error {
			mu.Lock()
			got = append(got, d)
			mu.Unlock()
			f.Advance(d)
			return nil
		}
	}
	return mod, func() []time.Duration { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }
}

// A refused request is tried again after RetryBackoff, doubling; a limit
// that does not lift is given up on after MaxRetries, saying so.
func TestRateLimitBacksOffAndSucceeds(t *testing.T) {
	e := newEnv(t)
	e.fake.AddServer(321, "192.0.2.50", "EX42")
	e.fake.Inject(fake.Fault{Method: http.MethodGet, Path: "/server", Times: 2, Status: 403})
	inv := load(t, mixedInv)
	mod, waits := retryWaits(e.fake)
	ms, err := e.again(mod).List(context.Background(), inv, inv.Group("metal"))
	if err != nil || len(ms) != 1 {
		t.Fatalf("%v %v", ms, err)
	}
	if n := len(e.fake.Calls()); n != 3 {
		t.Fatalf("%d requests, want 2 refused + 1", n)
	}
	if w := waits(); !slices.Equal(w, []time.Duration{time.Millisecond, 2 * time.Millisecond}) {
		t.Fatalf("waits = %v, want RetryBackoff (1ms) before the first retry, doubled before the second", w)
	}

	// A limit that does not lift is given up on after MaxRetries.
	e.fake.Inject(fake.Fault{Method: http.MethodGet, Path: "/server", Times: -1, Status: 403})
	mod, waits = retryWaits(e.fake)
	p := e.again(mod, func(o *Options) { o.MaxRetries = 2 })
	before := len(e.fake.Calls())
	_, err = p.List(context.Background(), inv, inv.Group("metal"))
	if err == nil || !strings.Contains(err.Error(), "RATE_LIMIT_EXCEEDED") || !strings.Contains(err.Error(), "after 2 retries") ||
		!strings.Contains(err.Error(), "the limit is 200 requests per 3600s") {
		t.Fatalf("%v", err)
	}
	if n := len(e.fake.Calls()) - before; n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	if w := waits(); len(w) != 2 {
		t.Fatalf("waits = %v, want one before each of the 2 retries", w)
	}
}

// Against the fake's window (1 request per 10s on GET /server, as the
// service limits per endpoint), each refused request waits RetryBackoff,
// doubled, but never longer than the interval the answer names, and the
// request goes through once the window has moved on.
func TestRealRateLimitWindow(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RetryBackoff = 3 * time.Second })
	mod, waits := retryWaits(e.fake)
	p := e.again(mod)
	e.fake.AddServer(321, "192.0.2.50", "EX42")
	e.fake.SetLimit("GET /server", 1, 10*time.Second)
	inv := load(t, mixedInv)
	// The first list fits the window; the second is refused at 0s, 3s and
	// 9s and goes through at 19s after a wait capped at 10s; the third,
	// at once after it, the same.
	refused := []time.Duration{3 * time.Second, 6 * time.Second, 10 * time.Second}
	for i, want := range [][]time.Duration{nil, refused, refused} {
		calls, waited := len(e.fake.Calls()), len(waits())
		ms, err := p.List(context.Background(), inv, inv.Group("metal"))
		if err != nil || len(ms) != 1 {
			t.Fatalf("list %d: %v %v", i, ms, err)
		}
		if got := waits()[waited:]; !slices.Equal(got, want) {
			t.Fatalf("list %d: waits = %v, want %v", i, got, want)
		}
		if n := len(e.fake.Calls()) - calls; n != len(want)+1 {
			t.Fatalf("list %d: %d requests, want %d refused + 1", i, n, len(want))
		}
	}
}

func TestDownNeverCancelsWithoutTheRequest(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowOrder = true })
	e.fake.OrderDelay = 0
	e.fake.AddServer(321, "192.0.2.50", "EX42")
	inv := load(t, mixedInv)
	g := inv.Group("metal")
	ctx := context.Background()
	if _, err := e.p.Create(ctx, inv, g, nodesOf(inv, "claimed", "ordered")); err != nil {
		t.Fatal(err)
	}
	num := e.fake.Transactions()[0].Server
	writes := e.fake.Writes()
	err := e.p.Delete(ctx, inv, g, []string{"claimed", "ordered"})
	if err == nil || !strings.Contains(err.Error(), "only with --cancel") {
		t.Fatalf("Delete without the request: %v", err)
	}
	if e.fake.Writes() != writes {
		t.Fatal("Delete without the request wrote to the API")
	}
	if s, _ := e.fake.Server(num); s.Cancelled {
		t.Fatal("cancelled")
	}
	// With the request: the ordered server is cancelled, the claimed one never.
	if err := e.p.Delete(AllowCancels(ctx), inv, g, []string{"claimed", "ordered", "unknown"}); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.fake.Server(num); !s.Cancelled || s.CancellationDate == "" {
		t.Fatalf("ordered server: %+v", s)
	}
	if s, _ := e.fake.Server(321); s.Cancelled {
		t.Fatal("the claimed server was cancelled")
	}
	if ms, _ := e.again().List(ctx, inv, g); len(ms) != 1 || ms[0].Name != "claimed" {
		t.Fatalf("after down: %+v", ms)
	}
	noSecrets(t, e.stderr.String())
}

func TestRebuildReinstallsAClaimedServer(t *testing.T) {
	e := newEnv(t)
	e.fake.AddServer(321, "192.0.2.50", "EX42")
	e.inst.numbers["claimed"] = 321
	inv := load(t, mixedInv)
	g := inv.Group("metal")
	ms, err := e.p.Rebuild(context.Background(), inv, g, nodesOf(inv, "claimed"))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.inst.targets) != 1 || !e.inst.inRescue[0] || len(ms) != 1 || len(ms[0].HostKeys) != 1 {
		t.Fatalf("install %+v in rescue %v, machines %+v", e.inst.targets, e.inst.inRescue, ms)
	}
	s, _ := e.fake.Server(321)
	if len(s.Resets) != 1 || s.Resets[0] != "hw" {
		t.Errorf("resets %v", s.Resets)
	}
	// A second rebuild keeps the host key.
	ms2, err := e.again().Rebuild(context.Background(), inv, g, nodesOf(inv, "claimed"))
	if err != nil || ms2[0].HostKeys[0] != ms[0].HostKeys[0] {
		t.Fatalf("host key changed: %v", err)
	}
	if len(e.fake.Keys()) != 1 {
		t.Errorf("operator key stored %d times", len(e.fake.Keys()))
	}
}

func TestFailedInstallIsReportedAndFinishedByTheNextRun(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowOrder = true })
	e.fake.OrderDelay = 0
	e.fake.AddServer(321, "192.0.2.50", "EX42")
	e.inst.err = errors.New("installimage exploded")
	inv := load(t, mixedInv)
	g := inv.Group("metal")
	ctx := context.Background()
	_, err := e.p.Create(ctx, inv, g, nodesOf(inv, "ordered"))
	if err == nil || !strings.Contains(err.Error(), "installimage exploded") || !strings.Contains(err.Error(), "run omc up again") {
		t.Fatalf("%v", err)
	}
	num := e.fake.Transactions()[0].Server
	if s, _ := e.fake.Server(num); s.RescueArmed {
		t.Error("rescue left armed")
	}
	if ms, _ := e.p.List(ctx, inv, g); len(ms) != 1 {
		t.Fatalf("a half-installed server is listed: %+v", ms)
	}
	e.inst.err = nil
	if _, err := e.again().Create(ctx, inv, g, nodesOf(inv, "ordered")); err != nil {
		t.Fatal(err)
	}
	if len(e.fake.Transactions()) != 1 || len(e.inst.targets) != 2 {
		t.Fatalf("orders %d installs %d", len(e.fake.Transactions()), len(e.inst.targets))
	}
}

func TestCredentialsFromGroupReferencesAndEnvironment(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.User, o.Password = "", "" })
	e.fake.AddServer(321, "192.0.2.50", "EX42")
	ctx := context.Background()
	t.Setenv("ROBOT_USER", "")
	t.Setenv("ROBOT_PASSWORD", "")
	inv := load(t, mixedInv)
	if _, err := e.p.List(ctx, inv, inv.Group("metal")); err == nil || !strings.Contains(err.Error(), "ROBOT_USER and ROBOT_PASSWORD") {
		t.Fatalf("%v", err)
	}
	t.Setenv("ROBOT_USER", testUser)
	t.Setenv("ROBOT_PASSWORD", testPassword)
	t.Setenv("ROBOT_ENDPOINT", e.opts.Endpoint)
	if _, err := New(Options{StateDir: t.TempDir()}).List(ctx, inv, inv.Group("metal")); err != nil {
		t.Fatalf("from the environment: %v", err)
	}
	pw := t.TempDir() + "/robot.pw"
	os.WriteFile(pw, []byte(testPassword+"\n"), 0o600)
	t.Setenv("OMC_T_RU", testUser)
	t.Setenv("ROBOT_PASSWORD", "not-this-one")
	refs := load(t, strings.Replace(mixedInv, "    order:", "    robot_user: env:OMC_T_RU\n    robot_password: file:"+pw+"\n    order:", 1))
	if _, err := e.p.List(ctx, refs, refs.Group("metal")); err != nil {
		t.Fatalf("from the group's references: %v", err)
	}
	missing := load(t, strings.Replace(mixedInv, "    order:", "    robot_password: env:OMC_T_UNSET_PW\n    order:", 1))
	if _, err := e.p.List(ctx, missing, missing.Group("metal")); err == nil || !strings.Contains(err.Error(), "robot_password (env:OMC_T_UNSET_PW) is not set") {
		t.Fatalf("%v", err)
	}
}

func TestEndpointMustBeHTTPSUnlessLoopback(t *testing.T) {
	if _, err := NewClient("http://robot.example.org", "u", "p", ""); err == nil || strings.Contains(err.Error(), "p@") {
		t.Fatalf("plain http to a remote host: %v", err)
	}
	if _, err := NewClient("https://u:p@robot.example.org", "u", "p", ""); err == nil {
		t.Fatal("credentials in the URL accepted")
	}
	if _, err := NewClient("http://127.0.0.1:1", "u", "p", ""); err != nil {
		t.Fatal(err)
	}
}

// TestAgentKeyArmsRescueAndInstall: an agent-only setup (no key file, the
// key in ssh-agent) stores the agent's public key in Robot, arms rescue
// with it, puts it on the installed system, and logs in with the agent.
func TestAgentKeyArmsRescueAndInstall(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	ag := sshtest.StartAgent(t)
	e := newEnv(t, func(o *Options) { o.PublicKey = "" })
	e.fake.AddServer(321, "192.0.2.50", "EX42")
	e.inst.numbers["claimed"] = 321
	inv := load(t, mixedInv)
	if _, err := e.p.Rebuild(context.Background(), inv, inv.Group("metal"), nodesOf(inv, "claimed")); err != nil {
		t.Fatal(err)
	}
	fp := ssh.FingerprintLegacyMD5(ag.Key)
	if keys := e.fake.Keys(); len(keys) != 1 || keys[0] != fp {
		t.Errorf("stored keys %v, want the agent's %s", keys, fp)
	}
	if s, _ := e.fake.Server(321); len(s.InRescueKeys) != 1 || s.InRescueKeys[0] != fp {
		t.Errorf("rescue booted with %v, want [%s]", s.InRescueKeys, fp)
	}
	want := providers.AuthorizedKey(ag.Key)
	if len(e.inst.targets) != 1 || !e.inst.inRescue[0] {
		t.Fatalf("install %+v in rescue %v", e.inst.targets, e.inst.inRescue)
	}
	if tg := e.inst.targets[0]; len(tg.AuthorizedKeys) != 1 || tg.AuthorizedKeys[0] != want || tg.KeyFile != "" {
		t.Errorf("install target keys %v, key file %q; want the agent's key and no file", tg.AuthorizedKeys, tg.KeyFile)
	}
}
