// Package fake is a FAKE of the Hetzner Robot webservice for tests; it
// follows the published API (https://robot.hetzner.com/doc/webservice/en.html)
// as far as omc uses it, and is not the real service.
//
// It is stateful: servers, stored SSH keys, the rescue boot configuration,
// resets, the order catalogue (standard products and server-market
// offers, each with the primary_ipv4 addon), transactions that stay "in
// process" for OrderDelay on the fake's clock before a server is
// delivered, and cancellations. It copies the service's error shapes
// ({"error":{"status","code","message"}}, INVALID_INPUT with
// missing/invalid, 403 RATE_LIMIT_EXCEEDED with max_request and
// interval) and its login rule: after three failed logins the caller is
// blocked for ten minutes, even with the right password.
//
// # Upstream it follows, and where each rule comes from
//
// The webservice doc as stored on 2026-12-05 (its ordering notes date
// from 28 March 2022 or later), syself/hrobot-go v0.2.7 test fixtures,
// MathiasPius/hrobot-rs 6.1.0 and ansible-collections/community.hrobot
// 2.7.2:
//
//   - POST /order/server/transaction needs location: the doc's input
//     table marks every optional parameter "(optional)", location not,
//     and names no default; hrobot-rs (src/api/ordering/models.rs,
//     ProductOrder) always sends it. Without it the fake answers 400
//     INVALID_INPUT missing ["location"]. The doc's examples, dated 2015,
//     leave it out; that the live service refuses them is inferred, not
//     seen.
//   - addon[]=primary_ipv4: without it the server is IPv6-only (doc,
//     both order calls); the fake takes the addon, echoes "addons" in the
//     transaction and lists it under orderable_addons with the doc's
//     example price. It still delivers an IPv4 without the addon: what
//     server_ip then holds is unverified.
//   - A rescue activated with keys still has a root password (doc output
//     table "Rescue System root password"; hrobot-go
//     test/response/boot_rescue_set_with_key.json); the fake hands out
//     one every time.
//   - BOOT_ALREADY_ENABLED is a code (hrobot-go models/error.go,
//     hrobot-rs src/error.rs); its 409 status is the fake's guess.
//   - KEY_ALREADY_EXISTS 409 and POST /key 201 (doc, SSH keys).
//
// Fixtures of upstream's bodies are in testdata/upstream/robot; the
// contract tests in providers/robot check the fake against them.
//
// # What it leaves out
//
// Per-endpoint limits are only those a test sets (SetLimit); the order
// test flag, comment, dist and lang are ignored; no firewall, vSwitch,
// failover, IP, rDNS, storage box or Linux/VNC boot calls.
//
// Tests read its state (Server, Transactions), count requests (Calls,
// Writes), script failures (Inject) and move its clock (Advance).
// Delivered servers get addresses from 127.79.0.0/16 unless ServerIP says
// otherwise, so a tool that dials one by mistake reaches loopback.
package fake

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Fake is an in-memory Robot account. Use New or Serve.
type Fake struct {
	mu       sync.Mutex
	user     string
	password string

	// OrderDelay is how long (on the fake's clock) an order stays "in
	// process"; default one hour. Advance moves the clock.
	OrderDelay time.Duration
	// ServerIP, when set, gives the address of the nth delivered server.
	ServerIP func(n int) string

	skew         time.Duration
	failed       int
	blockedUntil time.Time

	servers    map[int]*server
	keys       []*key
	products   map[string]*product
	market     map[int]*marketProduct
	txns       []*txn
	nextServer int
	nextTxn    int
	// nextPassword numbers the rescue passwords handed out.
	nextPassword int
	limits       map[string]*limit
	faults       []*Fault
	calls        []Call
}

// Call is one request the fake received.
type Call struct {
	Method, Path string
	Status       int
}

