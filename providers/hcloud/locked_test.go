package hcloud

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/providers/hcloud/fake"
)

// lockedEnv is an env whose locked backoff records the attempts it was
// asked about and waits nothing.
func lockedEnv(t *testing.T, retries int, onWait func(attempt int)) (*env, *[]int) {
	var mu sync.Mutex
	var asked []int
	e := newEnv(t, func(o *Options) {
		o.LockedRetries = retries
		o.LockedBackoff = func(attempt int) time.Duration {
			mu.Lock()
			asked = append(asked, attempt)
			mu.Unlock()
			if onWait != nil {
				onWait(attempt)
			}
			return 0
		}
	})
	return e, &asked
}

func TestLockedIsWaitedOut(t *testing.T) {
	e, asked := lockedEnv(t, 0, nil)
	e.fake.Inject(fake.Fault{Method: http.MethodPost, Path: "/zones/*/rrsets", Status: http.StatusLocked, Times: 2})
	inv, g := loadInv(t, "coop", 1, "")
	e.create(inv, g)
	var rrsetPosts []int
	for _, c := range e.fake.WriteCalls() {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/rrsets") {
			rrsetPosts = append(rrsetPosts, c.Status)
		}
	}
	// A refused twice (423), then made; AAAA made at once.
	if want := []int{423, 423, 201, 201}; !equalInts(rrsetPosts, want) {
		t.Fatalf("POST rrsets answered %v, want %v", rrsetPosts, want)
	}
	if !equalInts(*asked, []int{0, 1}) {
		t.Errorf("backoff asked for attempts %v, want [0 1]", *asked)
	}
	if !strings.Contains(e.stderr.String(), "locked (another action is running on it); trying again") {
		t.Errorf("the wait is not reported:\n%s", e.stderr.String())
	}
	if len(e.records()) != 2 {
		t.Errorf("records = %v", e.records())
	}
}

func TestLockedGivesUpBounded(t *testing.T) {
	e, asked := lockedEnv(t, 3, nil)
	e.fake.Inject(fake.Fault{Method: http.MethodPost, Path: "/zones/*/rrsets", Status: http.StatusLocked, Times: -1})
	inv, g := loadInv(t, "coop", 1, "")
	_, err := e.p.Create(context.Background(), inv, g, groupNodes(inv, g))
	if err == nil || !strings.Contains(err.Error(), "another action was still running on it after omc waited") {
		t.Fatalf("err = %v, want the locked explanation", err)
	}
	posts := 0
	for _, c := range e.fake.WriteCalls() {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/rrsets") {
			posts++
		}
	}
	if posts != 4 || len(*asked) != 3 {
		t.Fatalf("%d tries, %d waits; want 1+3 tries and 3 waits", posts, len(*asked))
	}
}

func TestLockedCapsTotalWait(t *testing.T) {
	var waits int
	rt := &lockedRetry{
		next: lockedServer(t, -1), retries: 100, maxWait: 3 * time.Nanosecond,
		backoff: func(int) time.Duration { waits++; return time.Nanosecond },
	}
	req, _ := http.NewRequest(http.MethodPost, "http://fake/v1/zones/1/rrsets", strings.NewReader(`{"name":"x"}`))
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Three waits of 1ns fit in 3ns; the fourth would not.
	if resp.StatusCode != http.StatusLocked || waits != 4 {
		t.Fatalf("status %d after %d backoff calls; want 423 after 4 (3 waited, the 4th over the cap)", resp.StatusCode, waits)
	}
}

func TestLockedStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rt := &lockedRetry{
		next: lockedServer(t, -1), retries: 5, maxWait: 24 * time.Hour,
		// The caller gives up while omc waits an hour.
		backoff: func(int) time.Duration { cancel(); return time.Hour },
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://fake/v1/servers/1/actions/rebuild", strings.NewReader(`{}`))
	_, err := rt.RoundTrip(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestProtectedIsNotRetried(t *testing.T) {
	e, asked := lockedEnv(t, 5, nil)
	e.fake.Inject(fake.Fault{Method: http.MethodPost, Path: "/zones/*/rrsets", Status: http.StatusLocked, Code: "protected", Times: -1})
	inv, g := loadInv(t, "coop", 1, "")
	_, err := e.p.Create(context.Background(), inv, g, groupNodes(inv, g))
	if err == nil || !strings.Contains(err.Error(), "protected") || len(*asked) != 0 {
		t.Fatalf("err = %v after %d waits; want protected at once", err, len(*asked))
	}
}

// TestParallelRecordsInOneZone is the case that meets locked in real
// life: nodes made in parallel write their records into one zone, which
// is busy while each record's action runs.
func TestParallelRecordsInOneZone(t *testing.T) {
	e, _ := lockedEnv(t, 50, nil)
	e.fake.ActionPolls = 3
	inv, g := loadInv(t, "coop", 6, "")
	e.create(inv, g)
	if n := len(e.records()); n != 12 {
		t.Fatalf("%d records, want 12: %v", n, e.records())
	}
}

// lockedServer is a transport that answers 423 locked to the first n
// requests (n < 0: all), reading each body fully as a server does.
func lockedServer(t *testing.T, n int) http.RoundTripper {
	f := fake.New(testToken)
	f.Inject(fake.Fault{Status: http.StatusLocked, Times: n})
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, r)
		return rec.Result(), nil
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
