package robot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultEndpoint is the Robot webservice.
const DefaultEndpoint = "https://robot-ws.your-server.de"

// Client is omc's own small client of the Robot webservice: form-encoded
// requests, HTTP Basic auth, JSON answers. It retries only what the
// service refused without doing anything (403 RATE_LIMIT_EXCEEDED), with a
// bounded backoff; a 401 is reported at once and poisons the client, so
// no later call of the same run can count as a second failed login (the
// service blocks the caller's IP for ten minutes after three).
//
// The password is only ever put in the Authorization header: no error,
// log line or URL carries it.
type Client struct {
	endpoint string
	user     string
	password string
	http     *http.Client
	agent    string

	// MaxRetries is how often a rate-limited request is tried again
	// (default 4); Backoff is the first wait (default 2s), doubled each
	// time and capped at MaxBackoff (default 1m) and at the interval the
	// service names.
	MaxRetries int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// OnRequest, when set, is told about every request sent (method and
	// path), for tests and debug logs.
	OnRequest func(method, path string)
	// Sleep, when set, waits between retries instead of a timer, so tests
	// see each wait and move a fake clock rather than waiting.
	Sleep func(ctx context.Context, d time.Duration) error

	mu       sync.Mutex
	rejected error // the 401 that poisoned this client
}

// NewClient returns a client for endpoint (DefaultEndpoint when empty).
// It refuses to send credentials over plain HTTP to anything but a
// loopback address (the fake in tests).
func NewClient(endpoint, user, password, version string) (*Client, error) {
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("robot endpoint %q is not an http(s) URL", endpoint)
	}
	if u.User != nil {
		return nil, fmt.Errorf("robot endpoint must not carry credentials; use ROBOT_USER and ROBOT_PASSWORD")
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("robot endpoint %s: credentials are only sent over https (plain http is for a fake on 127.0.0.1)", u.Redacted())
	}
	if user == "" || password == "" {
		return nil, errors.New("robot: no webservice user or password")
	}
	if version == "" {
		version = "dev"
	}
	return &Client{
		endpoint: strings.TrimRight(endpoint, "/"),
		user:     user, password: password,
		http:       &http.Client{Timeout: 2 * time.Minute},
		agent:      "omc/" + version,
		MaxRetries: 4,
		Backoff:    2 * time.Second,
		MaxBackoff: time.Minute,
	}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Error is an error answer of the webservice.
type Error struct {
	Method, Path string
	Status       int
	Code         string
	Message      string
	Missing      []string
	Invalid      []string
	// MaxRequest and Interval come with RATE_LIMIT_EXCEEDED.
	MaxRequest int
	Interval   int
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("robot %s %s: %d %s", e.Method, e.Path, e.Status, e.Code)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if len(e.Missing) > 0 {
		msg += " (missing: " + strings.Join(e.Missing, ", ") + ")"
	}
	if len(e.Invalid) > 0 {
		msg += " (invalid: " + strings.Join(e.Invalid, ", ") + ")"
	}
	return msg
}

// IsCode reports whether err is a webservice error with one of codes.
func IsCode(err error, codes ...string) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if e.Code == c {
			return true
		}
	}
	return false
}

// ErrUnauthorized is wrapped by the error of a request the webservice
// answered with 401.
var ErrUnauthorized = errors.New("the Robot webservice rejected the user or password (401)")

// AuthError is a 401: never retried.
type AuthError struct{ Method, Path string }

func (e *AuthError) Error() string {
	return fmt.Sprintf("robot %s %s: %v. omc does not retry: after 3 failed logins Hetzner blocks this IP for 10 minutes. "+
		"Check ROBOT_USER/ROBOT_PASSWORD or the group's robot_user/robot_password (the webservice user from Robot → Settings → Web service and app settings)",
		e.Method, e.Path, ErrUnauthorized)
}
func (e *AuthError) Unwrap() error { return ErrUnauthorized }

type errorBody struct {
	Error struct {
		Status     int             `json:"status"`
		Code       string          `json:"code"`
		Message    string          `json:"message"`
		Missing    []string        `json:"missing"`
		Invalid    []string        `json:"invalid"`
		MaxRequest int             `json:"max_request"`
		Interval   json.RawMessage `json:"interval"`
	} `json:"error"`
}

// Do sends one request: form (may be nil) as the body of POST/PUT/DELETE
// or the query of GET, and decodes a JSON answer into out (may be nil).
func (c *Client) Do(ctx context.Context, method, path string, form url.Values, out any) error {
	c.mu.Lock()
	rejected := c.rejected
	c.mu.Unlock()
	if rejected != nil {
		return rejected
	}
	wait := c.Backoff
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, method, path, form, out)
		var e *Error
		if !errors.As(err, &e) || e.Code != "RATE_LIMIT_EXCEEDED" || attempt >= c.MaxRetries {
			if e != nil && e.Code == "RATE_LIMIT_EXCEEDED" {
				return fmt.Errorf("%w (still refused after %d retries; the limit is %d requests per %ds: wait and run again)", err, attempt, e.MaxRequest, e.Interval)
			}
			return err
		}
		d := wait
		// The interval is the server's number: capped at a day before it
		// is multiplied, so a huge one cannot overflow into a negative wait.
		if iv := time.Duration(min(e.Interval, 86400)) * time.Second; e.Interval > 0 && iv < d {
			d = iv
		}
		if c.MaxBackoff > 0 && d > c.MaxBackoff {
			d = c.MaxBackoff
		}
		if err := c.sleep(ctx, d); err != nil {
			return err
		}
		wait *= 2
	}
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Client) once(ctx context.Context, method, path string, form url.Values, out any) error {
	u := c.endpoint + path
	var body io.Reader
	if method == http.MethodGet && len(form) > 0 {
		u += "?" + form.Encode()
	} else if len(form) > 0 {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("robot %s %s: %v", method, path, err)
	}
	req.SetBasicAuth(c.user, c.password)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.OnRequest != nil {
		c.OnRequest(method, path)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The url.Error names the URL, which never holds credentials.
		return fmt.Errorf("robot %s %s: %v", method, path, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("robot %s %s: reading the answer: %v", method, path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		e := &AuthError{Method: method, Path: path}
		c.mu.Lock()
		c.rejected = e
		c.mu.Unlock()
		return e
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Method: method, Path: path, Status: resp.StatusCode}
		var eb errorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			e.Code, e.Message = eb.Error.Code, eb.Error.Message
			e.Missing, e.Invalid, e.MaxRequest = eb.Error.Missing, eb.Error.Invalid, eb.Error.MaxRequest
			e.Interval = intOf(eb.Error.Interval)
		} else {
			e.Code = http.StatusText(resp.StatusCode)
			if resp.StatusCode == http.StatusServiceUnavailable {
				e.Message = "the webservice is unavailable (maintenance?)"
			}
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("robot %s %s: unexpected answer: %v", method, path, err)
	}
	return nil
}

// intOf reads a JSON number or numeric string.
func intOf(raw json.RawMessage) int {
	s := strings.Trim(string(raw), `"`)
	n, _ := strconv.Atoi(s)
	return n
}
