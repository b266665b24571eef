package pool

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/omc-coop/omc/pool/bbbapi"
)

// Member is a node that belongs in a pool, as the inventory says.
type Member struct {
	Node string
	// URL is the node's BBB API URL, the key servers are matched by.
	URL string
	// Secret is the node's BBB API secret (clear text; never print it).
	Secret         string
	LoadMultiplier float64 // 0 means 1
	Tag            string
	// ExpectVersion is the bbbVersion the gate wants: exact ("3.0.4"),
	// or a release line ("3.0" accepts 3.0.x); "" accepts any.
	ExpectVersion string
	// Algorithm signs its BBB API calls (bbbapi.SHA256 when empty).
	Algorithm string
	// Domain and TURN are for the extra checks (TLS, TURN).
	Domain string
	TURN   string
}

// Multiplier is the member's load multiplier, 1 when unset.
func (m Member) Multiplier() float64 {
	if m.LoadMultiplier <= 0 {
		return 1
	}
	return m.LoadMultiplier
}

// VersionMatches reports whether got satisfies want: equal, or want is a
// release line got belongs to ("3.0" and "3.0.4"). An empty want accepts
// anything.
func VersionMatches(want, got string) bool {
	return want == "" || got == want || strings.HasPrefix(got, want+".")
}

// Check is one extra health check (TLS, TURN): it says what it saw, or
// why the node must not serve.
type Check struct {
	Name string
	Run  func(ctx context.Context, m Member) (CheckResult, error)
}

// CheckResult is what a passing (or failing) check saw.
type CheckResult struct {
	Detail  string
	Expires time.Time // a certificate's expiry, when the check saw one
}

