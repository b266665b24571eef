package scalelite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/bbbapi"
	"github.com/omc-coop/omc/pool/fake"
)

// Contract tests: omc's client and rake parser against what each
// Scalelite version answers (testdata/upstream/scalelite, written from
// its source; see testdata/upstream/README.md), and the fakes' answers
// for the same requests against the same files, so neither omc nor a
// fake drifts from upstream unseen.

const fixtures = "../../testdata/upstream/scalelite"

const (
	idA = "aaaaaaaa-1111-4111-8111-000000000001"
	idB = "bbbbbbbb-2222-4222-8222-000000000002"
	idN = "cccccccc-3333-4333-8333-000000000003"
	idT = "dddddddd-4444-4444-8444-000000000004"
)

// apiFixture is one answer: its "# key: value" (or XML comment) header
// and its body.
type apiFixture struct {
	status int
	ctype  string
	body   string
}

func loadAPI(t testing.TB, name string) apiFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, "api", name))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	var head []string
	if rest, ok := strings.CutPrefix(text, "<!--"); ok {
		c, body, _ := strings.Cut(rest, "-->\n")
		head, text = strings.Split(c, "\n"), body
	} else {
		for strings.HasPrefix(text, "#") {
			line, rest, _ := strings.Cut(text, "\n")
			head, text = append(head, strings.TrimPrefix(line, "#")), rest
		}
	}
	f := apiFixture{body: text}
	for _, h := range head {
		k, v, _ := strings.Cut(strings.TrimSpace(h), ": ")
		switch k {
		case "status":
			f.status, _ = strconv.Atoi(v)
		case "content-type":
			f.ctype = v
		}
	}
	if f.status == 0 || f.ctype == "" {
		t.Fatalf("%s: no status or content-type in its header", name)
	}
	return f
}

// serveFixtures answers each action with the fixture set for it.
func serveFixtures(t *testing.T, byAction map[string]string) *Client {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := strings.TrimPrefix(r.URL.Path, "/scalelite/api/")
		name, ok := byAction[action]
		if !ok {
			t.Errorf("unexpected call %s", action)
			http.NotFound(w, r)
			return
		}
		f := loadAPI(t, name)
		w.Header().Set("Content-Type", f.ctype)
		w.WriteHeader(f.status)
		w.Write([]byte(f.body))
	}))
	t.Cleanup(ts.Close)
	return &Client{URL: ts.URL, Secret: "lb"}
}

