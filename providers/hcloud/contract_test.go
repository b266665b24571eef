package hcloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
	"github.com/hetznercloud/hcloud-go/v2/hcloud/exp/actionutil"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers/hcloud/fake"
)

// Contract tests: testdata/upstream/hcloud holds answers of the real API
// written from hcloud-go's source (each file names it). omc's client
// code is run against every one of them, and the fake is made to answer
// the same situation, whose answer must have the same status and the
// same JSON shape. So neither omc nor the fake can drift from upstream
// without a failing test.

const fixtureDir = "../../testdata/upstream/hcloud"

// upstreamFixture is one file: leading "# from …", "# status N" and
// "# request …" lines, then the JSON body (testdata/upstream/README.md).
type upstreamFixture struct {
	name, from, request string
	status              int
	body                []byte
}

func loadFixture(t testing.TB, name string) upstreamFixture {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	f := upstreamFixture{name: name}
	for len(data) > 0 && data[0] == '#' {
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		data = rest
		key, val, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(string(line), "#")), " ")
		switch key {
		case "from":
			f.from = val
		case "status":
			f.status, _ = strconv.Atoi(val)
		case "request":
			f.request = val
		}
	}
	f.body = data
	if f.from == "" || f.status == 0 || !json.Valid(data) {
		t.Fatalf("%s: needs '# from', '# status' and a JSON body", name)
	}
	return f
}

func TestEveryFixtureIsChecked(t *testing.T) {
	names, _ := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	var have []string
	for _, n := range names {
		have = append(have, strings.TrimSuffix(filepath.Base(n), ".json"))
	}
	var want []string
	for n := range contracts {
		want = append(want, n)
	}
	sort.Strings(have)
	sort.Strings(want)
	if strings.Join(have, " ") != strings.Join(want, " ") {
		t.Fatalf("fixtures %v, contracts %v: each fixture needs a contract", have, want)
	}
}

// contract is what one fixture is checked by: omc's code against the
// fixture (omc), and the fake made to answer the same situation (fake).
type contract struct {
	omc  func(t *testing.T, fx upstreamFixture)
	fake func(t *testing.T, f *fake.Fake, do rawDo) (status int, body []byte)
}

