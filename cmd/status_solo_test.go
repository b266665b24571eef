package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool/fake"
	"github.com/omc-coop/omc/provision/roles"
)

// toHost sends every request, whatever its host, to srv: the node's
// default API URL (https://DOMAIN/bigbluebutton/api) reaches a test
// server on loopback.
type toHost struct {
	srv *httptest.Server
}

func (h toHost) RoundTrip(r *http.Request) (*http.Response, error) {
	u, _ := url.Parse(h.srv.URL)
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = u.Scheme, u.Host
	return h.srv.Client().Transport.RoundTrip(r)
}

// omc install's inventory has no pool: omc status shows the node's own
// health (BBB API, signed getMeetings with the derived secret, TLS
// expiry, TURN, meetings), and exits 5 when it fails.
func TestStatusWithoutPool(t *testing.T) {
	d := isolate(t)
	t.Setenv("OMC_T_SEED", testSeed)
	p := filepath.Join(d, "omc.yaml")
	os.WriteFile(p, []byte(`apiVersion: omc/v1
name: school
secrets:
  bbb_seed: env:OMC_T_SEED
groups:
  school:
    provider: static
    nodes:
      - {name: bbb, roles: [bbb, turn], address: 127.0.0.1, domain: bbb.school.example, settings: {bbb_version: "3.0"}}
`), 0o644)
	inv, err := inventory.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := roles.APISecret(inv, inv.Nodes()[0])
	if err != nil {
		t.Fatal(err)
	}
	bbb := fake.NewBBB(t)
	node := bbb.AddNode("bbb", secret, "3.0.4").RevealVersion(true)
	node.CreateMeeting("maths", 5, 1)
	// HTTPS in front of the fake BBB, its path under /bbb as the fake serves it.
	target, _ := url.Parse(bbb.Server.URL + "/bbb")
	front := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(front.Close)
	var stunAt []string
	deps := &fleet.PoolDeps{HTTP: &http.Client{Transport: toHost{front}}, STUN: func(_ context.Context, addr string) error {
		stunAt = append(stunAt, addr)
		return nil
	}}
	status := func(json bool) (string, string, int) {
		var out, errb bytes.Buffer
		s := &ui.Streams{In: strings.NewReader(""), Out: &out, Err: &errb, CI: true}
		g := &globalOptions{Inventory: p, Output: "text", f: testFactory()}
		g.f.Pool = deps
		if json {
			g.Output = "json"
		}
		err := runStatus(context.Background(), s, g, &statusOptions{})
		return out.String(), errb.String(), exitCode(err)
	}

	out, errs, code := status(false)
	if code != 0 || !strings.Contains(out, "nodes in no pool: 1, 1 healthy") || !regexpMatch(`bbb\s+static\s+127\.0\.0\.1\s+3\.0\.4\s+1\s+5\s+20\d\d-\d\d-\d\d\s+-\s+ok`, out) {
		t.Fatalf("code %d\n%s\n%s", code, out, errs)
	}
	if len(stunAt) != 1 || stunAt[0] != "bbb.school.example:3478" {
		t.Fatalf("TURN checked at %v", stunAt)
	}
	if strings.Contains(out+errs, secret) {
		t.Fatal("the node's secret was shown")
	}
	out, _, code = status(true)
	var st statusV1
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Nodes) != 1 || st.Nodes[0].PoolState != "none" || st.Nodes[0].TLSExpires == nil || *st.Nodes[0].Users != 5 || st.Pools == nil {
		t.Fatalf("json: code %d %s", code, out)
	}

	// Another secret on the node: unhealthy, exit 5, saying why.
	node.SetSecret("not-the-derived-one")
	out, errs, code = status(false)
	if code != ExitUnhealthy || !strings.Contains(out, "bbb: signed getMeetings refused (checksumError)") || !strings.Contains(errs, "1 of 1 nodes unhealthy") {
		t.Fatalf("wrong secret: code %d\n%s\n%s", code, out, errs)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

// A group of plain machines (no bbb role, no pool), as the README's dev
// group: status lists each machine with its provider and address and asks
// no BBB API; before this it refused the group as having nothing to show.
func TestStatusShowsPlainNodesWithoutPool(t *testing.T) {
	d := isolate(t)
	p := filepath.Join(d, "omc.yaml")
	os.WriteFile(p, []byte(`apiVersion: omc/v1
name: lab
groups:
  dev:
    provider: static
    nodes:
      - {name: dev-1, address: 192.0.2.7}
      - {name: dev-2, address: 192.0.2.8}
`), 0o644)
	asked := 0
	deps := &fleet.PoolDeps{HTTP: &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		asked++
		return nil, context.Canceled
	})}}
	var out, errb bytes.Buffer
	s := &ui.Streams{In: strings.NewReader(""), Out: &out, Err: &errb, CI: true}
	f := testFactory()
	f.Pool = deps
	err := runStatus(context.Background(), s, &globalOptions{Inventory: p, Output: "text", f: f}, &statusOptions{Targets: []string{"dev"}})
	if code := exitCode(err); code != 0 || asked != 0 {
		t.Fatalf("code %d, %d HTTP calls\n%s\n%s", code, asked, out.String(), errb.String())
	}
	for _, re := range []string{`nodes in no pool: 2, 2 healthy`, `dev-1\s+static\s+192\.0\.2\.7\s+-\s+-\s+-\s+-\s+-\s+ok`, `dev-2\s+static\s+192\.0\.2\.8\s+`} {
		if !regexpMatch(re, out.String()) {
			t.Fatalf("no %q in\n%s", re, out.String())
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
