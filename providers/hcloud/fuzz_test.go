package hcloud

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzErrorAnswers feeds any answer of the Cloud API to the provider
// (through hcloud-go, as in use). It must not panic, and the token must
// not appear in an error even when the answer echoes it ("ECHO" in the
// body becomes the request's Authorization header). Seeds: every file
// under testdata/upstream/hcloud.
func FuzzErrorAnswers(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if len(names) == 0 {
		f.Fatal("no fixtures")
	}
	for _, p := range names {
		fx := loadFixture(f, strings.TrimSuffix(filepath.Base(p), ".json"))
		f.Add(fx.status, fx.body)
	}
	f.Add(401, []byte(`{"error":{"code":"unauthorized","message":"token ECHO is invalid"}}`))
	var mu sync.Mutex
	var status int
	var body []byte
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st, b := status, bytes.ReplaceAll(body, []byte("ECHO"), []byte(r.Header.Get("Authorization")))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		w.Write(b)
	}))
	f.Cleanup(ts.Close)
	f.Fuzz(func(t *testing.T, st int, b []byte) {
		if st < 200 || st > 599 {
			st = 500
		}
		mu.Lock()
		status, body = st, b
		mu.Unlock()
		p := New(Options{Token: testToken, Endpoint: ts.URL, StateDir: t.TempDir(), Stderr: io.Discard, PollInterval: time.Millisecond,
			MaxRetries: 1, RetryBackoff: time.Microsecond, LockedRetries: 1, LockedBackoff: func(int) time.Duration { return 0 }, LockedMaxWait: time.Millisecond})
		inv, g := loadInv(t, "coop", 1, "")
		// An answer can leave an action running for ever, and then the
		// client waits until this deadline: it must stay well under the
		// fuzzer's own 10 s, past which it reports the input as a hang.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := p.List(ctx, inv, g)
		if err != nil && strings.Contains(err.Error(), testToken) {
			t.Fatalf("the token is in the error: %v", err)
		}
		err = p.Delete(ctx, inv, g, []string{"coop-bbb-1"})
		if err != nil && strings.Contains(err.Error(), testToken) {
			t.Fatalf("the token is in the error: %v", err)
		}
	})
}

// FuzzLockedRetry feeds any answer to a write through the transport that
// retries "locked": whatever the body, the caller gets the answer's
// status and body unchanged, and a bounded number of tries.
func FuzzLockedRetry(f *testing.F) {
	f.Add(423, []byte(`{"error":{"code":"locked","message":"server is locked"}}`))
	f.Add(423, []byte(`{"error":{"code":"conflict"}}`))
	f.Add(423, []byte(`not json`))
	f.Fuzz(func(t *testing.T, st int, b []byte) {
		if st < 200 || st > 599 {
			st = 423
		}
		tries := 0
		next := roundTripFunc(func(*http.Request) (*http.Response, error) {
			tries++
			return &http.Response{StatusCode: st, Body: io.NopCloser(bytes.NewReader(b)), Header: http.Header{}}, nil
		})
		rt := &lockedRetry{next: next, retries: 2, backoff: func(int) time.Duration { return 0 }, maxWait: time.Second}
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/v1/servers", strings.NewReader(`{"name":"x"}`))
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != st || !bytes.Equal(got, b) || tries > 3 {
			t.Fatalf("status %d body %q after %d tries; answer was %d %q", resp.StatusCode, got, tries, st, b)
		}
	})
}