var contracts = map[string]contract{
	"error_locked": {
		omc: func(t *testing.T, fx upstreamFixture) {
			e, _ := lockedEnv(t, 2, nil)
			stubbed(t, e, fx, "POST", "/zones/*/rrsets", 2)
			inv, g := loadInv(t, "coop", 1, "")
			e.create(inv, g) // waited out
			e2, _ := lockedEnv(t, 2, nil)
			stubbed(t, e2, fx, "POST", "/zones/*/rrsets", -1)
			_, err := e2.p.Create(context.Background(), inv, g, groupNodes(inv, g))
			if !hcloud.IsError(err, hcloud.ErrorCodeLocked) || !strings.Contains(err.Error(), "another action was still running") {
				t.Fatalf("err = %v", err)
			}
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			f.ActionPolls = 3
			_, body := do("POST", "/servers", `{"name":"a","server_type":"cx22","image":"ubuntu-24.04"}`)
			id := jsonPath(t, body, "server", "id")
			return do("POST", "/servers/"+id+"/actions/rebuild", `{"image":"debian-12"}`)
		},
	},
	"error_conflict": {
		omc: func(t *testing.T, fx upstreamFixture) {
			e := newEnv(t)
			stubbed(t, e, fx, "POST", "/servers", 1)
			inv, g := loadInv(t, "coop", 1, "")
			e.create(inv, g) // hcloud-go retries conflict
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			f.Inject(fake.Fault{Method: "POST", Path: "/servers", Status: http.StatusConflict, Code: "conflict"})
			return do("POST", "/servers", `{"name":"a","server_type":"cx22","image":"ubuntu-24.04"}`)
		},
	},
	"error_rate_limit_exceeded": {
		omc: func(t *testing.T, fx upstreamFixture) {
			e := newEnv(t, func(o *Options) { o.MaxRetries = 2 })
			stubbed(t, e, fx, "GET", "/servers", -1)
			inv, g := loadInv(t, "coop", 1, "")
			_, err := e.p.List(context.Background(), inv, g)
			if err == nil || !strings.Contains(err.Error(), "still refused after backing off (rate_limit_exceeded)") {
				t.Fatalf("err = %v", err)
			}
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			f.Inject(fake.Fault{Method: "GET", Path: "/servers", Status: http.StatusTooManyRequests})
			return do("GET", "/servers", "")
		},
	},
	"error_invalid_input": {
		omc: func(t *testing.T, fx upstreamFixture) {
			e := newEnv(t)
			stubbed(t, e, fx, "POST", "/servers", -1)
			inv, g := loadInv(t, "coop", 1, "")
			_, err := e.p.Create(context.Background(), inv, g, groupNodes(inv, g))
			var apiErr hcloud.Error
			if !errors.As(err, &apiErr) || apiErr.Code != hcloud.ErrorCodeInvalidInput {
				t.Fatalf("err = %v", err)
			}
			d, ok := apiErr.Details.(hcloud.ErrorDetailsInvalidInput)
			if !ok || len(d.Fields) != 1 || d.Fields[0].Name != "name" || !strings.Contains(err.Error(), "invalid input in field 'name'") {
				t.Fatalf("details %#v, err %v", apiErr.Details, err)
			}
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			return do("POST", "/servers", `{"name":"bad_name!","server_type":"cx22","image":"ubuntu-24.04"}`)
		},
	},
	"error_not_found": {
		// A server gone behind omc's back is deleted already: no error.
		omc: func(t *testing.T, fx upstreamFixture) {
			e := newEnv(t)
			inv, g := loadInv(t, "coop", 1, "")
			e.create(inv, g)
			// Someone deletes it just before omc does.
			stubbedAfter(t, e, fx, "DELETE", "/servers/*", -1, true)
			e.checkErr(e.p.Delete(context.Background(), inv, g, []string{"coop-bbb-1"}))
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			return do("GET", "/servers/999999", "")
		},
	},
	"error_uniqueness_error": {
		omc: func(t *testing.T, fx upstreamFixture) {
			e := newEnv(t)
			stubbed(t, e, fx, "POST", "/servers", -1)
			inv, g := loadInv(t, "coop", 1, "")
			_, err := e.p.Create(context.Background(), inv, g, groupNodes(inv, g))
			if err == nil || !strings.Contains(err.Error(), "already exists in the project without the labels") {
				t.Fatalf("err = %v", err)
			}
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			key := `{"name":"%s","public_key":"` + testPublicKey(t) + `"}`
			do("POST", "/ssh_keys", fmt.Sprintf(key, "a"))
			return do("POST", "/ssh_keys", fmt.Sprintf(key, "b"))
		},
	},
	"error_deprecated_api_endpoint": {
		// omc never lists actions without ids: a full up, scale and
		// delete against the fake never meets this answer.
		omc: func(t *testing.T, fx upstreamFixture) {
			e := newEnv(t)
			inv, g := loadInv(t, "coop", 2, "")
			e.create(inv, g)
			e.checkErr(e.p.Delete(context.Background(), inv, g, []string{"coop-bbb-2"}))
			for _, c := range e.fake.Calls() {
				if c.Path == "/actions" && !strings.Contains(c.Query, "id=") {
					t.Fatalf("omc listed actions without ids: %+v", c)
				}
			}
			c := hcloud.NewClient(hcloud.WithEndpoint(stubServer(t, fx)), hcloud.WithToken(testToken))
			_, err := c.Action.AllWithOpts(context.Background(), hcloud.ActionListOpts{ID: []int64{1}})
			var apiErr hcloud.Error
			if !errors.As(err, &apiErr) || apiErr.Code != hcloud.ErrorDeprecatedAPIEndpoint {
				t.Fatalf("err = %v", err)
			}
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			return do("GET", "/actions", "")
		},
	},
	"server_create": {
		// What omc's createNode does with the answer: the server, and
		// the create and start actions to wait for.
		omc: func(t *testing.T, fx upstreamFixture) {
			p := New(Options{Token: testToken, Endpoint: stubServer(t, fx)})
			a, err := p.client(groupFor(t))
			if err != nil {
				t.Fatal(err)
			}
			res, _, err := a.c.Server.Create(context.Background(), hcloud.ServerCreateOpts{Name: "bbb-1",
				ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "debian-13"}})
			if err != nil {
				t.Fatal(err)
			}
			acts := actionutil.AppendNext(res.Action, res.NextActions)
			if res.Server.ID != 115493226 || len(acts) != 2 || acts[1].Command != "start_server" || res.RootPassword != "" {
				t.Fatalf("result = %+v, actions %+v", res, acts)
			}
			if sshAddr(res.Server) != "46.62.147.153:22" || ipv6Host(res.Server.PublicNet.IPv6.Network) != "2a01:4f9:c012:fa81::1" {
				t.Fatalf("addresses %s, %s", sshAddr(res.Server), ipv6Host(res.Server.PublicNet.IPv6.Network))
			}
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			_, k := do("POST", "/ssh_keys", `{"name":"op","public_key":"`+testPublicKey(t)+`"}`)
			return do("POST", "/servers", `{"name":"bbb-1","server_type":"cx22","image":"ubuntu-24.04","ssh_keys":[`+
				jsonPath(t, k, "ssh_key", "id")+`],"labels":{"omc/node":"bbb-1"}}`)
		},
	},
	"zone_rrset_get": {
		// A pool domain whose record omc did not make (two addresses,
		// with comments): its tenants' aliases get both values, without
		// the comments.
		omc: func(t *testing.T, fx upstreamFixture) {
			e := newEnv(t)
			stubbed(t, e, fx, "GET", "/zones/*/rrsets/sl/A", -1)
			inv, g := loadInv(t, "coop", 1, "")
			_, err := e.p.SyncAliases(context.Background(), inv, g, "sl.example.org", []string{"school-a.sl.example.org"}, false)
			e.checkErr(err)
			if got := strings.Join(e.records(), ", "); got != "school-a.sl A 203.0.113.7, school-a.sl A 203.0.113.8" {
				t.Fatalf("records = %s", got)
			}
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			f.AddZone("example.org")
			do("POST", "/zones/example.org/rrsets", `{"name":"sl","type":"A","ttl":3600,"labels":{"team":"ops"},`+
				`"records":[{"value":"203.0.113.7","comment":"scalelite, old rack"},{"value":"203.0.113.8","comment":"scalelite, new rack"}]}`)
			return do("GET", "/zones/example.org/rrsets/sl/A", "")
		},
	},
	"actions_list": {
		// An action that ends in error fails the wait, named in omc's error.
		omc: func(t *testing.T, fx upstreamFixture) {
			p := New(Options{Token: testToken, Endpoint: stubServer(t, fx), PollInterval: time.Millisecond})
			a, err := p.client(groupFor(t))
			if err != nil {
				t.Fatal(err)
			}
			running := func(id int64) *hcloud.Action { return &hcloud.Action{ID: id, Status: hcloud.ActionStatusRunning} }
			err = a.wrap(a.c.Action.WaitFor(context.Background(), running(587706426), running(587706427)), "waiting for it to start")
			var ae hcloud.ActionError
			if !errors.As(err, &ae) || ae.Code != "action_failed" || !strings.Contains(err.Error(), "waiting for it to start: Action failed (action_failed, 587706427)") {
				t.Fatalf("err = %v", err)
			}
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			f.Inject(fake.Fault{Method: "POST", Path: "/servers", ActionError: "action_failed"})
			_, body := do("POST", "/servers", `{"name":"a","server_type":"cx22","image":"ubuntu-24.04"}`)
			a, n := jsonPath(t, body, "action", "id"), jsonPath(t, body, "next_actions", "0", "id")
			q := "/actions?id=" + a + "&id=" + n
			do("GET", q, "")
			return do("GET", q, "")
		},
	},
}

