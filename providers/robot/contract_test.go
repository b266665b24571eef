package robot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/omc-coop/omc/providers/robot/fake"
)

// Contract tests: testdata/upstream/robot holds answers of the real
// webservice written from its doc and from other clients' fixtures (each
// file names its source). omc's client is run against every one, and the
// fake is made to answer the same situation, which must match it in
// status and JSON shape.

const fixtureDir = "../../testdata/upstream/robot"

type upstreamFixture struct {
	name, from string
	status     int
	body       []byte
}

// loadFixture strips the leading "# from", "# status" and "# request"
// lines (testdata/upstream/README.md).
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
		}
	}
	f.body = data
	if f.from == "" || f.status == 0 || !json.Valid(data) {
		t.Fatalf("%s: needs '# from', '# status' and a JSON body", name)
	}
	return f
}

// fixtureClient is omc's client pointed at a server answering fx to
// every request.
func fixtureClient(t *testing.T, fx upstreamFixture) *Client {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fx.status)
		_, _ = w.Write(fx.body)
	}))
	t.Cleanup(ts.Close)
	c, err := NewClient(ts.URL, testUser, testPassword, "test")
	if err != nil {
		t.Fatal(err)
	}
	c.MaxRetries, c.Backoff = 1, 1
	return c
}

type contract struct {
	omc  func(t *testing.T, c *Client)
	fake func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte)
}

const fp = "15:28:b0:03:95:f0:77:b3:10:56:15:6b:77:22:a5:bb"

var contracts = map[string]contract{
	"error_rate_limit_exceeded": {
		omc: func(t *testing.T, c *Client) {
			_, err := c.Server(context.Background(), 321)
			if !IsCode(err, "RATE_LIMIT_EXCEEDED") || !strings.Contains(err.Error(), "still refused after 1 retries; the limit is 200 requests per 3600s") {
				t.Fatalf("err = %v", err)
			}
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			f.AddServer(321, "192.0.2.50", "EX44")
			f.SetLimit("GET /server/{n}", 1, 3600e9)
			do("GET", "/server/321", nil)
			return do("GET", "/server/321", nil)
		},
	},
	"error_server_not_found": {
		omc: func(t *testing.T, c *Client) {
			if _, err := c.Server(context.Background(), 1); !IsCode(err, "SERVER_NOT_FOUND") {
				t.Fatalf("err = %v", err)
			}
			// An account without servers answers the list the same way.
			if ss, err := c.Servers(context.Background()); err != nil || len(ss) != 0 {
				t.Fatalf("empty list = %v, %v", ss, err)
			}
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			return do("GET", "/server/1", nil)
		},
	},
	"error_invalid_input": {
		omc: func(t *testing.T, c *Client) {
			_, err := c.OrderProduct(context.Background(), "EX44", "", []string{fp})
			var e *Error
			if !asError(err, &e) || e.Code != "INVALID_INPUT" || strings.Join(e.Missing, ",") != "location" || !strings.Contains(err.Error(), "(missing: location)") {
				t.Fatalf("err = %v", err)
			}
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			f.AddProduct("EX44", "Dedicated Server EX44", "39.0000", "0.0000", "FSN1")
			k := addKey(t, do)
			return do("POST", "/order/server/transaction", url.Values{"product_id": {"EX44"}, "authorized_key[]": {k}, "addon[]": {"primary_ipv4"}})
		},
	},
	"error_boot_already_enabled": {
		omc: func(t *testing.T, c *Client) {
			if _, err := c.ActivateRescue(context.Background(), 321, []string{fp}); !IsCode(err, "BOOT_ALREADY_ENABLED") {
				t.Fatalf("err = %v", err)
			}
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			f.AddServer(321, "192.0.2.50", "EX44")
			do("POST", "/boot/321/rescue", url.Values{"os": {"linux"}})
			return do("POST", "/boot/321/rescue", url.Values{"os": {"linux"}})
		},
	},
	"error_key_already_exists": {
		// storedKey (ssh.go) adopts the stored key on this answer.
		omc: func(t *testing.T, c *Client) {
			if _, err := c.AddKey(context.Background(), "k", "ssh-ed25519 AAAA"); !IsCode(err, "KEY_ALREADY_EXISTS") {
				t.Fatalf("err = %v", err)
			}
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			data := testKey(t)
			do("POST", "/key", url.Values{"name": {"a"}, "data": {data}})
			return do("POST", "/key", url.Values{"name": {"b"}, "data": {data}})
		},
	},
	"rescue_set_with_key": {
		omc: func(t *testing.T, c *Client) {
			r, err := c.ActivateRescue(context.Background(), 321, []string{fp})
			if err != nil || !r.Active || r.Password == nil || len(r.AuthorizedKey) != 1 || r.ServerNumber != 321 {
				t.Fatalf("rescue = %+v, %v", r, err)
			}
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			f.AddServer(321, "192.0.2.50", "EX44")
			k := addKey(t, do)
			return do("POST", "/boot/321/rescue", url.Values{"os": {"linux"}, "authorized_key[]": {k}})
		},
	},
	"order_transaction": {
		omc: func(t *testing.T, c *Client) {
			tx, err := c.OrderProduct(context.Background(), "EX44", "FSN1", []string{fp})
			if err != nil || tx.Status != "in process" || tx.ServerNumber != nil || tx.ServerIP != nil ||
				strings.Join(tx.Fingerprints(), ",") != fp || strings.Join(tx.Addons, ",") != AddonPrimaryIPv4 {
				t.Fatalf("transaction = %+v, %v", tx, err)
			}
		},
		fake: func(t *testing.T, f *fake.Fake, do rawDo) (int, []byte) {
			f.AddProduct("EX44", "Dedicated Server EX44", "39.0000", "0.0000", "FSN1")
			k := addKey(t, do)
			return do("POST", "/order/server/transaction", url.Values{"product_id": {"EX44"}, "location": {"FSN1"},
				"authorized_key[]": {k}, "addon[]": {"primary_ipv4"}})
		},
	},
}

