package scalelite_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/bbbapi"
	"github.com/omc-coop/omc/pool/fake"
	"github.com/omc-coop/omc/pool/scalelite"
)

// A signed call's query is the same every time (getServers has none but
// the checksum), so a checksum in an error replays forever. However a call
// fails, its error names the call and host, never the query or checksum.
func TestErrorsNeverCarryTheQueryOrChecksum(t *testing.T) {
	answers := map[string]http.HandlerFunc{
		"HTTP 500 JSON": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(500)
			w.Write([]byte(`{"error":"boom"}`))
		},
		"HTTP 502 page echoing the request": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			w.Write([]byte("Bad gateway for " + r.URL.String()))
		},
		"HTTP 403 empty": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(403) },
		"garbage":        func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("\x00\x01garbage " + r.URL.RawQuery)) },
		"XML error": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/xml")
			w.Write([]byte(`<response><returncode>FAILED</returncode><messageKey>checksumError</messageKey><message>no: ` + r.URL.RawQuery + `</message></response>`))
		},
		"XML unknown": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`<html>` + r.URL.RawQuery + `</html>`))
		},
	}
	type target struct {
		name, url string
	}
	var targets []target
	for name, h := range answers {
		ts := httptest.NewServer(h)
		t.Cleanup(ts.Close)
		targets = append(targets, target{name, ts.URL})
	}
	// Connection refused: a port nothing listens on any more.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close()
	targets = append(targets, target{"connection refused", refused})

	ctx := context.Background()
	sec := "s"
	lm := 2.0
	for _, tg := range targets {
		c := &scalelite.Client{URL: tg.url, Secret: lbSecret}
		host := strings.TrimPrefix(tg.url, "http://")
		calls := map[string]func() error{
			"getServers":    func() error { _, err := c.List(ctx); return err },
			"getServerInfo": func() error { _, err := c.Get(ctx, "some-id"); return err },
			"addServer":     func() error { _, err := c.Add(ctx, pool.ServerSpec{URL: "https://b/api", Secret: "s"}); return err },
			"updateServer": func() error {
				_, err := c.Update(ctx, "some-id", pool.ServerUpdate{Secret: &sec, LoadMultiplier: &lm})
				return err
			},
			"deleteServer": func() error { return c.Delete(ctx, "some-id") },
			"panicServer":  func() error { return c.Panic(ctx, "some-id", true) },
			"getTenants":   func() error { _, err := c.Tenants(ctx); return err },
			"addTenant":    func() error { _, err := c.AddTenant(ctx, "t", []string{"x"}); return err },
		}
		for action, call := range calls {
			err := call()
			if err == nil {
				t.Errorf("%s %s: no error", tg.name, action)
				continue
			}
			msg := err.Error()
			q := url.Values{}
			if action == "getServerInfo" {
				q.Set("id", "some-id")
			}
			sum := bbbapi.Checksum(bbbapi.SHA256, action, q.Encode(), lbSecret)
			if strings.Contains(msg, sum) || strings.Contains(msg, "?") || strings.Contains(strings.ToLower(msg), "checksum=") {
				t.Errorf("%s %s: the error carries the query or checksum: %s", tg.name, action, msg)
			}
			if !strings.Contains(msg, action) || !strings.Contains(msg, host) {
				t.Errorf("%s %s: the error does not name the call and host: %s", tg.name, action, msg)
			}
		}
	}
}

// Scalelite takes SHA1, SHA256 or SHA512 (by length), only those its
// LOADBALANCER_CHECKSUM_ALGORITHM lists; omc signs with the one the pool
// names and, refused, says the algorithm may be the reason.
func TestChecksumAlgorithmChosenAndExplained(t *testing.T) {
	ctx := context.Background()
	sl := fake.NewScalelite(t, lbSecret)
	sl.SetChecksumAlgorithms("SHA512")
	_, err := (&scalelite.Client{URL: sl.URL, Secret: lbSecret}).List(ctx)
	var ae *scalelite.APIError
	if !errors.As(err, &ae) || ae.Key != "checksumError" || !strings.Contains(err.Error(), "LOADBALANCER_CHECKSUM_ALGORITHM does not list SHA256") ||
		!strings.Contains(err.Error(), "LOADBALANCER_SECRET") {
		t.Fatalf("sha256 against SHA512 only: %v", err)
	}
	if _, err := (&scalelite.Client{URL: sl.URL, Secret: lbSecret, Algorithm: bbbapi.SHA512}).List(ctx); err != nil {
		t.Fatalf("sha512: %v", err)
	}
	sl.SetChecksumAlgorithms("SHA1", "SHA256", "SHA512")
	for _, a := range scalelite.Algorithms {
		if _, err := (&scalelite.Client{URL: sl.URL, Secret: lbSecret, Algorithm: a}).List(ctx); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	// SHA384 is not Scalelite's: omc will not sign with it, and the fake
	// (as Scalelite) refuses it even when the setting names it.
	if _, err := (&scalelite.Client{URL: sl.URL, Secret: lbSecret, Algorithm: bbbapi.SHA384}).List(ctx); err == nil || !strings.Contains(err.Error(), "cannot sign with") {
		t.Fatalf("sha384 client: %v", err)
	}
	sl.SetChecksumAlgorithms("SHA1", "SHA256", "SHA384", "SHA512")
	resp, err := http.Get(sl.URL + "/scalelite/api/getServers?checksum=" + bbbapi.Checksum(bbbapi.SHA384, "getServers", "", lbSecret))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 512)
	n, _ := resp.Body.Read(b)
	resp.Body.Close()
	if !strings.Contains(string(b[:n]), "checksumError") {
		t.Fatalf("the fake took SHA384: %s", b[:n])
	}
}