type server struct {
	Number           int
	IP, IPv6         string
	Name, Product    string
	DC               string
	Status           string
	Cancelled        bool
	CancellationDate string
	PaidUntil        string
	Rescue           *rescue // armed for the next boot
	InRescue         bool    // booted into rescue by the last reset
	inRescueKeys     []*key  // the keys that rescue lets in
	Resets           []string
}

type rescue struct {
	keys     []*key
	password string
}

type key struct {
	Name, Fingerprint, Type, Data string
	Size                          int
	Created                       string
}

type product struct {
	ID, Name  string
	Locations []string
	Price     string // net per month
	Setup     string
}

type marketProduct struct {
	ID                 int
	Name, CPU, HDD, DC string
	Memory             int
	Price, Setup       string
}

type txn struct {
	ID       string
	Date     time.Time
	Market   bool
	Product  string
	Location string
	Keys     []*key
	Addons   []string
	Status   string
	Server   int
	ready    time.Time
}

type limit struct {
	max      int
	interval time.Duration
	hits     []time.Time
}

// Fault scripts a failure on matching requests (after authentication).
type Fault struct {
	Method string // "" any
	Path   string // exact path, "" any
	After  int    // let this many matching requests through first
	Times  int    // how many fail; 0 one, negative all
	Status int    // HTTP status
	Code   string // error code; default fits Status
	// Drop, when set, answers nothing and closes the connection after
	// applying the request: the caller cannot know the outcome.
	Drop bool

	seen, fired int
}

// New returns an empty account that accepts user and password.
func New(user, password string) *Fake {
	return &Fake{
		user: user, password: password,
		OrderDelay: time.Hour,
		servers:    map[int]*server{},
		products:   map[string]*product{},
		market:     map[int]*marketProduct{},
		limits:     map[string]*limit{},
		nextServer: 100000,
	}
}

// Serve starts f on a loopback httptest server, closed when the test ends,
// and returns it with its endpoint.
func Serve(tb testing.TB, user, password string) (*Fake, string) {
	tb.Helper()
	f := New(user, password)
	ts := httptest.NewServer(f)
	tb.Cleanup(ts.Close)
	return f, ts.URL
}

func (f *Fake) now() time.Time { return time.Now().Add(f.skew) }

// Advance moves the fake's clock forward.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.skew += d
}

// AddServer puts a server (an existing rental) into the account.
func (f *Fake) AddServer(number int, ip, product string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.servers[number] = &server{Number: number, IP: ip, IPv6: "2001:db8:" + strconv.Itoa(number%65536) + "::", Product: product,
		DC: "FSN1-DC1", Status: "ready", PaidUntil: f.now().AddDate(0, 1, 0).Format("2006-01-02")}
}

// AddProduct adds a standard product sold in locations at price (net
// EUR per month) and setup.
func (f *Fake) AddProduct(id, name, price, setup string, locations ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.products[id] = &product{ID: id, Name: name, Price: price, Setup: setup, Locations: locations}
}

// AddMarket adds a server-market offer.
func (f *Fake) AddMarket(id int, name, cpu string, memoryGB int, hdd, dc, price string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.market[id] = &marketProduct{ID: id, Name: name, CPU: cpu, Memory: memoryGB, HDD: hdd, DC: dc, Price: price, Setup: "0.0000"}
}

// SetLimit limits the requests to one route ("GET /server") to max per
// interval, as the real service does per endpoint.
func (f *Fake) SetLimit(route string, max int, interval time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limits[route] = &limit{max: max, interval: interval}
}

// Inject adds scripted faults; the first match wins.
func (f *Fake) Inject(faults ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range faults {
		ft := faults[i]
		f.faults = append(f.faults, &ft)
	}
}

// Calls returns every request received so far.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Writes counts the requests that may change the account (not GET),
// including refused ones.
func (f *Fake) Writes() int {
	n := 0
	for _, c := range f.Calls() {
		if c.Method != http.MethodGet {
			n++
		}
	}
	return n
}