// CheckOutcome is one check's verdict.
type CheckOutcome struct {
	Name    string    `json:"name"`
	OK      bool      `json:"ok"`
	Detail  string    `json:"detail,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// Health is the gate's verdict on one node.
type Health struct {
	Node string
	OK   bool
	// Problems, first one first; empty when OK.
	Problems   []string
	BBBVersion string
	// Answered is set when a signed getMeetings succeeded: Meetings and
	// Users are then known.
	Answered bool
	Meetings int
	Users    int
	Checks   []CheckOutcome
}

// Reason is the first problem, for one-line reports.
func (h Health) Reason() string {
	if len(h.Problems) == 0 {
		return ""
	}
	return h.Problems[0]
}

// Expires is the earliest certificate expiry a check saw (zero if none).
func (h Health) Expires() time.Time {
	var t time.Time
	for _, c := range h.Checks {
		if !c.Expires.IsZero() && (t.IsZero() || c.Expires.Before(t)) {
			t = c.Expires
		}
	}
	return t
}

// Gate is the health gate a node passes before it is enabled: the unsigned
// API root answers, the node runs the expected release (the root's
// bbbVersion, or Version when the root hides it), a signed getMeetings
// succeeds (the node runs with the secret omc registers), and every
// extra check passes.
type Gate struct {
	// HTTP is used for the BBB API (default: 10 s timeout).
	HTTP   *http.Client
	Checks []Check
	// Timeout bounds one node's whole gate (default 30 s).
	Timeout time.Duration
	// Parallel bounds nodes checked at once (default
	// bbbapi.FleetParallel).
	Parallel int
	// VersionParallel bounds Version calls at once (default 10): they
	// log in over SSH, which costs the controller a handshake each.
	VersionParallel int
	// Version reads the node's installed BBB release another way, for
	// when its API root hides bbbVersion (allowRevealOfBBBVersion=false,
	// BBB's default: a node not converged yet, claimed, or another
	// team's). cmd/ reads it over SSH. nil: no other way.
	Version func(ctx context.Context, m Member) (string, error)

	once    sync.Once
	versems chan struct{}
}

// Check runs the gate on one node. Every part runs, so a report shows all
// problems and what the node said.
func (g *Gate) Check(ctx context.Context, m Member) Health {
	h := Health{Node: m.Node}
	timeout := g.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &bbbapi.Client{URL: m.URL, Secret: m.Secret, Algorithm: m.Algorithm, HTTP: g.HTTP}
	v, err := c.Root(ctx)
	if err != nil {
		h.Problems = append(h.Problems, fmt.Sprintf("BBB API root does not answer: %v", err))
	} else {
		got, problem := g.version(ctx, m, v.BBBVersion)
		h.BBBVersion = got
		if problem != "" {
			h.Problems = append(h.Problems, problem)
		}
	}
	ms, err := c.Meetings(ctx)
	switch {
	case bbbapi.IsChecksumError(err):
		h.Problems = append(h.Problems, fmt.Sprintf("signed getMeetings refused (checksumError): the node runs with another secret than the one omc registers, "+
			"or refuses %s checksums (its supportedChecksumAlgorithms; the pool's bbb_checksum: chooses omc's)", cmp.Or(m.Algorithm, bbbapi.SHA256)))
	case err != nil:
		h.Problems = append(h.Problems, fmt.Sprintf("signed getMeetings failed: %v", err))
	default:
		h.Answered = true
		for _, mt := range ms {
			if mt.IsBreakout {
				continue
			}
			h.Meetings++
			h.Users += mt.Users()
		}
	}
	for _, chk := range g.Checks {
		r, err := chk.Run(ctx, m)
		o := CheckOutcome{Name: chk.Name, OK: err == nil, Detail: r.Detail, Expires: r.Expires}
		if err != nil {
			o.Detail = err.Error()
			h.Problems = append(h.Problems, chk.Name+": "+err.Error())
		}
		h.Checks = append(h.Checks, o)
	}
	h.OK = len(h.Problems) == 0
	return h
}

// version is the node's release as the gate judges it: the root's
// bbbVersion, else (hidden) what Version reads; problem says why it does
// not pass.
func (g *Gate) version(ctx context.Context, m Member, revealed string) (got, problem string) {
	got = revealed
	if got == "" && m.ExpectVersion != "" {
		if g.Version == nil {
			return "", fmt.Sprintf("the API root hides bbbVersion (allowRevealOfBBBVersion=false) and omc has no other way to read the installed release (expected %s)", m.ExpectVersion)
		}
		g.once.Do(func() { g.versems = make(chan struct{}, cmp.Or(g.VersionParallel, 10)) })
		select {
		case g.versems <- struct{}{}:
		case <-ctx.Done():
			return "", fmt.Sprintf("reading the installed release: %v", context.Cause(ctx))
		}
		v, err := g.Version(ctx, m)
		<-g.versems
		switch {
		case err != nil:
			return "", fmt.Sprintf("the API root hides bbbVersion (allowRevealOfBBBVersion=false) and reading the installed release failed: %v (expected %s)", err, m.ExpectVersion)
		case strings.TrimSpace(v) == "":
			return "", fmt.Sprintf("the API root hides bbbVersion (allowRevealOfBBBVersion=false) and the node names no installed release (expected %s)", m.ExpectVersion)
		}
		got = strings.TrimSpace(v)
	}
	if !VersionMatches(m.ExpectVersion, got) {
		return got, fmt.Sprintf("bbbVersion is %s, expected %s", got, m.ExpectVersion)
	}
	return got, ""
}

// CheckAll gates every member in parallel; the result is keyed by node.
func (g *Gate) CheckAll(ctx context.Context, ms []Member) map[string]Health {
	out := make(map[string]Health, len(ms))
	var mu sync.Mutex
	par := g.Parallel
	if par <= 0 {
		par = bbbapi.FleetParallel
	}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			h := g.Check(ctx, m)
			mu.Lock()
			out[m.Node] = h
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// errGate wraps a failed gate for callers that stop on it.
type GateError struct {
	Node   string
	Health Health
}

func (e *GateError) Error() string {
	return fmt.Sprintf("%s failed its health check: %s", e.Node, strings.Join(e.Health.Problems, "; "))
}

// IsGateError reports whether err is a failed health gate.
func IsGateError(err error) bool {
	var ge *GateError
	return errors.As(err, &ge)
}
