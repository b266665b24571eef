// Package scalelite implements pool.Pool for Scalelite: Client speaks its
// JSON management API (/scalelite/api/*, Scalelite 1.5.1 and later), Rake
// runs its rake tasks in the API container over SSH, for versions without
// the API.
//
// The API's rules, from Scalelite's source (docs/api-README.md,
// app/controllers/api/*, concerns/api_helper.rb):
//
//   - Every call carries checksum = hex(SHA(actionName + queryString +
//     LOADBALANCER_SECRET)) in its query string, POST included; the JSON
//     body is not covered. actionName is the lowerCamel Rails action
//     (getServers, addServer, ...). SHA is SHA1, SHA256 or SHA512, told
//     apart by length and accepted only when LOADBALANCER_CHECKSUM_ALGORITHM
//     lists it (default all three); omc uses SHA256 unless told.
//   - The query, checksum included, is the same for every call of an
//     action, so a checksum seen once replays forever: errors name the
//     action and host, never the URL, query or checksum.
//   - Checksum, content-type and missing-parameter errors come back as
//     BBB-style XML with HTTP 200, so the answer's type is checked, not
//     only its status.
//   - getServers answers 404 {"error":"No servers are configured"} for an
//     empty pool: that is an empty list.
//   - panicServer reads keep_state at the top level of the body, although
//     the docs show it under "server".
//   - The API returns each server's BBB secret in clear text.
package scalelite

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/bbbapi"
)

// Client is Scalelite's JSON API.
type Client struct {
	// URL is Scalelite's base URL (https://scalelite.example.org); a URL
	// that already ends in /scalelite/api is used as is.
	URL string
	// Secret is the load-balancer secret (LOADBALANCER_SECRET).
	Secret string
	// Algorithm signs the calls: bbbapi.SHA1, SHA256 (default) or SHA512,
	// one Scalelite's LOADBALANCER_CHECKSUM_ALGORITHM lists.
	Algorithm string
	// HTTP is the client used (default: a 30 s timeout).
	HTTP *http.Client
}

// Algorithms Scalelite accepts for its management API (api_helper.rb:
// by the checksum's length; SHA384 is not among them).
var Algorithms = []string{bbbapi.SHA1, bbbapi.SHA256, bbbapi.SHA512}

func (c *Client) algorithm() string {
	if c.Algorithm == "" {
		return bbbapi.SHA256
	}
	return c.Algorithm
}

// host is Scalelite's host, what errors name.
func (c *Client) host() string {
	if u, err := url.Parse(c.URL); err == nil && u.Host != "" {
		return u.Host
	}
	return "(no host)"
}

var _ pool.Pool = (*Client)(nil)

var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

// APIError is a refusal by Scalelite: a JSON error with a status, or the
// XML error it sends with HTTP 200.
type APIError struct {
	Action    string
	Host      string // Scalelite's host
	Algorithm string // what the call was signed with
	Status    int    // HTTP status
	Key       string // messageKey of an XML error, e.g. checksumError
	Msg       string
}