// WritesTo counts the non-GET requests to paths starting with prefix.
func (f *Fake) WritesTo(prefix string) int {
	n := 0
	for _, c := range f.Calls() {
		if c.Method != http.MethodGet && strings.HasPrefix(c.Path, prefix) {
			n++
		}
	}
	return n
}

// ServerView is what a test may read of a server.
type ServerView struct {
	Number           int
	IP               string
	Cancelled        bool
	CancellationDate string
	RescueArmed      bool
	RescueKeys       []string // fingerprints of the armed rescue
	InRescue         bool
	InRescueKeys     []string // fingerprints the booted rescue lets in
	Resets           []string
}

// Server returns server n, or false.
func (f *Fake) Server(n int) (ServerView, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tick()
	s := f.servers[n]
	if s == nil {
		return ServerView{}, false
	}
	v := ServerView{Number: s.Number, IP: s.IP, Cancelled: s.Cancelled, CancellationDate: s.CancellationDate, InRescue: s.InRescue, Resets: slices.Clone(s.Resets)}
	for _, k := range s.inRescueKeys {
		v.InRescueKeys = append(v.InRescueKeys, k.Fingerprint)
	}
	if s.Rescue != nil {
		v.RescueArmed = true
		for _, k := range s.Rescue.keys {
			v.RescueKeys = append(v.RescueKeys, k.Fingerprint)
		}
	}
	return v, true
}

// TxnView is what a test may read of a transaction.
type TxnView struct {
	ID, Product, Status string
	Location            string
	Addons              []string
	Market              bool
	Server              int
	Keys                []string
}

// Transactions returns every order placed, oldest first.
func (f *Fake) Transactions() []TxnView {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tick()
	var out []TxnView
	for _, t := range f.txns {
		v := TxnView{ID: t.ID, Product: t.Product, Status: t.Status, Location: t.Location, Addons: slices.Clone(t.Addons), Market: t.Market, Server: t.Server}
		for _, k := range t.Keys {
			v.Keys = append(v.Keys, k.Fingerprint)
		}
		out = append(out, v)
	}
	return out
}

// Keys returns the fingerprints of the stored SSH keys.
func (f *Fake) Keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, k := range f.keys {
		out = append(out, k.Fingerprint)
	}
	return out
}

// tick delivers the orders whose time has come.
func (f *Fake) tick() {
	now := f.now()
	for _, t := range f.txns {
		if t.Status != "in process" || now.Before(t.ready) {
			continue
		}
		f.nextServer++
		n := f.nextServer
		ip := fmt.Sprintf("127.79.%d.%d", (n/250)%250, n%250+1)
		if f.ServerIP != nil {
			ip = f.ServerIP(n)
		}
		name := t.Product
		f.servers[n] = &server{Number: n, IP: ip, IPv6: "2001:db8:" + strconv.Itoa(n%65536) + "::", Product: name,
			DC: "FSN1-DC1", Status: "ready", PaidUntil: now.AddDate(0, 1, 0).Format("2006-01-02")}
		t.Status, t.Server = "ready", n
	}
}

