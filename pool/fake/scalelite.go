package fake

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/bbbapi"
)

// Scalelite is a FAKE of Scalelite's JSON management API
// (/scalelite/api/*) with its poller, and of its rake tasks (rake.go).
//
// It models Scalelite 1.6.0 to 1.8.5's API (v1.8.5's controllers, which
// have not changed since 1.6.12), checked against
// testdata/upstream/scalelite by pool/scalelite's contract tests:
// checksums of SHA1, SHA256 or SHA512 by length, limited to
// SetChecksumAlgorithms (LOADBALANCER_CHECKSUM_ALGORITHM; never SHA384);
// errors as Nokogiri XML with HTTP 200 (checksumError, unsupportedContent-
// Type, internalError for a missing server or tenant object) except
// updateServer's own JSON 400; Rails' wrapping of a JSON body without the
// object's key; 404 for an empty pool; new servers disabled; duplicate URLs
// and duplicate tenant names accepted; load a number, hidden for a
// disabled server; load_multiplier a string ("1.5"); tenants rendered with
// Rails' model fields; multitenancy on only for MULTITENANCY_ENABLED=true.
// The rake tasks copy each version from 1.5.0 (SetRakeVersion).
//
// Left out: the 1.5.x API's missing tag and bbb_version (fixture only),
// recordings' management, LRS settings, meetings Scalelite tracks (panic
// ends every meeting the node lists, not only Scalelite's), BBB's own API
// beyond getRecordings (bbbapi.go), and Redis itself.
type Scalelite struct {
	Server *httptest.Server
	// URL is the base URL to give a client.
	URL string
	// Now is the poller's clock (default time.Now).
	Now func() time.Time
	// Scalelite's poller settings (defaults as Scalelite's).
	HealthyThreshold   int           // SERVER_HEALTHY_THRESHOLD, 1
	UnhealthyThreshold int           // SERVER_UNHEALTHY_THRESHOLD, 2
	LoadMinUserCount   int           // LOAD_MIN_USER_COUNT, 15
	LoadJoinBuffer     time.Duration // LOAD_JOIN_BUFFER_TIME, 15 min

	mu           sync.Mutex
	secrets      []string
	multitenancy bool
	servers      []*server
	tenants      []*tenant
	writes       int
	calls        map[string]int
	failNext     map[string]int // action → HTTP status to answer once
	down         bool
	// recordings its importer holds (bbbapi.go), by record ID
	recordings map[string]*Recording
	// its Meeting table (slmeetings.go), by meeting ID
	meetings map[string]slMeeting
	// the FAKE rake tasks (rake.go)
	rakeContainer string
	rakeCalls     [][]string
	rakeVersion   string
	// noTags: the API of 1.5.1 to 1.5.3, which has no server tags
	noTags bool
	// MULTITENANCY_ENABLED as the container's environment holds it
	mtEnv    string
	mtEnvSet bool
	// LOADBALANCER_CHECKSUM_ALGORITHM, split at ':'
	algorithms []string
}

// DefaultScaleliteVersion is the Scalelite version the fake copies unless
// told otherwise (SetRakeVersion).
const DefaultScaleliteVersion = "1.8.5"

type server struct {
	id, url, secret, tag, version, state string
	load                                 *float64
	multiplier                           float64
	online                               bool
	healthy, unhealthy                   int
}

type tenant struct {
	id, name, secrets string
}

// NewScalelite starts a fake Scalelite on 127.0.0.1 with the given
// load-balancer secret, stopped when the test ends.
func NewScalelite(t testing.TB, secret string) *Scalelite {
	s := NewScaleliteHandler(secret)
	s.Server = httptest.NewServer(s)
	s.URL = s.Server.URL
	t.Cleanup(s.Server.Close)
	return s
}

// NewScaleliteHandler is a fake Scalelite without a server of its own,
// for a stand-in that serves it on its own listener (the E2E's stand-in
// Scalelite image).
func NewScaleliteHandler(secret string) *Scalelite {
	return &Scalelite{Now: time.Now, HealthyThreshold: 1, UnhealthyThreshold: 2, LoadMinUserCount: 15, LoadJoinBuffer: 15 * time.Minute,
		secrets: []string{secret}, calls: map[string]int{}, failNext: map[string]int{},
		algorithms: []string{"SHA1", "SHA256", "SHA512"}}
}

// ServeHTTP answers as Scalelite's API.
func (s *Scalelite) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r) }