func TestUpstreamContracts(t *testing.T) {
	for name, c := range contracts {
		t.Run(name, func(t *testing.T) {
			fx := loadFixture(t, name)
			t.Run("omc", func(t *testing.T) { c.omc(t, fx) })
			t.Run("fake", func(t *testing.T) {
				f, endpoint := fake.Serve(t, testToken)
				status, body := c.fake(t, f, rawClient(t, endpoint))
				if status != fx.status {
					t.Errorf("fake answered %d, upstream %d (%s)", status, fx.status, fx.from)
				}
				if diffs := shapeDiff(t, fx.body, body); len(diffs) > 0 {
					t.Errorf("fake's answer differs in shape from upstream's (%s):\n%s\nfake: %s", fx.from, strings.Join(diffs, "\n"), body)
				}
			})
		})
	}
}

// rawDo sends one request to the fake and returns its status and body.
type rawDo func(method, path, body string) (int, []byte)

func rawClient(t *testing.T, endpoint string) rawDo {
	return func(method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, endpoint+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data
	}
}

// stubbed answers the first n (n < 0: all) requests matching method and
// path (without /v1; "*" is one segment) with the fixture; the rest go
// to the env's fake.
func stubbed(t *testing.T, e *env, fx upstreamFixture, method, path string, n int) {
	stubbedAfter(t, e, fx, method, path, n, false)
}