// ServeHTTP implements the webservice.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rec := &recorder{ResponseWriter: w, status: 200}
	defer func() { f.calls = append(f.calls, Call{Method: r.Method, Path: r.URL.Path, Status: rec.status}) }()
	w = rec

	now := f.now()
	u, pw, ok := r.BasicAuth()
	if now.Before(f.blockedUntil) {
		writeErr(w, 401, "UNAUTHORIZED", "too many failed logins: this IP is blocked for 10 minutes")
		return
	}
	if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(f.user)) != 1 || subtle.ConstantTimeCompare([]byte(pw), []byte(f.password)) != 1 {
		f.failed++
		if f.failed >= 3 {
			f.blockedUntil, f.failed = now.Add(10*time.Minute), 0
		}
		writeErr(w, 401, "UNAUTHORIZED", "Unauthorized")
		return
	}
	f.failed = 0
	if err := r.ParseForm(); err != nil {
		writeErr(w, 400, "INVALID_INPUT", "invalid input")
		return
	}
	f.tick()
	route, args := match(r.Method, r.URL.Path)
	if l := f.limits[route]; l != nil {
		kept := l.hits[:0]
		for _, h := range l.hits {
			if now.Sub(h) < l.interval {
				kept = append(kept, h)
			}
		}
		l.hits = kept
		if len(l.hits) >= l.max {
			writeRateLimit(w, l.max, int(l.interval/time.Second))
			return
		}
		l.hits = append(l.hits, now)
	}
	var drop bool
	if ft := f.fault(r); ft != nil {
		if !ft.Drop {
			if ft.Status == 403 && (ft.Code == "" || ft.Code == "RATE_LIMIT_EXCEEDED") {
				writeRateLimit(w, 200, 3600)
			} else {
				writeErr(w, ft.Status, orDefault(ft.Code, http.StatusText(ft.Status)), "scripted failure")
			}
			return
		}
		drop = true
	}
	if drop {
		// Apply the request, then hang up without an answer.
		f.route(&discard{h: http.Header{}}, r, route, args)
		if hj, ok := rec.ResponseWriter.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
		return
	}
	f.route(w, r, route, args)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (f *Fake) fault(r *http.Request) *Fault {
	for _, ft := range f.faults {
		if (ft.Method != "" && ft.Method != r.Method) || (ft.Path != "" && ft.Path != r.URL.Path) {
			continue
		}
		ft.seen++
		if ft.seen <= ft.After {
			continue
		}
		if ft.Times >= 0 && ft.fired >= max(ft.Times, 1) {
			continue
		}
		ft.fired++
		return ft
	}
	return nil
}

var routes = []string{
	"GET /server", "GET /server/{n}", "POST /server/{n}",
	"GET /server/{n}/cancellation", "POST /server/{n}/cancellation",
	"GET /key", "POST /key", "DELETE /key/{fp}",
	"GET /boot/{n}/rescue", "POST /boot/{n}/rescue", "DELETE /boot/{n}/rescue",
	"GET /reset/{n}", "POST /reset/{n}",
	"GET /order/server/product", "GET /order/server/product/{id}",
	"GET /order/server/transaction", "POST /order/server/transaction", "GET /order/server/transaction/{id}",
	"GET /order/server_market/product", "GET /order/server_market/product/{id}",
	"GET /order/server_market/transaction", "POST /order/server_market/transaction", "GET /order/server_market/transaction/{id}",
}

// match finds the route of a request and its {…} arguments.
func match(method, path string) (string, []string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for _, rt := range routes {
		m, p, _ := strings.Cut(rt, " ")
		if m != method {
			continue
		}
		rp := strings.Split(strings.Trim(p, "/"), "/")
		if len(rp) != len(parts) {
			continue
		}
		var args []string
		ok := true
		for i := range rp {
			if strings.HasPrefix(rp[i], "{") {
				args = append(args, parts[i])
			} else if rp[i] != parts[i] {
				ok = false
				break
			}
		}
		if ok {
			return rt, args
		}
	}
	return "", nil
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }

type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"status": status, "code": code, "message": msg}})
}

func writeInvalid(w http.ResponseWriter, missing, invalid []string) {
	writeJSON(w, 400, map[string]any{"error": map[string]any{"status": 400, "code": "INVALID_INPUT", "message": "invalid input", "missing": missing, "invalid": invalid}})
}

func writeRateLimit(w http.ResponseWriter, max, interval int) {
	writeJSON(w, 403, map[string]any{"error": map[string]any{"status": 403, "code": "RATE_LIMIT_EXCEEDED", "max_request": max, "interval": interval, "message": "rate limit exceeded"}})
}

// Fingerprint is how Robot names a key: MD5, colon-separated hex.
func Fingerprint(pub ssh.PublicKey) string {
	sum := md5.Sum(pub.Marshal())
	hex := make([]string, len(sum))
	for i, b := range sum {
		hex[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(hex, ":")
}