// SetMultitenancy sets MULTITENANCY_ENABLED=true, or leaves it unset
// (default); SetMultitenancyEnv sets any value.
func (s *Scalelite) SetMultitenancy(on bool) {
	if on {
		s.SetMultitenancyEnv("true", true)
	} else {
		s.SetMultitenancyEnv("", false)
	}
}

// SetChecksumAlgorithms sets LOADBALANCER_CHECKSUM_ALGORITHM, the
// algorithms signed calls may use, as Scalelite spells them (SHA1,
// SHA256, SHA512; default all three). Scalelite tells them apart by the
// checksum's length; a name it does not know (SHA384, sha256) matches
// nothing.
func (s *Scalelite) SetChecksumAlgorithms(names ...string) {
	s.mu.Lock()
	s.algorithms = append([]string(nil), names...)
	s.mu.Unlock()
}

// SetNoTags makes the API answer as Scalelite 1.5.1 to 1.5.3's: servers
// carry no tag (nor bbb_version) and a tag sent is dropped without an
// error (their server_create_params permit none).
func (s *Scalelite) SetNoTags(on bool) {
	s.mu.Lock()
	s.noTags = on
	s.mu.Unlock()
}

// serverJSON is a server as the API shows it (caller holds s.mu).
func (s *Scalelite) serverJSON(sv *server) map[string]any {
	m := sv.json()
	if s.noTags {
		delete(m, "tag")
		delete(m, "bbb_version")
	}
	return m
}

// Writes counts the API calls that changed something.
func (s *Scalelite) Writes() int { s.mu.Lock(); defer s.mu.Unlock(); return s.writes }

// Calls counts the calls to one action, whatever their outcome.
func (s *Scalelite) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

// FailNext makes the next call to action answer with this HTTP status.
func (s *Scalelite) FailNext(action string, status int) {
	s.mu.Lock()
	s.failNext[action] = status
	s.mu.Unlock()
}

// Servers returns the pool as the API would show it.
func (s *Scalelite) Servers() []pool.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]pool.Server, len(s.servers))
	for i, sv := range s.servers {
		out[i] = pool.Server{ID: sv.id, URL: sv.url, Secret: sv.secret, Tag: sv.tag, BBBVersion: sv.version, State: sv.state,
			LoadMultiplier: sv.multiplier, Online: sv.online}
		if sv.load != nil {
			out[i].Load, out[i].LoadKnown = *sv.load, true
		}
	}
	return out
}

// ServerByURL returns the (first) server registered under url.
func (s *Scalelite) ServerByURL(url string) (pool.Server, bool) {
	l := pool.FindByURL(s.Servers(), url)
	if len(l) == 0 {
		return pool.Server{}, false
	}
	return l[0], true
}

// AddServerDirect registers a server as an admin would with rake,
// bypassing the API (not counted as an API write).
func (s *Scalelite) AddServerDirect(url, secret, state string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := &server{id: uuid(), url: url, secret: secret, state: state, multiplier: 1}
	s.servers = append(s.servers, sv)
	return sv.id
}

// Tenants returns the tenants, secrets included.
func (s *Scalelite) Tenants() []pool.Tenant {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []pool.Tenant
	for _, t := range s.tenants {
		out = append(out, pool.Tenant{ID: t.id, Name: t.name, Secrets: strings.Split(t.secrets, ":")})
	}
	return out
}