func (e *APIError) Error() string {
	where := fmt.Sprintf("Scalelite %s at %s", e.Action, e.Host)
	switch {
	case e.Key == "checksumError":
		// Scalelite says the same for a wrong secret and for an algorithm
		// LOADBALANCER_CHECKSUM_ALGORITHM leaves out.
		return fmt.Sprintf("%s: checksum refused: either the load-balancer secret omc uses is not Scalelite's LOADBALANCER_SECRET, "+
			"or Scalelite's LOADBALANCER_CHECKSUM_ALGORITHM does not list %s, the algorithm omc signed with "+
			"(the pool's checksum: setting; Scalelite's default is SHA1:SHA256:SHA512)", where, strings.ToUpper(e.Algorithm))
	case e.Key != "":
		return fmt.Sprintf("%s: %s (%s)", where, e.Msg, e.Key)
	case e.Status == http.StatusForbidden && e.Msg == "(empty)":
		// Rails' host authorization: production.rb sets config.hosts to
		// URL_HOST (".URL_HOST" with multitenancy) and answers any other
		// Host header with an empty 403.
		return fmt.Sprintf("%s: HTTP 403 with an empty body: Scalelite most likely refuses the host name %s because it is not its URL_HOST "+
			"(Rails host authorization; with multitenancy, URL_HOST or a sub-domain of it): use the name Scalelite's URL_HOST names in the pool's url",
			where, hostOnly(e.Host))
	}
	return fmt.Sprintf("%s: HTTP %d: %s", where, e.Status, e.Msg)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// reQuery finds a signed query in text an answer echoes: from its "?"
// (or its first parameter) to the checksum's end.
var reQuery = regexp.MustCompile(`(?i)\??[^\s"'<>?]*checksum=[^\s"'<>]*`)

// scrub keeps the call's query and checksum out of text from the answer
// (a proxy's error page may echo the request).
func scrub(s, sum string) string {
	if sum != "" {
		s = strings.ReplaceAll(s, sum, "***")
	} else {
		// The call's checksum is not known here: mask anything as long
		// as one (SHA1 to SHA512 in hex).
		s = reHexSum.ReplaceAllString(s, "***")
	}
	return reQuery.ReplaceAllString(s, "[query left out]")
}

var reHexSum = regexp.MustCompile(`[0-9a-fA-F]{40,128}`)

func (c *Client) base() string {
	u := strings.TrimRight(c.URL, "/")
	if strings.HasSuffix(u, "/scalelite/api") {
		return u
	}
	return u + "/scalelite/api"
}

// call sends one request. q is the query (without checksum); body, when
// non-nil, is sent as JSON with POST. out receives the JSON answer of a
// 2xx status. The status is returned for callers that read meaning into
// it (404, 412).
func (c *Client) call(ctx context.Context, action string, q url.Values, body any, out any) (int, []byte, error) {
	query := q.Encode()
	algo := c.algorithm()
	if !slices.Contains(Algorithms, algo) {
		return 0, nil, fmt.Errorf("Scalelite %s at %s: omc cannot sign with %q (Scalelite accepts %s)", action, c.host(), algo, strings.Join(Algorithms, ", "))
	}
	sum := bbbapi.Checksum(algo, action, query, c.Secret)
	host := c.host()
	apiErr := func(status int, key, msg string) *APIError {
		return &APIError{Action: action, Host: host, Algorithm: algo, Status: status, Key: scrub(key, sum), Msg: scrub(msg, sum)}
	}
	full := query
	if full != "" {
		full += "&"
	}
	full += "checksum=" + sum
	method := http.MethodGet
	var rd io.Reader
	if body != nil {
		method = http.MethodPost
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base()+"/"+action+"?"+full, rd)
	if err != nil {
		// The error quotes the whole URL: name the base only.
		return 0, nil, fmt.Errorf("Scalelite %s: %q is not a URL omc can call", action, c.URL)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		// *url.Error quotes the URL, query and checksum included: keep
		// only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, &transportError{msg: fmt.Sprintf("Scalelite %s at %s: %s", action, host, scrub(err.Error(), sum)), err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, nil, &transportError{msg: fmt.Sprintf("Scalelite %s at %s: reading the answer: %s", action, host, scrub(err.Error(), sum)), err: err}
	}
	if isXML(resp.Header.Get("Content-Type"), data) {
		// Errors raised before the controller ran (checksum, content
		// type, missing parameter) are BBB-style XML, with HTTP 200.
		var x struct {
			ReturnCode string `xml:"returncode"`
			MessageKey string `xml:"messageKey"`
			Message    string `xml:"message"`
		}
		parsed := xml.Unmarshal(data, &x) == nil && x.ReturnCode != ""
		if parsed && x.ReturnCode != "SUCCESS" && (x.MessageKey != "" || strings.TrimSpace(x.Message) != "") {
			return resp.StatusCode, data, apiErr(resp.StatusCode, x.MessageKey, strings.TrimSpace(x.Message))
		}
		if parsed {
			// A BBB-style answer (a proxy to a BBB node, the wrong path):
			// say what came back instead of an empty error.
			return resp.StatusCode, data, apiErr(resp.StatusCode, "", "an XML answer with returncode "+x.ReturnCode+" where Scalelite's JSON was expected (is the pool's url Scalelite's?): "+snippet(data))
		}
		return resp.StatusCode, data, apiErr(resp.StatusCode, "", "unexpected XML answer: "+snippet(data))
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, data, apiErr(resp.StatusCode, "", jsonMessage(data))
	}
	if out == nil {
		out = &json.RawMessage{} // success is JSON ({"success": ...}) too
	}
	if err := json.Unmarshal(data, out); err != nil {
		return resp.StatusCode, data, apiErr(resp.StatusCode, "", "not the JSON expected: "+snippet(data))
	}
	return resp.StatusCode, data, nil
}

// transportError is a call that got no answer; it wraps the cause (a
// context's error, a net.Error) without the URL *url.Error would quote.
type transportError struct {
	msg string
	err error
}

func (e *transportError) Error() string { return e.msg }
func (e *transportError) Unwrap() error { return e.err }

func isXML(contentType string, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	if strings.HasSuffix(mt, "/xml") {
		return true
	}
	return bytes.HasPrefix(bytes.TrimSpace(body), []byte("<"))
}

// jsonMessage is the error text of a JSON error answer ({"error": ...} or
// {"message": ...}), or a snippet of the body.
func jsonMessage(b []byte) string {
	var m struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &m) == nil {
		if m.Error != "" {
			return m.Error
		}
		if m.Message != "" {
			return m.Message
		}
	}
	return snippet(b)
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	if s == "" {
		s = "(empty)"
	}
	return s
}

