package robot

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fuzzAnswer answers every request with one status and body.
type fuzzAnswer struct {
	status int
	body   []byte
}

func (a fuzzAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(string(a.body))), Request: r}, nil
}

// FuzzAnswers feeds any answer to the webservice client. It must not
// panic; an error must say the status it came with and never hold the
// password; retries of a rate limit wait between 0 and MaxBackoff, however
// odd the interval the answer names. Seeds: every file under
// testdata/upstream/robot.
func FuzzAnswers(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if len(names) == 0 {
		f.Fatal("no fixtures")
	}
	for _, p := range names {
		fx := loadFixture(f, strings.TrimSuffix(filepath.Base(p), ".json"))
		f.Add(fx.status, fx.body)
	}
	f.Add(403, []byte(`{"error":{"status":403,"code":"RATE_LIMIT_EXCEEDED","max_request":200,"interval":"-5"}}`))
	f.Add(403, []byte(`{"error":{"status":403,"code":"RATE_LIMIT_EXCEEDED","max_request":1,"interval":99999999999}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			status = 500
		}
		const password = "fuzz-robot-password-0123456789"
		c, err := NewClient("http://127.0.0.1:1", "#ws+fuzz", password, "fuzz")
		if err != nil {
			t.Fatal(err)
		}
		c.http = &http.Client{Transport: fuzzAnswer{status, body}}
		c.MaxRetries, c.Backoff = 3, time.Second
		c.Sleep = func(_ context.Context, d time.Duration) error {
			if d < 0 || d > c.MaxBackoff {
				t.Fatalf("waits %s between retries (MaxBackoff %s)", d, c.MaxBackoff)
			}
			return nil
		}
		var out []map[string]any
		err = c.Do(context.Background(), http.MethodGet, "/server", nil, &out)
		if err == nil {
			return
		}
		if strings.Contains(err.Error(), password) {
			t.Fatalf("the error holds the password: %v", err)
		}
		var e *Error
		if errors.As(err, &e) && e.Status != status {
			t.Fatalf("error status %d, answer %d: %v", e.Status, status, err)
		}
		if status/100 == 2 && errors.As(err, &e) {
			t.Fatalf("a %d answer became a webservice error: %v", status, err)
		}
	})
}