func uuid() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Poll runs one round of Scalelite's poller (poll:servers with the
// versions): every server, whatever its state, is asked getMeetings with
// its secret. Success counts towards online and sets the load;
// failures take an online server offline after UnhealthyThreshold in a
// row, ending its meetings. A cordoned server whose load is 0 becomes
// disabled.
func (s *Scalelite) Poll(ctx context.Context) {
	s.mu.Lock()
	type job struct {
		sv          *server
		url, secret string
	}
	var jobs []job
	for _, sv := range s.servers {
		jobs = append(jobs, job{sv, sv.url, sv.secret})
	}
	now := s.Now()
	s.mu.Unlock()

	hc := &http.Client{Timeout: 5 * time.Second}
	for _, j := range jobs {
		c := &bbbapi.Client{URL: j.url, Secret: j.secret, HTTP: hc}
		meetings, err := c.Meetings(ctx)
		var version string
		if err == nil {
			if v, verr := c.Root(ctx); verr == nil {
				version = v.BBBVersion
			}
		}
		s.mu.Lock()
		sv := j.sv
		if err != nil {
			sv.healthy = 0
			if sv.online {
				sv.unhealthy++
				if sv.unhealthy >= s.UnhealthyThreshold {
					// Scalelite panics the server (keeping its state) and
					// takes it offline.
					s.mu.Unlock()
					s.endTracked(ctx, c, sv.id)
					s.mu.Lock()
					sv.healthy, sv.unhealthy = 0, 0
					sv.load = nil
					sv.online = false
				}
			}
			s.mu.Unlock()
			continue
		}
		sv.unhealthy = 0
		load := 0.0
		for _, m := range meetings {
			if m.IsBreakout {
				continue
			}
			// poll.rake adds moderatorCount to participantCount,
			// counting moderators twice.
			users := m.ParticipantCount + m.ModeratorCount
			if time.UnixMilli(m.CreateTime).After(now.Add(-s.LoadJoinBuffer)) {
				users = max(users, s.LoadMinUserCount)
			}
			load += float64(users)
		}
		load *= sv.multiplier
		if !sv.online {
			sv.healthy++
			if sv.healthy >= s.HealthyThreshold {
				sv.healthy, sv.unhealthy = 0, 0
				sv.online = true
				sv.load = &load
			}
		} else {
			sv.load = &load
		}
		if version != "" {
			sv.version = version
		}
		if sv.state == pool.Cordoned && sv.online && load == 0 {
			sv.state = pool.Disabled
		}
		s.mu.Unlock()
	}
}