func status(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// wireServer is the server object of the API. load is a number or
// "unavailable"; load_multiplier a number or a decimal string (Rails
// renders BigDecimal as a string).
type wireServer struct {
	ID             string          `json:"id"`
	URL            string          `json:"url"`
	Secret         string          `json:"secret"`
	Tag            *string         `json:"tag"` // absent before 1.6.0
	BBBVersion     string          `json:"bbb_version"`
	State          string          `json:"state"`
	Load           json.RawMessage `json:"load"`
	LoadMultiplier json.RawMessage `json:"load_multiplier"`
	Online         json.RawMessage `json:"online"`
}

func (w wireServer) server() pool.Server {
	s := pool.Server{ID: w.ID, URL: w.URL, Secret: w.Secret, BBBVersion: w.BBBVersion, State: w.State, LoadMultiplier: 1, NoTags: w.Tag == nil}
	if w.Tag != nil {
		s.Tag = *w.Tag
	}
	if f, ok := number(w.Load); ok {
		s.Load, s.LoadKnown = f, true
	}
	if f, ok := number(w.LoadMultiplier); ok && f > 0 {
		s.LoadMultiplier = f
	}
	var on any
	if json.Unmarshal(w.Online, &on) == nil {
		switch v := on.(type) {
		case string:
			s.Online = v == "online" || v == "true"
		case bool:
			s.Online = v
		}
	}
	return s
}

// shapeError is an answer that parsed but is not what the call returns
// (null, an empty object, a list where one object belongs): taking it on
// trust would report success for something Scalelite never did.
func (c *Client) shapeError(action, want string, data []byte) error {
	return &APIError{Action: action, Host: c.host(), Algorithm: c.algorithm(), Status: http.StatusOK,
		Msg: fmt.Sprintf("the answer is not %s: %s", want, scrub(snippet(data), ""))}
}

// checkServer requires what every server object carries.
func (c *Client) checkServer(action string, w wireServer, data []byte) error {
	if w.ID == "" || w.URL == "" || w.State == "" {
		return c.shapeError(action, "a server with id, url and state", data)
	}
	return nil
}

// checkSuccess requires Scalelite's {"success": "…"} of a delete or panic.
func (c *Client) checkSuccess(action string, data []byte) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil || len(m["success"]) == 0 || string(m["success"]) == "null" || string(m["success"]) == "false" {
		return c.shapeError(action, `{"success": …}`, data)
	}
	return nil
}