// Scalelite called by a name other than its URL_HOST answers an empty 403
// (Rails host authorization); omc says what that most likely means.
func TestEmpty403NamesHostAuthorization(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(403) }))
	t.Cleanup(ts.Close)
	_, err := (&scalelite.Client{URL: ts.URL, Secret: lbSecret}).List(context.Background())
	for _, want := range []string{"HTTP 403 with an empty body", "refuses the host name 127.0.0.1", "URL_HOST"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
	// A 403 with a body says what the body says.
	ts2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(403)
		w.Write([]byte(`{"error":"forbidden by proxy"}`))
	}))
	t.Cleanup(ts2.Close)
	_, err = (&scalelite.Client{URL: ts2.URL, Secret: lbSecret}).List(context.Background())
	if err == nil || !strings.Contains(err.Error(), "HTTP 403: forbidden by proxy") || strings.Contains(err.Error(), "URL_HOST") {
		t.Errorf("403 with a body: %v", err)
	}
}

// Answers that parse but are not what the call returns are errors naming
// the call, never a success with empty data: null, {}, a SUCCESS XML.
func TestAnswersOfTheWrongShapeAreErrors(t *testing.T) {
	for name, body := range map[string]string{
		"null":        `null`,
		"empty":       `{}`,
		"empty list":  `[]`,
		"success XML": `<response><returncode>SUCCESS</returncode><version>2.0</version></response>`,
	} {
		t.Run(name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(body, "<") {
					w.Header().Set("Content-Type", "text/xml")
				} else {
					w.Header().Set("Content-Type", "application/json")
				}
				w.Write([]byte(body))
			}))
			t.Cleanup(ts.Close)
			c := &scalelite.Client{URL: ts.URL, Secret: lbSecret}
			ctx := context.Background()
			sec := "s"
			calls := map[string]func() error{
				"getServers":    func() error { _, err := c.List(ctx); return err },
				"getServerInfo": func() error { _, err := c.Get(ctx, "id1"); return err },
				"addServer":     func() error { _, err := c.Add(ctx, pool.ServerSpec{URL: "https://b/api", Secret: "s"}); return err },
				"updateServer":  func() error { _, err := c.Update(ctx, "id1", pool.ServerUpdate{Secret: &sec}); return err },
				"deleteServer":  func() error { return c.Delete(ctx, "id1") },
				"panicServer":   func() error { return c.Panic(ctx, "id1", false) },
				"getTenants":    func() error { _, err := c.Tenants(ctx); return err },
				"addTenant":     func() error { _, err := c.AddTenant(ctx, "t", []string{"x"}); return err },
				"updateTenant":  func() error { _, err := c.UpdateTenant(ctx, "id1", "", []string{"x"}); return err },
				"deleteTenant":  func() error { return c.DeleteTenant(ctx, "id1") },
			}
			for action, call := range calls {
				err := call()
				if err == nil || !strings.Contains(err.Error(), "Scalelite "+action) || strings.HasSuffix(err.Error(), ": ") {
					t.Errorf("%s answered %s: %v", action, name, err)
				}
			}
		})
	}
	// An empty id is refused before anything is sent.
	c := &scalelite.Client{URL: "http://127.0.0.1:1", Secret: lbSecret}
	if _, err := c.Update(context.Background(), "", pool.ServerUpdate{State: pool.Enable}); err == nil || !strings.Contains(err.Error(), "no server id") {
		t.Errorf("update of an empty id: %v", err)
	}
}
