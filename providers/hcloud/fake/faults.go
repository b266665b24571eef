package fake

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault scripts a failure on matching calls. A call that fails with an
// HTTP status changes nothing, as a refused request does on the real
// service; a call with ActionError succeeds and the action it starts ends
// in error.
type Fault struct {
	// Method matches the HTTP method; "" matches any.
	Method string
	// Path matches the API path without /v1; "*" matches one segment
	// ("/servers/*/actions/rebuild"); "" matches any.
	Path string
	// After lets this many matching calls through first: After 2 fails
	// the third.
	After int
	// Times is how many matching calls fail; 0 means one, negative means
	// every call from then on.
	Times int
	// Status is the HTTP status: 429 answers rate_limit_exceeded, 423
	// locked (which hcloud-go does not retry), 5xx
	// server errors (502 bad_gateway and 504 timeout are retried by
	// hcloud-go, 500 and 503 are not).
	Status int
	// Code and Message override the error body; the default fits Status.
	Code, Message string
	// ActionError, when set, makes the call succeed and its action end
	// in error with this code.
	ActionError string

	seen, fired int
}

// Inject adds scripted faults, checked in order; the first match wins.
func (f *Fake) Inject(faults ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range faults {
		ft := faults[i]
		f.faults = append(f.faults, &ft)
	}
}

// FailNthCreate makes the nth POST /<collection> (n from 1) fail with a
// 500 server_error, e.g. FailNthCreate("servers", 2).
func (f *Fake) FailNthCreate(collection string, n int) {
	f.Inject(Fault{Method: http.MethodPost, Path: "/" + collection, After: n - 1, Status: http.StatusInternalServerError})
}

// ClearFaults drops every scripted fault, fired or not.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// fault returns the scripted fault that fires for this call, if any.
func (f *Fake) fault(method, path string) *Fault {
	for _, ft := range f.faults {
		if ft.Method != "" && !strings.EqualFold(ft.Method, method) {
			continue
		}
		if ft.Path != "" && !pathMatch(ft.Path, path) {
			continue
		}
		ft.seen++
		if ft.seen <= ft.After {
			continue
		}
		times := ft.Times
		if times == 0 {
			times = 1
		}
		if times > 0 && ft.fired >= times {
			continue
		}
		ft.fired++
		return ft
	}
	return nil
}

func pathMatch(pattern, path string) bool {
	ps := strings.Split(strings.Trim(pattern, "/"), "/")
	xs := strings.Split(strings.Trim(path, "/"), "/")
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

func (ft *Fault) write(w http.ResponseWriter) {
	status := ft.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	code, msg := ft.Code, ft.Message
	if code == "" {
		switch status {
		case http.StatusTooManyRequests:
			code, msg = "rate_limit_exceeded", "limit of 3600 requests per hour reached"
		case http.StatusLocked:
			code = "locked"
		case http.StatusBadGateway:
			code = "bad_gateway"
		case http.StatusServiceUnavailable:
			code = "unavailable"
		case http.StatusGatewayTimeout:
			code = "timeout"
		default:
			code = "server_error"
		}
	}
	if msg == "" {
		msg = "scripted failure"
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("RateLimit-Limit", "3600")
		w.Header().Set("RateLimit-Remaining", "0")
		w.Header().Set("RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10))
	}
	apiError(w, status, code, "%s", msg)
}
