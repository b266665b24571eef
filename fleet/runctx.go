package fleet

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/omc-coop/omc/internal/redact"
)

// A run's debug log and redactor travel on its context: opened by the
// command line before the inventory is read, filled in by fleet as it
// learns the secrets, so that nothing logged shows one.
type (
	runLogKey      struct{}
	runRedactorKey struct{}
)

// WithLog is ctx carrying the run's debug log.
func WithLog(ctx context.Context, log *slog.Logger) context.Context {
	return context.WithValue(ctx, runLogKey{}, log)
}

// LogFrom is the context's debug log, nil when there is none.
func LogFrom(ctx context.Context) *slog.Logger {
	l, _ := ctx.Value(runLogKey{}).(*slog.Logger)
	return l
}

// WithRedactor is ctx carrying the run's redactor.
func WithRedactor(ctx context.Context, red *redact.Redactor) context.Context {
	return context.WithValue(ctx, runRedactorKey{}, red)
}

// Redactor is the run's redactor with secrets added (a new one when
// the command runs without one, as in tests of its parts).
func Redactor(ctx context.Context, secrets ...string) *redact.Redactor {
	if red, ok := ctx.Value(runRedactorKey{}).(*redact.Redactor); ok {
		red.Add(secrets...)
		return red
	}
	return redact.New(secrets...)
}

// LoggedHTTP is hc with each request it sends logged to log.
func LoggedHTTP(hc *http.Client, log *slog.Logger) *http.Client {
	if log == nil {
		return hc
	}
	c := *hc
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = &loggedTransport{base: base, log: log}
	return &c
}

type loggedTransport struct {
	base http.RoundTripper
	log  *slog.Logger
}

func (t *loggedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t0 := time.Now()
	resp, err := t.base.RoundTrip(req)
	attrs := []any{"method", req.Method, "host", req.URL.Host, "path", req.URL.Path, "ms", time.Since(t0).Milliseconds()}
	switch {
	case err != nil:
		// A transport error names no URL (only *url.Error, added by
		// http.Client above this, quotes it).
		t.log.Warn("http", append(attrs, "error", err.Error())...)
	default:
		t.log.Debug("http", append(attrs, "status", resp.StatusCode)...)
	}
	return resp, err
}