// stubbedAfter is stubbed; with apply, the fake serves a matching
// request first (its answer dropped), as if someone else had made it.
func stubbedAfter(t *testing.T, e *env, fx upstreamFixture, method, path string, n int, apply bool) {
	var mu sync.Mutex
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hit := r.Method == method && segmentsMatch(path, strings.TrimPrefix(r.URL.Path, "/v1")) && n != 0
		if hit && n > 0 {
			n--
		}
		mu.Unlock()
		if hit {
			if apply {
				e.fake.ServeHTTP(httptest.NewRecorder(), r)
			}
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(fx.status)
			_, _ = w.Write(fx.body)
			return
		}
		e.fake.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	e.p.mu.Lock()
	e.p.opts.Endpoint = ts.URL + "/v1"
	e.p.clients = map[[32]byte]*api{} // a new client for the new endpoint
	e.p.mu.Unlock()
}

// stubServer answers every request with the fixture.
func stubServer(t *testing.T, fx upstreamFixture) string {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fx.status)
		_, _ = w.Write(fx.body)
	}))
	t.Cleanup(ts.Close)
	return ts.URL + "/v1"
}

func segmentsMatch(pattern, path string) bool {
	ps, xs := strings.Split(strings.Trim(pattern, "/"), "/"), strings.Split(strings.Trim(path, "/"), "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if ps[i] != "*" && ps[i] != xs[i] {
			return false
		}
	}
	return true
}

func groupFor(t *testing.T) *inventory.Group {
	_, g := loadInv(t, "coop", 1, "")
	return g
}

// jsonPath reads a scalar at keys (a number key indexes an array).
func jsonPath(t *testing.T, body []byte, keys ...string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	for _, k := range keys {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, _ := strconv.Atoi(k)
			if i >= len(x) {
				t.Fatalf("no %v in %s", keys, body)
			}
			v = x[i]
		}
	}
	if f, ok := v.(float64); ok {
		return strconv.FormatInt(int64(f), 10)
	}
	return fmt.Sprint(v)
}

// shapeDiff compares two JSON documents by shape: the same keys in every
// object, the same kind of value under each; arrays by their first
// element; null matches anything (a value that may be absent); the
// contents of labels are free.
func shapeDiff(t *testing.T, want, got []byte) []string {
	t.Helper()
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	var diffs []string
	var walk func(path string, w, g any)
	walk = func(path string, w, g any) {
		if w == nil || g == nil {
			return
		}
		switch wv := w.(type) {
		case map[string]any:
			gv, ok := g.(map[string]any)
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s: object upstream, %T here", path, g))
				return
			}
			if strings.HasSuffix(path, ".labels") {
				return
			}
			for k, x := range wv {
				y, ok := gv[k]
				if !ok {
					diffs = append(diffs, path+"."+k+": missing")
					continue
				}
				walk(path+"."+k, x, y)
			}
			for k := range gv {
				if _, ok := wv[k]; !ok {
					diffs = append(diffs, path+"."+k+": not upstream's")
				}
			}
		case []any:
			gv, ok := g.([]any)
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s: array upstream, %T here", path, g))
				return
			}
			if len(wv) > 0 && len(gv) > 0 {
				walk(path+"[0]", wv[0], gv[0])
			}
		default:
			if fmt.Sprintf("%T", w) != fmt.Sprintf("%T", g) {
				diffs = append(diffs, fmt.Sprintf("%s: %T upstream, %T here", path, w, g))
			}
		}
	}
	walk("", w, g)
	sort.Strings(diffs)
	return diffs
}
