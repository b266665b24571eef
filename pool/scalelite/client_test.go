package scalelite_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/bbbapi"
	"github.com/omc-coop/omc/pool/fake"
	"github.com/omc-coop/omc/pool/scalelite"
)

const lbSecret = "lb-secret-for-tests-0123456789"

func TestClientAgainstFake(t *testing.T) {
	ctx := context.Background()
	sl := fake.NewScalelite(t, lbSecret)
	c := &scalelite.Client{URL: sl.URL, Secret: lbSecret}

	// An empty pool: Scalelite's 404 is an empty list.
	l, err := c.List(ctx)
	if err != nil || len(l) != 0 {
		t.Fatalf("empty pool: %v %v", l, err)
	}

	s, err := c.Add(ctx, pool.ServerSpec{URL: "https://bbb1.example.org/bigbluebutton/api", Secret: "s1", LoadMultiplier: 2, Tag: "eu"})
	if err != nil {
		t.Fatal(err)
	}
	if s.State != pool.Disabled || s.Online || s.LoadMultiplier != 2 || s.Tag != "eu" || s.LoadKnown {
		t.Fatalf("added: %+v", s)
	}
	// Scalelite's add is not idempotent: a second add is a duplicate.
	if _, err := c.Add(ctx, pool.ServerSpec{URL: "https://bbb1.example.org/bigbluebutton/api", Secret: "s1"}); err != nil {
		t.Fatal(err)
	}
	l, _ = c.List(ctx)
	if len(pool.FindByURL(l, "https://BBB1.example.org:443/bigbluebutton/api/")) != 2 {
		t.Fatalf("duplicates: %+v", l)
	}

	sec, lm, tag := "s2", 1.5, ""
	u, err := c.Update(ctx, s.ID, pool.ServerUpdate{State: pool.Cordon, Secret: &sec, LoadMultiplier: &lm, Tag: &tag})
	if err != nil || u.State != pool.Cordoned || u.Secret != "s2" || u.LoadMultiplier != 1.5 || u.Tag != "" {
		t.Fatalf("update: %+v %v", u, err)
	}
	if _, err := c.Update(ctx, s.ID, pool.ServerUpdate{State: "frobnicate"}); err == nil || !strings.Contains(err.Error(), "Invalid state") {
		t.Fatalf("bad state: %v", err)
	}
	g, err := c.Get(ctx, s.ID)
	if err != nil || g.ID != s.ID {
		t.Fatalf("get: %+v %v", g, err)
	}
	if _, err := c.Get(ctx, "nope"); !errors.Is(err, pool.ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
	if err := c.Panic(ctx, s.ID, true); err != nil {
		t.Fatal(err)
	}
	if g, _ := c.Get(ctx, s.ID); g.State != pool.Cordoned {
		t.Fatalf("keep_state: %+v", g)
	}
	if err := c.Panic(ctx, s.ID, false); err != nil {
		t.Fatal(err)
	}
	if g, _ := c.Get(ctx, s.ID); g.State != pool.Disabled {
		t.Fatalf("panic: %+v", g)
	}
	if err := c.Delete(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, s.ID); !errors.Is(err, pool.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestChecksumErrorIsXMLWithHTTP200(t *testing.T) {
	sl := fake.NewScalelite(t, lbSecret)
	c := &scalelite.Client{URL: sl.URL, Secret: "wrong"}
	_, err := c.List(context.Background())
	var ae *scalelite.APIError
	if !errors.As(err, &ae) || ae.Status != 200 || ae.Key != "checksumError" {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(err.Error(), "LOADBALANCER_SECRET") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("message: %v", err)
	}
}

// The checksum covers action + query (GET) or action alone (POST, the body
// is not covered), in the query string either way.
func TestChecksumPlacement(t *testing.T) {
	var got []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+" "+r.Header.Get("Content-Type"))
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"x","url":"u","secret":"s","state":"disabled","load":"unavailable","load_multiplier":"1.0","online":"offline"}`))
	}))
	defer ts.Close()
	c := &scalelite.Client{URL: ts.URL + "/", Secret: lbSecret}
	c.Get(context.Background(), "a b")
	c.Add(context.Background(), pool.ServerSpec{URL: "u", Secret: "s"})
	want := []string{
		"GET /scalelite/api/getServerInfo?id=a+b&checksum=" + bbbapi.Checksum(bbbapi.SHA256, "getServerInfo", "id=a+b", lbSecret) + " ",
		"POST /scalelite/api/addServer?checksum=" + bbbapi.Checksum(bbbapi.SHA256, "addServer", "", lbSecret) + " application/json",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTenants(t *testing.T) {
	ctx := context.Background()
	sl := fake.NewScalelite(t, lbSecret)
	c := &scalelite.Client{URL: sl.URL, Secret: lbSecret}
	if _, err := c.Tenants(ctx); !errors.Is(err, pool.ErrMultitenancyDisabled) {
		t.Fatalf("multitenancy off: %v", err)
	}
	sl.SetMultitenancy(true)
	if l, err := c.Tenants(ctx); err != nil || len(l) != 0 {
		t.Fatalf("no tenants: %v %v", l, err)
	}
	tn, err := c.AddTenant(ctx, "school", []string{"a", "b"})
	if err != nil || tn.Name != "school" || len(tn.Secrets) != 2 || tn.ID == "" {
		t.Fatalf("add: %+v %v", tn, err)
	}
	tn, err = c.UpdateTenant(ctx, tn.ID, "", []string{"c"})
	if err != nil || tn.Secrets[0] != "c" || len(tn.Secrets) != 1 {
		t.Fatalf("update: %+v %v", tn, err)
	}
	l, _ := c.Tenants(ctx)
	if len(l) != 1 || l[0].Name != "school" {
		t.Fatalf("list: %+v", l)
	}
	if err := c.DeleteTenant(ctx, tn.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTenant(ctx, tn.ID); !errors.Is(err, pool.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestPollerOnlineLoadAndCordonToDisabled(t *testing.T) {
	ctx := context.Background()
	sl := fake.NewScalelite(t, lbSecret)
	bbb := fake.NewBBB(t)
	// Scalelite reads bbb_version from the root: revealed, as omc sets it.
	n := bbb.AddNode("bbb1", "node-secret", "3.0.4").RevealVersion(true)
	c := &scalelite.Client{URL: sl.URL, Secret: lbSecret}
	s, _ := c.Add(ctx, pool.ServerSpec{URL: n.URL, Secret: "node-secret"})
	n.CreateMeeting("m1", 3, 1)
	sl.Poll(ctx)
	if s, _ = c.Get(ctx, s.ID); !s.Online || s.LoadKnown {
		t.Fatalf("a disabled server shows no load: %+v", s)
	}
	c.Update(ctx, s.ID, pool.ServerUpdate{State: pool.Enable})
	sl.Poll(ctx)
	s, _ = c.Get(ctx, s.ID)
	// A young meeting counts 15 users at least.
	if !s.Online || s.Load != 15 || s.BBBVersion != "3.0.4" {
		t.Fatalf("after poll: %+v", s)
	}
	c.Update(ctx, s.ID, pool.ServerUpdate{State: pool.Cordon})
	sl.Poll(ctx)
	if s, _ = c.Get(ctx, s.ID); s.State != pool.Cordoned {
		t.Fatalf("cordoned with load: %+v", s)
	}
	n.EndMeeting("m1")
	sl.Poll(ctx)
	if s, _ = c.Get(ctx, s.ID); s.State != pool.Disabled || s.Load != 0 {
		t.Fatalf("drained: %+v", s)
	}
	// A wrong secret: getMeetings fails; two failures take it offline.
	n.SetSecret("other")
	sl.Poll(ctx)
	if s, _ = c.Get(ctx, s.ID); !s.Online {
		t.Fatal("offline after one failure")
	}
	sl.Poll(ctx)
	if s, _ = c.Get(ctx, s.ID); s.Online || s.LoadKnown {
		t.Fatalf("still online: %+v", s)
	}
}
