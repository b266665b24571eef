package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/pool"
)

// hostileModes are what the hostile proxy may do instead of forwarding.
var hostileModes = []string{"null", "{}", "[]", "garbage echoing the query", "SUCCESS XML", "HTML 502 echoing the URL",
	"slow", "drop before forwarding", "drop after forwarding", "truncated answer"}

// hostile is a TCP-level proxy in front of a fake Scalelite or BBB. A
// request marked by omc's soak client (X-Omc-Soak) gets, with probability
// p, one of hostileModes; others (the fake poller's) pass.
type hostile struct {
	backend string
	mu      sync.Mutex
	on      bool
	p       float64
	r       *rand.Rand
	served  []string // faults served since the last take
}

func (h *hostile) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.served
	h.served = nil
	return f
}

func (h *hostile) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	mode := "pass"
	if req.Header.Get("X-Omc-Soak") != "" {
		h.mu.Lock()
		if h.on && h.r.Float64() < h.p {
			mode = hostileModes[h.r.IntN(len(hostileModes))]
			h.served = append(h.served, mode+" to "+req.URL.Path)
		}
		h.mu.Unlock()
	}
	drop := func() {
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
		}
	}
	forward := func() (int, http.Header, []byte) {
		body, _ := io.ReadAll(req.Body)
		out, _ := http.NewRequest(req.Method, h.backend+req.URL.RequestURI(), bytes.NewReader(body))
		out.Header = req.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			return 502, http.Header{}, []byte(err.Error())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	answer := func(ct, body string, status int) {
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
	switch mode {
	case "null", "{}", "[]":
		answer("application/json", mode, 200)
	case "garbage echoing the query":
		answer("application/json", "\x00\xffgarbage "+req.URL.RawQuery, 200)
	case "SUCCESS XML":
		answer("text/xml", "<response><returncode>SUCCESS</returncode><version>2.0</version></response>", 200)
	case "HTML 502 echoing the URL":
		answer("text/html", "<html>Bad gateway for "+req.URL.String()+"</html>", 502)
	case "drop before forwarding":
		drop()
	case "drop after forwarding":
		forward()
		drop()
	default:
		if mode == "slow" {
			h.mu.Lock()
			d := time.Duration(h.r.Int64N(int64(1500 * time.Millisecond)))
			h.mu.Unlock()
			time.Sleep(d)
		}
		status, hdr, b := forward()
		for k, v := range hdr {
			w.Header()[k] = v
		}
		if mode == "truncated answer" {
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.WriteHeader(status)
			w.Write(b[:len(b)/2])
			w.(http.Flusher).Flush()
			drop()
			return
		}
		w.WriteHeader(status)
		w.Write(b)
	}
}

// soakClient marks omc's requests, so only they meet the faults.
type soakClient struct{}

func (soakClient) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Omc-Soak", "1")
	return http.DefaultTransport.RoundTrip(r)
}

var checksumLeak = regexp.MustCompile(`(?i)checksum=[0-9a-f]|\b[0-9a-f]{40}\b|\b[0-9a-f]{64}\b|\b[0-9a-f]{128}\b`)