// StartPoller polls every interval until the returned stop is called (or
// the test ends).
func (s *Scalelite) StartPoller(t testing.TB, every time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			s.Poll(ctx)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// HTTP side.

func (s *Scalelite) xmlError(w http.ResponseWriter, key, msg string) {
	// Scalelite's ApplicationController renders BBB errors as XML (a
	// Nokogiri builder's document), with HTTP 200.
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	fmt.Fprintf(w, "<?xml version=\"1.0\"?>\n<response>\n  <returncode>FAILED</returncode>\n  <messageKey>%s</messageKey>\n  <message>%s</message>\n</response>\n", key, msg)
}

// managementChecksumOK is api_helper.rb's verify_checksum for the
// management API: the algorithm by the checksum's length (40 SHA1, 64
// SHA256, 128 SHA512; no SHA384), refused unless listed in algorithms,
// over the lowerCamel action and the query string with the checksum cut
// out, against each load-balancer secret.
func managementChecksumOK(action, rawQuery string, secrets, algorithms []string) bool {
	sum := ""
	for _, p := range strings.Split(rawQuery, "&") {
		if v, ok := strings.CutPrefix(p, "checksum="); ok {
			sum = v
		}
	}
	var algo string
	switch len(sum) {
	case 40:
		algo = "SHA1"
	case 64:
		algo = "SHA256"
	case 128:
		algo = "SHA512"
	default:
		return false
	}
	if !slices.Contains(algorithms, algo) {
		return false
	}
	q := rawQuery
	for _, cut := range []string{"&checksum=" + sum, "checksum=" + sum + "&", "checksum=" + sum} {
		if strings.Contains(q, cut) {
			q = strings.Replace(q, cut, "", 1)
			break
		}
	}
	for _, sec := range secrets {
		if bbbapi.Checksum(strings.ToLower(algo), action, q, sec) == sum {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (sv *server) json() map[string]any {
	var load any = "unavailable"
	if v, ok := sv.shownLoad(); ok {
		load = v
	}
	online := "offline"
	if sv.online {
		online = "online"
	}
	return map[string]any{"id": sv.id, "url": sv.url, "secret": sv.secret, "tag": sv.tag, "bbb_version": sv.version,
		"state": sv.state, "load": load,
		// Rails renders the BigDecimal multiplier as a string, in
		// ActiveSupport's "F" format (1.5, 2.0).
		"load_multiplier": rubyFloat(sv.multiplier), "online": online}
}

// shownLoad is the load Scalelite shows: none for a disabled server
// (Server.all leaves it out; its save! drops the load of one).
func (sv *server) shownLoad() (float64, bool) {
	if sv.load == nil || sv.state == pool.Disabled {
		return 0, false
	}
	return *sv.load, true
}

// SetBBBVersion sets a server's bbb_version as if the poller had read it.
func (s *Scalelite) SetBBBVersion(id, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sv := s.find(id); sv != nil {
		sv.version = version
	}
}

// tenantJSON is a tenant as Rails renders the model (Object#as_json of
// its instance variables; ActiveModel::Dirty leaves out its trackers).
func (t *tenant) json() map[string]any {
	return map[string]any{"id": t.id, "name": t.name, "secrets": t.secrets, "new_record": false, "destroyed": false}
}

func (s *Scalelite) find(id string) *server {
	for _, sv := range s.servers {
		if sv.id == id {
			return sv
		}
	}
	return nil
}

var routes = map[string]string{
	"getServers": http.MethodGet, "getServerInfo": http.MethodGet, "addServer": http.MethodPost, "updateServer": http.MethodPost,
	"deleteServer": http.MethodPost, "panicServer": http.MethodPost,
	"getTenants": http.MethodGet, "getTenantInfo": http.MethodGet, "addTenant": http.MethodPost, "updateTenant": http.MethodPost,
	"deleteTenant": http.MethodPost,
}

func (s *Scalelite) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_fake/rake" {
		s.serveRake(w, r)
		return
	}
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/bigbluebutton/api") {
		s.serveBBB(w, r)
		return
	}
	action, ok := strings.CutPrefix(r.URL.Path, "/scalelite/api/")
	method, known := routes[action]
	if !ok || !known || r.Method != method {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.calls[action]++
	fail := s.failNext[action]
	delete(s.failNext, action)
	secrets := append([]string(nil), s.secrets...)
	algorithms := append([]string(nil), s.algorithms...)
	s.mu.Unlock()
	if fail != 0 {
		writeJSON(w, fail, map[string]string{"error": "injected failure"})
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if r.Method == http.MethodPost && len(body) > 0 {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			s.xmlError(w, "unsupportedContentType", "POST request Content-Type is missing or unsupported")
			return
		}
	}
	if !managementChecksumOK(action, r.URL.RawQuery, secrets, algorithms) {
		s.xmlError(w, "checksumError", "You did not pass the checksum security check")
		return
	}
	var in map[string]json.RawMessage
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad JSON"})
			return
		}
	}
	str := func(m map[string]json.RawMessage, k string) (string, bool) {
		raw, ok := m[k]
		if !ok {
			return "", false
		}
		var v any
		json.Unmarshal(raw, &v)
		switch x := v.(type) {
		case string:
			return x, true
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), true
		case bool:
			return strconv.FormatBool(x), true
		}
		return "", true
	}
	// sub is params.require(k): Rails' ParamsWrapper (on for JSON in
	// Scalelite's config/initializers/wrap_parameters.rb) first wraps the
	// whole body under k when the body has no k; a k that is then empty
	// or not an object raises ParameterMissing, which updateServer's own
	// rescue answers as JSON 400 and ApplicationController's rescue_from
	// as an XML internalError (HTTP 200).
	sub := func(k string) (map[string]json.RawMessage, bool) {
		var m map[string]json.RawMessage
		if raw, ok := in[k]; ok {
			json.Unmarshal(raw, &m)
		} else {
			m = in
		}
		if len(m) == 0 {
			msg := "param is missing or the value is empty: " + k
			if action == "updateServer" {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg})
			} else {
				s.xmlError(w, "internalError", msg)
			}
			return nil, false
		}
		return m, true
	}
	// Rails' params hold the query's and the body's parameters.
	id, _ := str(in, "id")
	if id == "" {
		id = r.URL.Query().Get("id")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.Contains(action, "Tenant") && !s.multitenancy {
		writeJSON(w, http.StatusPreconditionFailed, map[string]string{"message": "Multitenancy is disabled"})
		return
	}
	switch action {
	case "getServers":
		if len(s.servers) == 0 {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "No servers are configured"})
			return
		}
		var l []map[string]any
		for _, sv := range s.servers {
			l = append(l, s.serverJSON(sv))
		}
		writeJSON(w, http.StatusOK, l)
	case "getServerInfo", "updateServer", "deleteServer", "panicServer":
		sv := s.find(id)
		if sv == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "Couldn't find server with id=" + id})
			return
		}
		switch action {
		case "getServerInfo":
			writeJSON(w, http.StatusOK, s.serverJSON(sv))
		case "updateServer":
			p, ok := sub("server")
			if !ok {
				return
			}
			next := *sv
			if st, ok := str(p, "state"); ok {
				switch st {
				case "enable":
					next.state = pool.Enabled
				case "cordon":
					next.state = pool.Cordoned
				case "disable":
					next.state = pool.Disabled
				default:
					writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Invalid state parameter: " + st})
					return
				}
			}
			if lm, ok := str(p, "load_multiplier"); ok {
				f, err := strconv.ParseFloat(lm, 64)
				if err != nil || f == 0 {
					writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Load-multiplier must be a non-zero number"})
					return
				}
				next.multiplier = f
			}
			if sec, ok := str(p, "secret"); ok {
				next.secret = sec
			}
			if tag, ok := str(p, "tag"); ok && !s.noTags {
				next.tag = tag
			}
			*sv = next
			s.writes++
			writeJSON(w, http.StatusOK, s.serverJSON(sv))
		case "deleteServer":
			for i, x := range s.servers {
				if x == sv {
					s.servers = append(s.servers[:i], s.servers[i+1:]...)
					break
				}
			}
			s.writes++
			writeJSON(w, http.StatusOK, map[string]string{"success": "Server id=" + id + " was destroyed"})
		case "panicServer":
			// The code reads keep_state at the top level; the docs' place
			// (server.keep_state) is ignored, as by Scalelite.
			keep, _ := str(in, "keep_state")
			c := &bbbapi.Client{URL: sv.url, Secret: sv.secret, HTTP: &http.Client{Timeout: 5 * time.Second}}
			s.mu.Unlock()
			// Only the meetings of Scalelite's Meeting table.
			s.endTracked(r.Context(), c, sv.id)
			s.mu.Lock()
			if keep != "true" {
				sv.state = pool.Disabled
			}
			s.writes++
			writeJSON(w, http.StatusOK, map[string]string{"success": "Server id=" + id + " has been disabled and the meetings have been destroyed"})
		}
	case "addServer":
		p, ok := sub("server")
		if !ok {
			return
		}
		u, _ := str(p, "url")
		sec, _ := str(p, "secret")
		if u == "" || sec == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Server needs a URL and a secret"})
			return
		}
		lm := 1.0
		if x, ok := str(p, "load_multiplier"); ok {
			if f, err := strconv.ParseFloat(x, 64); err == nil && f != 0 {
				lm = f
			}
		}
		tag, _ := str(p, "tag")
		if s.noTags {
			tag = "" // 1.5.x permits no tag: Rails drops it
		}
		// No check for an existing URL: Scalelite adds a duplicate.
		sv := &server{id: uuid(), url: u, secret: sec, tag: tag, state: pool.Disabled, multiplier: lm}
		s.servers = append(s.servers, sv)
		s.writes++
		writeJSON(w, http.StatusCreated, s.serverJSON(sv))
	case "getTenants":
		if len(s.tenants) == 0 {
			writeJSON(w, http.StatusOK, map[string]string{"message": "No tenants exist"})
			return
		}
		var l []map[string]string
		for _, t := range s.tenants {
			l = append(l, map[string]string{"id": t.id, "name": t.name, "secrets": t.secrets})
		}
		writeJSON(w, http.StatusOK, l)
	case "getTenantInfo", "updateTenant", "deleteTenant":
		var t *tenant
		ti := -1
		for i, x := range s.tenants {
			if x.id == id {
				t, ti = x, i
			}
		}
		if t == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "Couldn't find Tenant with id=" + id})
			return
		}
		switch action {
		case "getTenantInfo":
			writeJSON(w, http.StatusOK, map[string]string{"id": t.id, "name": t.name, "secrets": t.secrets})
		case "updateTenant":
			p, ok := sub("tenant")
			if !ok {
				return
			}
			if v, _ := str(p, "name"); v != "" {
				t.name = v
			}
			if v, _ := str(p, "secrets"); v != "" {
				t.secrets = v
			}
			s.writes++
			writeJSON(w, http.StatusOK, map[string]any{"tenant": t.json()})
		case "deleteTenant":
			s.tenants = append(s.tenants[:ti], s.tenants[ti+1:]...)
			s.writes++
			writeJSON(w, http.StatusOK, map[string]string{"success": "Tenant id=" + id + " was destroyed"})
		}
	case "addTenant":
		p, ok := sub("tenant")
		if !ok {
			return
		}
		name, _ := str(p, "name")
		sec, _ := str(p, "secrets")
		if name == "" || sec == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Error: both name and secrets are required to create a Tenant"})
			return
		}
		// Tenant.create checks nothing about the name: a second tenant of
		// the same name is made, and the name index points at it.
		t := &tenant{id: uuid(), name: name, secrets: sec}
		s.tenants = append(s.tenants, t)
		s.writes++
		writeJSON(w, http.StatusCreated, map[string]any{"tenant": t.json()})
	}
}