// number reads a JSON number or a numeric string.
func number(raw json.RawMessage) (float64, bool) {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return 0, false
	}
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// List returns every server; the 404 of an empty pool is an empty list.
func (c *Client) List(ctx context.Context) ([]pool.Server, error) {
	var ws []wireServer
	code, data, err := c.call(ctx, "getServers", nil, nil, &ws)
	if code == http.StatusNotFound && err != nil && strings.Contains(jsonMessage(data), "No servers") {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(ws) == 0 {
		// Scalelite answers an empty pool with 404 "No servers are
		// configured" (servers_controller.rb, 1.5.1 to 1.8.5), never with
		// null or []: believing [] would make omc re-register every node.
		return nil, c.shapeError("getServers", "a list of servers (Scalelite answers an empty pool with 404, never an empty list)", data)
	}
	out := make([]pool.Server, len(ws))
	for i, w := range ws {
		if err := c.checkServer("getServers", w, data); err != nil {
			return nil, err
		}
		out[i] = w.server()
	}
	return out, nil
}

// Get returns one server.
func (c *Client) Get(ctx context.Context, id string) (pool.Server, error) {
	var w wireServer
	_, data, err := c.call(ctx, "getServerInfo", url.Values{"id": {id}}, nil, &w)
	if status(err) == http.StatusNotFound {
		return pool.Server{}, fmt.Errorf("Scalelite server %s: %w", id, pool.ErrNotFound)
	}
	if err != nil {
		return pool.Server{}, err
	}
	if err := c.checkServer("getServerInfo", w, data); err != nil {
		return pool.Server{}, err
	}
	return w.server(), nil
}

// Add registers a server; Scalelite answers 201 with it, disabled.
func (c *Client) Add(ctx context.Context, s pool.ServerSpec) (pool.Server, error) {
	body := map[string]any{"url": s.URL, "secret": s.Secret}
	if s.LoadMultiplier > 0 {
		body["load_multiplier"] = s.LoadMultiplier
	}
	if s.Tag != "" {
		body["tag"] = s.Tag
	}
	var w wireServer
	_, data, err := c.call(ctx, "addServer", nil, map[string]any{"server": body}, &w)
	if err != nil {
		return pool.Server{}, err
	}
	if err := c.checkServer("addServer", w, data); err != nil {
		return pool.Server{}, err
	}
	return w.server(), nil
}

// Update changes state, secret, load multiplier and tag in one call.
func (c *Client) Update(ctx context.Context, id string, u pool.ServerUpdate) (pool.Server, error) {
	body := map[string]any{}
	if u.State != "" {
		body["state"] = u.State
	}
	if u.Secret != nil {
		body["secret"] = *u.Secret
	}
	if u.LoadMultiplier != nil {
		body["load_multiplier"] = *u.LoadMultiplier
	}
	if u.Tag != nil {
		body["tag"] = *u.Tag
	}
	if id == "" {
		return pool.Server{}, fmt.Errorf("Scalelite updateServer at %s: no server id to update", c.host())
	}
	var w wireServer
	_, data, err := c.call(ctx, "updateServer", nil, map[string]any{"id": id, "server": body}, &w)
	if status(err) == http.StatusNotFound {
		return pool.Server{}, fmt.Errorf("Scalelite server %s: %w", id, pool.ErrNotFound)
	}
	if err != nil {
		return pool.Server{}, err
	}
	if err := c.checkServer("updateServer", w, data); err != nil {
		return pool.Server{}, err
	}
	return w.server(), nil
}

// Delete removes a server from the pool.
func (c *Client) Delete(ctx context.Context, id string) error {
	_, data, err := c.call(ctx, "deleteServer", nil, map[string]any{"id": id}, nil)
	if status(err) == http.StatusNotFound {
		return fmt.Errorf("Scalelite server %s: %w", id, pool.ErrNotFound)
	}
	if err != nil {
		return err
	}
	return c.checkSuccess("deleteServer", data)
}

// Panic ends the server's meetings. keep_state goes at the top level,
// where Scalelite's code reads it.
func (c *Client) Panic(ctx context.Context, id string, keepState bool) error {
	body := map[string]any{"id": id}
	if keepState {
		body["keep_state"] = true
	}
	_, data, err := c.call(ctx, "panicServer", nil, body, nil)
	if status(err) == http.StatusNotFound {
		return fmt.Errorf("Scalelite server %s: %w", id, pool.ErrNotFound)
	}
	if err != nil {
		return err
	}
	return c.checkSuccess("panicServer", data)
}

// wireTenant: secrets is a colon-separated string.
type wireTenant struct {
	ID      string          `json:"id"`
	Name    string          `json:"name"`
	Secrets json.RawMessage `json:"secrets"`
}

func (w wireTenant) tenant() pool.Tenant {
	t := pool.Tenant{ID: w.ID, Name: w.Name}
	var s string
	var l []string
	switch {
	case json.Unmarshal(w.Secrets, &s) == nil:
		t.Secrets = splitSecrets(s)
	case json.Unmarshal(w.Secrets, &l) == nil:
		t.Secrets = l
	}
	return t
}

func splitSecrets(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ":") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func tenantErr(err error) error {
	switch status(err) {
	case http.StatusPreconditionFailed:
		return pool.ErrMultitenancyDisabled
	case http.StatusNotFound:
		return fmt.Errorf("Scalelite tenant: %w", pool.ErrNotFound)
	}
	return err
}

// Tenants lists the tenants. Scalelite answers an object, not a list,
// when there are none.
func (c *Client) Tenants(ctx context.Context) ([]pool.Tenant, error) {
	var raw json.RawMessage
	if _, _, err := c.call(ctx, "getTenants", nil, nil, &raw); err != nil {
		return nil, tenantErr(err)
	}
	var none struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &none) == nil && strings.Contains(none.Message, "No tenants") {
		return nil, nil // {"message":"No tenants exist"}
	}
	var ws []wireTenant
	if err := json.Unmarshal(raw, &ws); err != nil || len(ws) == 0 {
		// No tenants is {"message":"No tenants exist"} (tenants_controller.rb),
		// never null or [].
		return nil, c.shapeError("getTenants", "a list of tenants (Scalelite says \"No tenants exist\" when there are none)", raw)
	}
	out := make([]pool.Tenant, len(ws))
	for i, w := range ws {
		if w.ID == "" || w.Name == "" {
			return nil, c.shapeError("getTenants", "a list of tenants with id and name", raw)
		}
		out[i] = w.tenant()
	}
	return out, nil
}