// TestSoakHostilePool: status, drain, enable, remove, tenant add and
// tenant list against a Scalelite and BBB behind a proxy that answers
// null, {}, [], garbage, a SUCCESS XML or an HTML error echoing the
// signed URL, answers slowly, drops the connection before or after the
// call took effect, or cuts the answer short. A command that exits 0 must
// have done what it says (checked in the fakes' state); no command prints
// or logs a secret or a checksum.
func TestSoakHostilePool(t *testing.T) {
	s := startSoak(t, 5)
	r := newPoolRig(t, staticNodes)
	hs := &hostile{backend: r.sl.URL, p: 0.25, r: rand.New(rand.NewPCG(s.Seed, 51))}
	hb := &hostile{backend: r.bbb.Server.URL, p: 0.25, r: rand.New(rand.NewPCG(s.Seed, 52))}
	ps, pb := httptest.NewServer(hs), httptest.NewServer(hb)
	t.Cleanup(ps.Close)
	t.Cleanup(pb.Close)
	src, err := os.ReadFile(r.inv)
	if err != nil {
		t.Fatal(err)
	}
	src = bytes.ReplaceAll(bytes.ReplaceAll(src, []byte(r.sl.URL), []byte(ps.URL)), []byte(r.bbb.Server.URL), []byte(pb.URL))
	if err := os.WriteFile(r.inv, src, 0o644); err != nil {
		t.Fatal(err)
	}
	r.deps.HTTP = &http.Client{Timeout: 10 * time.Second, Transport: soakClient{}}
	r.threeUp()
	r.sl.SetMultitenancy(true)
	r.sl.StartPoller(t, 5*time.Millisecond)
	nodes := []string{"bbb-1", "bbb-2", "bbb-3"}
	// state is the node's state in Scalelite; when an empty list made
	// omc add it again, each entry's state joined by "+".
	state := func(node string) string {
		var st []string
		for _, sv := range r.sl.Servers() {
			if sv.URL == pb.URL+"/"+node+"/bigbluebutton/api" {
				st = append(st, sv.State)
			}
		}
		if len(st) == 0 {
			return "absent"
		}
		if len(st) > 1 {
			s.saw("a node registered twice")
		}
		return strings.Join(st, "+")
	}
	setFaults := func(on bool) {
		for _, h := range []*hostile{hs, hb} {
			h.mu.Lock()
			h.on = on
			h.mu.Unlock()
		}
	}
	logsSeen := map[string]int{}
	newLogs := func() string {
		var b strings.Builder
		paths, _ := filepath.Glob(filepath.Join(r.dir, "state", "logs", "*.log"))
		for _, p := range paths {
			data, _ := os.ReadFile(p)
			b.Write(data[min(logsSeen[p], len(data)):])
			logsSeen[p] = len(data)
		}
		return b.String()
	}
	commands := []string{"status", "drain", "enable", "enable", "tenant add", "tenant list", "remove"}
	ctx := context.Background()
	for i := 0; i < s.n(30, 600); i++ {
		s.runs++
		cmd, node := commands[s.R.IntN(len(commands))], nodes[s.R.IntN(len(nodes))]
		setFaults(true)
		var out, errs string
		var code int
		var secretFile, tenant string
		switch cmd {
		case "status":
			out, errs, code = r.call(true, func(st *ui.Streams, g *globalOptions) error {
				return runStatus(ctx, st, g, &statusOptions{})
			})
		case "drain":
			out, errs, code = r.call(false, func(st *ui.Streams, g *globalOptions) error {
				return runDrain(ctx, st, g, &drainOptions{Node: node, Timeout: 5 * time.Second})
			})
		case "enable":
			out, errs, code = r.call(false, func(st *ui.Streams, g *globalOptions) error {
				return runEnable(ctx, st, g, &drainOptions{Node: node})
			})
		case "remove":
			out, errs, code = r.call(false, func(st *ui.Streams, g *globalOptions) error {
				return runRemove(ctx, st, g, &drainOptions{Node: node, Timeout: 5 * time.Second})
			})
		case "tenant add":
			tenant = fmt.Sprintf("t%d", i)
			secretFile = filepath.Join(r.dir, tenant+".secret")
			out, errs, code = r.call(false, func(st *ui.Streams, g *globalOptions) error {
				return runTenantAdd(ctx, st, g, &tenantOptions{Name: tenant, SecretFile: secretFile})
			})
		case "tenant list":
			out, errs, code = r.call(false, func(st *ui.Streams, g *globalOptions) error {
				return runTenantList(ctx, st, g, &tenantOptions{})
			})
		}
		setFaults(false)
		faults := append(hs.take(), hb.take()...)
		if len(faults) > 0 {
			s.saw(fmt.Sprintf("%s with faults, exit %d", cmd, code))
		} else {
			s.saw(fmt.Sprintf("%s without faults, exit %d", cmd, code))
		}
		run := fmt.Sprintf("run %d: omc %s %s, faults %v", i, cmd, node, faults)
		text := out + errs + newLogs()
		s.check("no checksum shown or logged", !checksumLeak.MatchString(text), "%s: %q in:\n%s", run, checksumLeak.FindString(text), text)
		says := strings.TrimSpace(errs) != ""
		if cmd == "status" && code == ExitUnhealthy {
			// -o json: the reasons are the unhealthy nodes' problems.
			var doc struct {
				Pools []struct {
					Error string `json:"error"`
					Nodes []struct {
						Healthy  bool     `json:"healthy"`
						Problems []string `json:"problems"`
					} `json:"nodes"`
				} `json:"pools"`
			}
			if json.Unmarshal([]byte(out), &doc) == nil {
				for _, p := range doc.Pools {
					says = says || p.Error != ""
					for _, n := range p.Nodes {
						says = says || (!n.Healthy && len(n.Problems) > 0)
					}
				}
			}
		}
		s.check("a failure says why", code == 0 || says, "%s: exit %d with no reason on stderr or in the JSON\n%s", run, code, out)
		if code != 0 {
			continue
		}
		// An empty list is never Scalelite's answer (an empty pool is a
		// 404, no tenants a message): omc refuses it, so a run that
		// "succeeded" on one is checked like any other below.
		switch cmd {
		case "status":
			// A node out of the pool by an operator's hold is healthy
			// (cmd/status.go); what is shown must be Scalelite's state.
			var doc struct {
				Pools []struct {
					Nodes []struct {
						Node      string `json:"node"`
						PoolState string `json:"pool_state"`
						Held      string `json:"held"`
					} `json:"nodes"`
				} `json:"pools"`
			}
			ok := json.Unmarshal([]byte(out), &doc) == nil && len(doc.Pools) == 1 && len(doc.Pools[0].Nodes) == 3
			if ok {
				for _, n := range doc.Pools[0].Nodes {
					ok = ok && n.PoolState == state(n.Node) && (n.PoolState == pool.Enabled || n.Held != "")
				}
			}
			s.check("status 0 only when true", ok, "%s: exit 0 but the pool is %s/%s/%s:\n%s", run, state("bbb-1"), state("bbb-2"), state("bbb-3"), out)
		case "drain":
			s.check("drain 0 only when drained", state(node) == pool.Disabled, "%s: exit 0 but %s is %s", run, node, state(node))
		case "enable":
			s.check("enable 0 only when enabled", strings.Contains(state(node), pool.Enabled), "%s: exit 0 but %s is %s", run, node, state(node))
		case "remove":
			s.check("remove 0 only when removed", state(node) == "absent", "%s: exit 0 but %s is %s", run, node, state(node))
		case "tenant add":
			b, _ := os.ReadFile(secretFile)
			found := false
			for _, tn := range r.sl.Tenants() {
				found = found || (tn.Name == tenant && len(tn.Secrets) > 0 && tn.Secrets[0] == strings.TrimSpace(string(b)))
			}
			s.check("tenant add 0 only when made", found, "%s: exit 0 but Scalelite has no tenant %s with the secret written", run, tenant)
			s.check("secret only in the file", !strings.Contains(text, strings.TrimSpace(string(b))), "%s: the new secret was shown", run)
		case "tenant list":
			all := true
			for _, tn := range r.sl.Tenants() {
				all = all && strings.Contains(out, tn.Name)
			}
			s.check("tenant list 0 only when complete", all, "%s: exit 0 but not every tenant listed:\n%s", run, out)
		}
		if cmd == "remove" {
			// Back in the pool (disabled) for the next runs, faults off.
			if errs, code := r.up(nodes...); code != 0 {
				t.Fatalf("%s: up after remove: %s", run, errs)
			}
		}
	}
}
