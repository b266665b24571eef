package scalelite_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// The fake's poller does what Scalelite's does, read through omc's client.
// Each wanted value is worked out from blindsidenetworks/scalelite v1.8.5
// lib/tasks/poll.rake (poll:servers), config/application.rb (defaults) and
// app/models/server.rb, as the comments say, never from the fake:
//
//   - a meeting's load is participantCount + moderatorCount (BBB's
//     participantCount already counts the moderators, so they count twice);
//   - a meeting created less than LOAD_JOIN_BUFFER_TIME (15 min) ago counts
//     LOAD_MIN_USER_COUNT (15) users at least;
//   - breakout rooms count nothing; the sum is multiplied by load_multiplier;
//   - SERVER_HEALTHY_THRESHOLD (1) successes bring a server online,
//     SERVER_UNHEALTHY_THRESHOLD (2) failures in a row take it offline with
//     no load;
//   - a cordoned server whose load is 0 becomes disabled;
//   - only enabled servers are in the server_load set, so a disabled one
//     shows load "unavailable".
func TestPollerFollowsPollRake(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	old, young := now.Add(-16*time.Minute), now.Add(-14*time.Minute)
	type meeting struct {
		participants, moderators int
		created                  time.Time
		breakout                 bool
	}
	for _, c := range []struct {
		name       string
		multiplier float64
		meetings   []meeting
		want       float64
	}{
		{"no meetings", 1, nil, 0},
		{"moderators count twice", 1, []meeting{{7, 2, old, false}}, 7 + 2},
		{"a young meeting counts 15 at least", 1, []meeting{{4, 1, young, false}}, 15},
		{"a young meeting above 15 counts its users", 1, []meeting{{20, 1, young, false}}, 21},
		{"breakout rooms count nothing", 1, []meeting{{3, 1, old, false}, {10, 0, young, true}}, 3 + 1},
		{"meetings add up", 1, []meeting{{3, 1, old, false}, {2, 0, young, false}}, 4 + 15},
		{"load_multiplier scales the sum", 1.5, []meeting{{3, 1, old, false}}, 1.5 * 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			sl := fake.NewScalelite(t, lbSecret)
			sl.Now = func() time.Time { return now }
			n := fake.NewBBB(t).AddNode("bbb1", "node-secret", "3.0.4")
			for i, m := range c.meetings {
				id := fmt.Sprintf("m%d", i)
				n.CreateMeetingAt(id, m.participants, m.moderators, m.created)
				n.SetBreakout(id, m.breakout)
			}
			cl := &scalelite.Client{URL: sl.URL, Secret: lbSecret}
			s, err := cl.Add(ctx, pool.ServerSpec{URL: n.URL, Secret: "node-secret", LoadMultiplier: c.multiplier})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cl.Update(ctx, s.ID, pool.ServerUpdate{State: pool.Enable}); err != nil {
				t.Fatal(err)
			}
			sl.Poll(ctx)
			if s, err = cl.Get(ctx, s.ID); err != nil || !s.Online || !s.LoadKnown || s.Load != c.want {
				t.Fatalf("after one poll: %+v %v, want online with load %v", s, err, c.want)
			}
		})
	}

	t.Run("state and health", func(t *testing.T) {
		sl := fake.NewScalelite(t, lbSecret)
		sl.Now = func() time.Time { return now }
		n := fake.NewBBB(t).AddNode("bbb1", "node-secret", "3.0.4").RevealVersion(true)
		cl := &scalelite.Client{URL: sl.URL, Secret: lbSecret}
		s, _ := cl.Add(ctx, pool.ServerSpec{URL: n.URL, Secret: "node-secret"})
		n.CreateMeetingAt("m1", 3, 1, old)
		get := func(when string) pool.Server {
			t.Helper()
			s, err := cl.Get(ctx, s.ID)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			return s
		}
		sl.Poll(ctx)
		// Disabled (new servers are): polled, online, but not in server_load.
		if s := get("disabled"); !s.Online || s.LoadKnown || s.State != pool.Disabled {
			t.Fatalf("a polled disabled server: %+v, want online with load unavailable", s)
		}
		cl.Update(ctx, s.ID, pool.ServerUpdate{State: pool.Enable})
		sl.Poll(ctx)
		if s := get("enabled"); s.Load != 4 || s.BBBVersion != "3.0.4" {
			t.Fatalf("enabled: %+v, want load 4 and the root's bbbVersion", s)
		}
		cl.Update(ctx, s.ID, pool.ServerUpdate{State: pool.Cordon})
		sl.Poll(ctx)
		if s := get("cordoned with load"); s.State != pool.Cordoned {
			t.Fatalf("a cordoned server with load 4 should stay cordoned: %+v", s)
		}
		n.EndMeeting("m1")
		sl.Poll(ctx)
		if s := get("cordoned, empty"); s.State != pool.Disabled {
			t.Fatalf("a cordoned server with load 0 should become disabled: %+v", s)
		}
		cl.Update(ctx, s.ID, pool.ServerUpdate{State: pool.Enable})
		// getMeetings fails (wrong secret): one failure is below the
		// threshold of 2, the second takes the server offline.
		n.SetSecret("other")
		sl.Poll(ctx)
		if s := get("one failure"); !s.Online || !s.LoadKnown {
			t.Fatalf("offline after one failure: %+v", s)
		}
		sl.Poll(ctx)
		if s := get("two failures"); s.Online || s.LoadKnown {
			t.Fatalf("online after two failures: %+v", s)
		}
		// One success is the healthy threshold.
		n.SetSecret("node-secret")
		sl.Poll(ctx)
		if s := get("recovered"); !s.Online || !s.LoadKnown || s.Load != 0 {
			t.Fatalf("one success should bring it back online with load 0: %+v", s)
		}
	})
}

// Starting is what a Scalelite still starting answers: a gateway error
// from nginx or a refused connection; a refusal by Scalelite is not.
func TestStarting(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&scalelite.APIError{Status: 502}, true},
		{&scalelite.APIError{Status: 503}, true},
		{&scalelite.APIError{Status: 504}, true},
		{&scalelite.APIError{Status: 403, Msg: "(empty)"}, false},
		{&scalelite.APIError{Status: 200, Key: "checksumError"}, false},
		{errors.New("anything else"), false},
	} {
		if got := scalelite.Starting(c.err); got != c.want {
			t.Errorf("scalelite.Starting(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	// A port nobody listens on: the connection is refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := &scalelite.Client{URL: "http://" + addr, Secret: "x"}
	if _, err := c.List(context.Background()); err == nil || !scalelite.Starting(err) {
		t.Errorf("a refused connection: %v, Starting %v", err, scalelite.Starting(err))
	}
}