// AddTenant creates a tenant; the answer is {"tenant": {...}}.
func (c *Client) AddTenant(ctx context.Context, name string, secrets []string) (pool.Tenant, error) {
	var out struct {
		Tenant wireTenant `json:"tenant"`
	}
	body := map[string]any{"tenant": map[string]any{"name": name, "secrets": strings.Join(secrets, ":")}}
	_, data, err := c.call(ctx, "addTenant", nil, body, &out)
	if err != nil {
		return pool.Tenant{}, tenantErr(err)
	}
	if out.Tenant.ID == "" {
		return pool.Tenant{}, c.shapeError("addTenant", `{"tenant": {"id": …}}`, data)
	}
	return out.Tenant.tenant(), nil
}

// UpdateTenant changes a tenant's name and/or secrets.
func (c *Client) UpdateTenant(ctx context.Context, id, name string, secrets []string) (pool.Tenant, error) {
	t := map[string]any{}
	if name != "" {
		t["name"] = name
	}
	if secrets != nil {
		t["secrets"] = strings.Join(secrets, ":")
	}
	var out struct {
		Tenant wireTenant `json:"tenant"`
	}
	_, data, err := c.call(ctx, "updateTenant", nil, map[string]any{"id": id, "tenant": t}, &out)
	if err != nil {
		return pool.Tenant{}, tenantErr(err)
	}
	if out.Tenant.ID == "" {
		return pool.Tenant{}, c.shapeError("updateTenant", `{"tenant": {"id": …}}`, data)
	}
	return out.Tenant.tenant(), nil
}

// DeleteTenant removes a tenant.
func (c *Client) DeleteTenant(ctx context.Context, id string) error {
	_, data, err := c.call(ctx, "deleteTenant", nil, map[string]any{"id": id}, nil)
	if err != nil {
		return tenantErr(err)
	}
	return c.checkSuccess("deleteTenant", data)
}

// Starting reports whether err is what a Scalelite that is still starting
// answers with: nginx's 502, 503 or 504 while the API's container boots
// (its first start creates and migrates the database), or a refused or
// reset connection while nginx itself restarts.
func Starting(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusBadGateway || ae.Status == http.StatusServiceUnavailable || ae.Status == http.StatusGatewayTimeout
	}
	var te *transportError
	return errors.As(err, &te) && (errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET))
}