func TestClientAgainstUpstreamAnswers(t *testing.T) {
	ctx := context.Background()
	one := func(action, name string) *Client { return serveFixtures(t, map[string]string{action: name}) }
	sec, lm, empty := "bbb1-new", 2.0, ""

	l, err := one("getServers", "getServers.json").List(ctx)
	if err != nil || len(l) != 2 {
		t.Fatalf("getServers: %+v %v", l, err)
	}
	a, b := l[0], l[1]
	if a.ID != idA || a.State != pool.Enabled || !a.LoadKnown || a.Load != 15 || a.LoadMultiplier != 1.5 || a.Tag != "eu" || a.BBBVersion != "3.0.4" || !a.Online || a.Secret != "bbb1-secret" {
		t.Errorf("server A: %+v", a)
	}
	if b.ID != idB || b.State != pool.Disabled || b.LoadKnown || b.LoadMultiplier != 1 || b.Online || b.Tag != "" || b.NoTags {
		t.Errorf("server B: %+v", b)
	}
	if l, err := one("getServers", "getServers-v1.5.1.json").List(ctx); err != nil || len(l) != 1 || l[0].Load != 15 || l[0].LoadMultiplier != 1.5 || !l[0].NoTags {
		t.Errorf("1.5.1 getServers: %+v %v", l, err)
	}
	if l, err := one("getServers", "getServers-empty.json").List(ctx); err != nil || len(l) != 0 {
		t.Errorf("empty pool: %+v %v", l, err)
	}
	if s, err := one("getServerInfo", "getServerInfo.json").Get(ctx, idA); err != nil || s.ID != idA || s.Load != 15 {
		t.Errorf("getServerInfo: %+v %v", s, err)
	}
	if _, err := one("getServerInfo", "getServerInfo-notfound.json").Get(ctx, "nope"); !errors.Is(err, pool.ErrNotFound) {
		t.Errorf("getServerInfo unknown: %v", err)
	}
	if s, err := one("addServer", "addServer.json").Add(ctx, pool.ServerSpec{URL: "https://bbb3.example.org/bigbluebutton/api", Secret: "bbb3-secret", LoadMultiplier: 1.5, Tag: "eu"}); err != nil ||
		s.ID != idN || s.State != pool.Disabled || s.LoadKnown || s.LoadMultiplier != 1.5 || s.Tag != "eu" {
		t.Errorf("addServer: %+v %v", s, err)
	}
	var ae *APIError
	if _, err := one("addServer", "addServer-noserver.xml").Add(ctx, pool.ServerSpec{}); !errors.As(err, &ae) || ae.Key != "internalError" || !strings.Contains(err.Error(), "param is missing") {
		t.Errorf("addServer without server: %v", err)
	}
	if _, err := one("addServer", "unsupportedContentType.xml").Add(ctx, pool.ServerSpec{}); !errors.As(err, &ae) || ae.Key != "unsupportedContentType" {
		t.Errorf("content type: %v", err)
	}
	if s, err := one("updateServer", "updateServer.json").Update(ctx, idA, pool.ServerUpdate{State: pool.Cordon, Secret: &sec, LoadMultiplier: &lm, Tag: &empty}); err != nil ||
		s.State != pool.Cordoned || s.LoadMultiplier != 2 || s.Tag != "" || s.Secret != "bbb1-new" {
		t.Errorf("updateServer: %+v %v", s, err)
	}
	for name, want := range map[string]string{"updateServer-badstate.json": "Invalid state parameter: frobnicate", "updateServer-noserver.json": "param is missing"} {
		if _, err := one("updateServer", name).Update(ctx, idA, pool.ServerUpdate{State: "frobnicate"}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := one("deleteServer", "deleteServer.json").Delete(ctx, idA); err != nil {
		t.Errorf("deleteServer: %v", err)
	}
	if err := one("panicServer", "panicServer.json").Panic(ctx, idA, false); err != nil {
		t.Errorf("panicServer: %v", err)
	}
	if tl, err := one("getTenants", "getTenants.json").Tenants(ctx); err != nil || len(tl) != 1 || tl[0].ID != idT || tl[0].Name != "school" || strings.Join(tl[0].Secrets, " ") != "s1 s2" {
		t.Errorf("getTenants: %+v %v", tl, err)
	}
	if tl, err := one("getTenants", "getTenants-none.json").Tenants(ctx); err != nil || len(tl) != 0 {
		t.Errorf("no tenants: %+v %v", tl, err)
	}
	if _, err := one("getTenants", "getTenants-multitenancy-disabled.json").Tenants(ctx); !errors.Is(err, pool.ErrMultitenancyDisabled) {
		t.Errorf("multitenancy disabled: %v", err)
	}
	if tn, err := one("addTenant", "addTenant.json").AddTenant(ctx, "school", []string{"s1", "s2"}); err != nil || tn.ID != idT || tn.Name != "school" || len(tn.Secrets) != 2 {
		t.Errorf("addTenant: %+v %v", tn, err)
	}
	if tn, err := one("updateTenant", "updateTenant.json").UpdateTenant(ctx, idT, "", []string{"s3"}); err != nil || strings.Join(tn.Secrets, " ") != "s3" {
		t.Errorf("updateTenant: %+v %v", tn, err)
	}
	if err := one("deleteTenant", "deleteTenant-notfound.json").DeleteTenant(ctx, "nope"); !errors.Is(err, pool.ErrNotFound) {
		t.Errorf("deleteTenant unknown: %v", err)
	}
	if _, err := one("getServers", "checksumError.xml").List(ctx); !errors.As(err, &ae) || ae.Key != "checksumError" || !strings.Contains(err.Error(), "LOADBALANCER_CHECKSUM_ALGORITHM") {
		t.Errorf("checksumError: %v", err)
	}
}

var reUUID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// normIDs replaces each id by its order of first appearance.
func normIDs(s string) string {
	seen := map[string]string{}
	return reUUID.ReplaceAllStringFunc(s, func(id string) string {
		if _, ok := seen[id]; !ok {
			seen[id] = "<id" + strconv.Itoa(len(seen)+1) + ">"
		}
		return seen[id]
	})
}

// signedCall sends one request to the fake as omc's client would, raw.
func signedCall(t *testing.T, base, secret, action, query, body, ctype string) (int, string, string) {
	t.Helper()
	q := query
	if q != "" {
		q += "&"
	}
	q += "checksum=" + bbbapi.Checksum(bbbapi.SHA256, action, query, secret)
	method, rd := http.MethodGet, (*bytes.Reader)(nil)
	var req *http.Request
	var err error
	if body != "" {
		method, rd = http.MethodPost, bytes.NewReader([]byte(body))
		req, err = http.NewRequest(method, base+"/scalelite/api/"+action+"?"+q, rd)
		req.Header.Set("Content-Type", ctype)
	} else {
		req, err = http.NewRequest(method, base+"/scalelite/api/"+action+"?"+q, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b.String()
}

// sameAnswer compares a fake's answer with a fixture: status, media
// type, and body (JSON decoded, so key order and 15 vs 15.0 do not
// matter but a string for a number does; XML exactly), ids normalised.
func sameAnswer(t *testing.T, name string, status int, ctype, body string) {
	t.Helper()
	f := loadAPI(t, name)
	if status != f.status {
		t.Errorf("%s: the fake answers HTTP %d, Scalelite %d", name, status, f.status)
	}
	mt := func(s string) string { m, _, _ := strings.Cut(s, ";"); return strings.TrimSpace(m) }
	if mt(ctype) != mt(f.ctype) {
		t.Errorf("%s: the fake answers %s, Scalelite %s", name, ctype, f.ctype)
	}
	if strings.HasSuffix(name, ".xml") {
		if body != f.body {
			t.Errorf("%s: the fake answers\n%s\nScalelite\n%s", name, body, f.body)
		}
		return
	}
	var got, want any
	if err := json.Unmarshal([]byte(normIDs(body)), &got); err != nil {
		t.Errorf("%s: the fake's answer is not JSON: %s", name, body)
		return
	}
	json.Unmarshal([]byte(normIDs(f.body)), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: the fake answers\n%s\nScalelite\n%s", name, body, f.body)
	}
}

// scenario is the pool the fixtures show: A enabled and online with load
// 15, tag eu, multiplier 1.5, BBB 3.0.4; B disabled and offline.
func scenario(t *testing.T) *fake.Scalelite {
	sl := fake.NewScalelite(t, "lb")
	c := &Client{URL: sl.URL, Secret: "lb"}
	ctx := context.Background()
	a, err := c.Add(ctx, pool.ServerSpec{URL: "https://bbb1.example.org/bigbluebutton/api", Secret: "bbb1-secret", LoadMultiplier: 1.5, Tag: "eu"})
	if err != nil {
		t.Fatal(err)
	}
	c.Update(ctx, a.ID, pool.ServerUpdate{State: pool.Enable})
	sl.SetLoad(a.ID, 15)
	sl.SetBBBVersion(a.ID, "3.0.4")
	if _, err := c.Add(ctx, pool.ServerSpec{URL: "https://bbb2.example.org/bigbluebutton/api", Secret: "bbb2-secret"}); err != nil {
		t.Fatal(err)
	}
	return sl
}

func TestFakeAPIAnswersAsUpstream(t *testing.T) {
	ctx := context.Background()
	sl := scenario(t)
	a := sl.Servers()[0].ID
	call := func(action, query, body string) (int, string, string) {
		return signedCall(t, sl.URL, "lb", action, query, body, "application/json")
	}
	st, ct, b := call("getServers", "", "")
	sameAnswer(t, "getServers.json", st, ct, b)
	st, ct, b = call("getServerInfo", "id="+a, "")
	sameAnswer(t, "getServerInfo.json", st, ct, b)
	st, ct, b = call("getServerInfo", "id=nope", "")
	sameAnswer(t, "getServerInfo-notfound.json", st, ct, b)
	st, ct, b = call("updateServer", "", `{"id":"`+a+`","server":{"state":"frobnicate"}}`)
	sameAnswer(t, "updateServer-badstate.json", st, ct, b)
	st, ct, b = call("updateServer", "id="+a, `{}`)
	sameAnswer(t, "updateServer-noserver.json", st, ct, b)
	st, ct, b = call("addServer", "", `{}`)
	sameAnswer(t, "addServer-noserver.xml", st, ct, b)
	st, ct, b = signedCall(t, sl.URL, "lb", "addServer", "", `url=x`, "application/x-www-form-urlencoded")
	sameAnswer(t, "unsupportedContentType.xml", st, ct, b)
	st, ct, b = signedCall(t, sl.URL, "wrong", "getServers", "", "", "")
	sameAnswer(t, "checksumError.xml", st, ct, b)
	st, ct, b = call("updateServer", "", `{"id":"`+a+`","server":{"state":"cordon","secret":"bbb1-new","load_multiplier":2,"tag":""}}`)
	sameAnswer(t, "updateServer.json", st, ct, b)
	st, ct, b = call("panicServer", "", `{"id":"`+a+`"}`)
	sameAnswer(t, "panicServer.json", st, ct, b)
	st, ct, b = call("deleteServer", "", `{"id":"`+a+`"}`)
	sameAnswer(t, "deleteServer.json", st, ct, b)

	fresh := fake.NewScalelite(t, "lb")
	st, ct, b = signedCall(t, fresh.URL, "lb", "getServers", "", "", "")
	sameAnswer(t, "getServers-empty.json", st, ct, b)
	st, ct, b = signedCall(t, fresh.URL, "lb", "addServer", "", `{"server":{"url":"https://bbb3.example.org/bigbluebutton/api","secret":"bbb3-secret","load_multiplier":1.5,"tag":"eu"}}`, "application/json")
	sameAnswer(t, "addServer.json", st, ct, b)
	st, ct, b = signedCall(t, fresh.URL, "lb", "getTenants", "", "", "")
	sameAnswer(t, "getTenants-multitenancy-disabled.json", st, ct, b)
	fresh.SetMultitenancy(true)
	st, ct, b = signedCall(t, fresh.URL, "lb", "getTenants", "", "", "")
	sameAnswer(t, "getTenants-none.json", st, ct, b)
	st, ct, b = signedCall(t, fresh.URL, "lb", "addTenant", "", `{"tenant":{"name":"school","secrets":"s1:s2"}}`, "application/json")
	sameAnswer(t, "addTenant.json", st, ct, b)
	st, ct, b = signedCall(t, fresh.URL, "lb", "getTenants", "", "", "")
	sameAnswer(t, "getTenants.json", st, ct, b)
	id := fresh.Tenants()[0].ID
	st, ct, b = signedCall(t, fresh.URL, "lb", "updateTenant", "", `{"id":"`+id+`","tenant":{"secrets":"s3"}}`, "application/json")
	sameAnswer(t, "updateTenant.json", st, ct, b)
	st, ct, b = signedCall(t, fresh.URL, "lb", "deleteTenant", "", `{"id":"nope"}`, "application/json")
	sameAnswer(t, "deleteTenant-notfound.json", st, ct, b)
	_ = ctx
}

// rakeFixture is one task's run: its argument, exit code and output.
type rakeFixture struct {
	task, stdout, stderr string
	exit                 int
}

func loadRake(t testing.TB, version, name string) (rakeFixture, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, "rake", version, name))
	if errors.Is(err, os.ErrNotExist) {
		return rakeFixture{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	head, rest, _ := strings.Cut(string(b), "--- stdout\n")
	out, errOut, _ := strings.Cut(rest, "--- stderr\n")
	f := rakeFixture{stdout: out, stderr: errOut}
	for _, h := range strings.Split(head, "\n") {
		k, v, _ := strings.Cut(strings.TrimPrefix(h, "# "), ": ")
		switch k {
		case "task":
			f.task = v
		case "exit":
			f.exit, _ = strconv.Atoi(v)
		}
	}
	return f, true
}

func rakeVersions(t testing.TB) []string {
	d, err := os.ReadDir(filepath.Join(fixtures, "rake"))
	if err != nil {
		t.Fatal(err)
	}
	var v []string
	for _, e := range d {
		v = append(v, e.Name())
	}
	return v
}

// scriptRunner answers each rake task with its fixture.
type scriptRunner map[string]rakeFixture

func (s scriptRunner) Run(_ context.Context, argv []string) ([]byte, []byte, int, error) {
	task := argv[len(argv)-1]
	f, ok := s[task]
	if !ok {
		name, _, _ := strings.Cut(task, "[")
		f, ok = s[name]
	}
	if !ok {
		return nil, []byte("no fixture for " + task), 99, nil
	}
	return []byte(f.stdout), []byte(f.stderr), f.exit, nil
}

func TestRakeAgainstUpstreamOutput(t *testing.T) {
	ctx := context.Background()
	for _, v := range rakeVersions(t) {
		t.Run(v, func(t *testing.T) {
			fx := map[string]rakeFixture{}
			for _, n := range []string{"tasks.txt", "servers.txt", "servers-empty.txt", "servers-add.txt", "servers-remove-notfound.txt", "tenants.txt", "tenants-add.txt", "tenants-disabled.txt"} {
				f, ok := loadRake(t, v, n)
				if !ok {
					t.Fatalf("no %s", n)
				}
				fx[n] = f
			}
			supported := fake.RakeVersionAtLeast(v, "1.6.0")
			if err := checkTasks(fx["tasks.txt"].stdout); (err == nil) != supported {
				t.Fatalf("tasks check: %v", err)
			}
			recs := parseRecords(fx["servers.txt"].stdout)
			if len(recs) != 2 {
				t.Fatalf("servers: %d records", len(recs))
			}
			a, b := serverOf(recs[0]), serverOf(recs[1])
			if a.ID != idA || a.State != pool.Enabled || !a.LoadKnown || a.Load != 15 || a.LoadMultiplier != 1.5 || !a.Online || a.Secret != "bbb1-secret" {
				t.Errorf("A: %+v", a)
			}
			if supported && (a.Tag != "eu" || a.BBBVersion != "3.0.4") {
				t.Errorf("A's tag and version: %+v", a)
			}
			if b.ID != idB || b.State != pool.Disabled || b.LoadKnown || b.LoadMultiplier != 1 || b.Online {
				t.Errorf("B: %+v", b)
			}
			if n := len(parseRecords(fx["servers-empty.txt"].stdout + fx["servers-empty.txt"].stderr)); n != 0 {
				t.Errorf("empty: %d", n)
			}
			if id := lastValue(fx["servers-add.txt"].stdout, "id: "); id != idN {
				t.Errorf("servers:add id %q", id)
			}
			tl := parseRecords(fx["tenants.txt"].stdout)
			if len(tl) != 1 || tenantOf(tl[0]).ID != idT || tenantOf(tl[0]).Name != "school" || len(tenantOf(tl[0]).Secrets) != 2 {
				t.Errorf("tenants: %+v", tl)
			}
			if id := lastValue(fx["tenants-add.txt"].stdout, "New Tenant id: "); id != idT {
				t.Errorf("tenants:add id %q", id)
			}
			r := &Rake{Runner: scriptRunner{"-T": fx["tasks.txt"], "servers:remove": fx["servers-remove-notfound.txt"], "tenants": fx["tenants-disabled.txt"]}}
			err := r.Delete(ctx, "nope")
			switch {
			case supported && !errors.Is(err, pool.ErrNotFound):
				t.Errorf("remove unknown: %v", err)
			case !supported && (err == nil || !strings.Contains(err.Error(), "older than 1.6.0")):
				t.Errorf("remove on %s: %v", v, err)
			}
			if _, err := r.Tenants(ctx); !errors.Is(err, pool.ErrMultitenancyDisabled) {
				t.Errorf("tenants without multitenancy: %v", err)
			}
		})
	}
}

var reLogTime = regexp.MustCompile(`(?m)^([DIWEFAU]), \[[^\]]*\]`)

func normRake(s string) string { return normIDs(reLogTime.ReplaceAllString(s, "$1, [TIME #PID]")) }

// The fake's rake tasks print, per version, what that version's do.
func TestFakeRakeAnswersAsUpstream(t *testing.T) {
	for _, v := range rakeVersions(t) {
		t.Run(v, func(t *testing.T) {
			d, _ := os.ReadDir(filepath.Join(fixtures, "rake", v))
			for _, e := range d {
				f, _ := loadRake(t, v, e.Name())
				var sl *fake.Scalelite
				switch e.Name() {
				case "servers.txt":
					sl = scenario(t)
				case "tenants.txt":
					sl = fake.NewScalelite(t, "lb")
					sl.SetMultitenancy(true)
					if _, err := (&Client{URL: sl.URL, Secret: "lb"}).AddTenant(context.Background(), "school", []string{"s1", "s2"}); err != nil {
						t.Fatal(err)
					}
				default:
					sl = fake.NewScalelite(t, "lb")
					if e.Name() != "tenants-disabled.txt" {
						sl.SetMultitenancy(true)
					}
				}
				sl.SetRakeVersion(v)
				out, errOut, code := sl.Rake([]string{"exec", "scalelite-api", "bundle", "exec", "rake", f.task})
				if normRake(out) != normRake(f.stdout) || normRake(errOut) != normRake(f.stderr) || code != f.exit {
					t.Errorf("%s %s: the fake prints\n%s--- stderr\n%s--- exit %d\nScalelite %s prints\n%s--- stderr\n%s--- exit %d",
						e.Name(), f.task, out, errOut, code, v, f.stdout, f.stderr, f.exit)
				}
			}
		})
	}
}

// An unknown tenant id makes tenants:remove and tenants:update raise;
// omc reports the exception (not rake's footer) and maps it to not-found.
func TestRakeUnknownTenantIsNotFound(t *testing.T) {
	ctx := context.Background()
	tasks, _ := loadRake(t, "1.6.0", "tasks.txt")
	rm, ok1 := loadRake(t, "1.6.0", "tenants-remove-notfound.txt")
	up, ok2 := loadRake(t, "1.6.0", "tenants-update-notfound.txt")
	if !ok1 || !ok2 {
		t.Fatal("fixtures missing")
	}
	r := &Rake{Runner: scriptRunner{"-T": tasks, "tenants:remove": rm, "tenants:update": up}}
	for name, err := range map[string]error{
		"DeleteTenant": r.DeleteTenant(ctx, "nope"),
		"UpdateTenant": func() error { _, err := r.UpdateTenant(ctx, "nope", "", []string{"zz"}); return err }(),
	} {
		if !errors.Is(err, pool.ErrNotFound) || !strings.Contains(err.Error(), "Couldn't find Tenant with id=nope") || strings.Contains(err.Error(), "full trace") {
			t.Errorf("%s of an unknown id: %v", name, err)
		}
	}
}
