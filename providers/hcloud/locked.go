package hcloud

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// lockedRetry sends a request again while the API refuses it with 423
// locked ("Another action is running", hcloud-go hcloud/error.go). The
// API answers so when a call would start an action on a resource that
// is still busy with another; hcloud-go's own retries (conflict,
// rate_limit_exceeded, bad_gateway, timeout: hcloud/client_handler_retry.go)
// leave it to the caller. omc meets it when parallel nodes write records
// in one zone, or when a server is changed right after an action.
//
// hcloud-go leaves it out on purpose: "The API error code locked is used
// in many unexpected situations, we can only retry in specific context
// where we know the error is not misused" (hcloud/client_handler_retry_test.go).
// omc retries only calls that write (a GET is never waited on), and
// bounds the wait, so a locked that waiting cannot end costs at most
// maxWait before it is reported.
//
// It sits below hcloud-go as the HTTP client's transport, so every call
// is covered and the final refusal still reaches hcloud-go as its
// locked error. The wait is bounded three ways: at most retries more
// tries, no single wait beyond what backoff returns, no more than
// maxWait in all; the request's context ends it at once.
type lockedRetry struct {
	next    http.RoundTripper
	retries int
	backoff func(attempt int) time.Duration
	maxWait time.Duration
	// log is told about each retry.
	log func(method, path string, wait time.Duration)
}

func (t *lockedRetry) RoundTrip(req *http.Request) (*http.Response, error) {
	var waited time.Duration
	for attempt := 0; ; attempt++ {
		r := req
		if attempt > 0 {
			r = req.Clone(req.Context())
			if req.Body != nil && req.Body != http.NoBody {
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				r.Body = body
			}
		}
		resp, err := t.next.RoundTrip(r)
		if err != nil || resp.StatusCode != http.StatusLocked || req.Method == http.MethodGet {
			return resp, err
		}
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(data))
		replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
		if rerr != nil || !isLocked(data) || attempt >= t.retries || !replayable {
			return resp, nil
		}
		d := t.backoff(attempt)
		if waited+d > t.maxWait {
			return resp, nil
		}
		if t.log != nil {
			t.log(req.Method, req.URL.Path, d)
		}
		timer := time.NewTimer(d)
		select {
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		case <-timer.C:
		}
		waited += d
	}
}

// isLocked reports whether a 423 body is the locked error; 423 also
// carries "protected", which waiting does not change.
func isLocked(body []byte) bool {
	var e schema.ErrorResponse
	return json.Unmarshal(body, &e) == nil && e.Error.Code == "locked"
}

// lockedBackoff doubles from base, each wait at most limit.
func lockedBackoff(base, limit time.Duration) func(int) time.Duration {
	return func(attempt int) time.Duration {
		d := base
		for i := 0; i < attempt && d < limit; i++ {
			d *= 2
		}
		return min(d, limit)
	}
}