func TestEveryFixtureIsChecked(t *testing.T) {
	names, _ := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	var have, want []string
	for _, n := range names {
		have = append(have, strings.TrimSuffix(filepath.Base(n), ".json"))
	}
	for n := range contracts {
		want = append(want, n)
	}
	sort.Strings(have)
	sort.Strings(want)
	if strings.Join(have, " ") != strings.Join(want, " ") {
		t.Fatalf("fixtures %v, contracts %v: each fixture needs a contract", have, want)
	}
}

func TestUpstreamContracts(t *testing.T) {
	for name, c := range contracts {
		t.Run(name, func(t *testing.T) {
			fx := loadFixture(t, name)
			t.Run("omc", func(t *testing.T) { c.omc(t, fixtureClient(t, fx)) })
			t.Run("fake", func(t *testing.T) {
				f, endpoint := fake.Serve(t, testUser, testPassword)
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

type rawDo func(method, path string, form url.Values) (int, []byte)

func rawClient(t *testing.T, endpoint string) rawDo {
	return func(method, path string, form url.Values) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, endpoint+path, strings.NewReader(form.Encode()))
		req.SetBasicAuth(testUser, testPassword)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
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

func addKey(t *testing.T, do rawDo) string {
	t.Helper()
	_, body := do("POST", "/key", url.Values{"name": {"omc-coop-ordered"}, "data": {testKey(t)}})
	var k struct {
		Key Key `json:"key"`
	}
	if err := json.Unmarshal(body, &k); err != nil || k.Key.Fingerprint == "" {
		t.Fatalf("POST /key: %s", body)
	}
	return k.Key.Fingerprint
}

func testKey(t *testing.T) string {
	return strings.TrimSpace(testPublicKey(t))
}

func asError(err error, e **Error) bool {
	x, ok := err.(*Error)
	*e = x
	return ok
}

// shapeDiff compares two JSON documents by shape: the same keys in every
// object and the same kind of value under each; arrays by their first
// element; null matches anything (a value that may be absent).
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
			for k, x := range wv {
				if y, ok := gv[k]; ok {
					walk(path+"."+k, x, y)
				} else {
					diffs = append(diffs, path+"."+k+": missing")
				}
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
