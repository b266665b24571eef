package cmd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool/fake"
	"github.com/omc-coop/omc/pool/scalelite"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/providers/hcloud"
	hcfake "github.com/omc-coop/omc/providers/hcloud/fake"
	"github.com/omc-coop/omc/provision/roles"
)

// Scalelite keeps no tenant name unique (the fake, like it, accepts a
// second addTenant of a name): omc's own check refuses the second add,
// and rotate and disable refuse a name two tenants share.
func TestTenantNamesKeptUniqueByOmc(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.sl.SetMultitenancy(true)
	ctx := context.Background()
	out, _, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runTenantAdd(ctx, s, g, &tenantOptions{Name: "school-a"})
	})
	first := strings.TrimSpace(out)
	if code != 0 || len(r.sl.Tenants()) != 1 {
		t.Fatalf("add: %d", code)
	}
	r.mu.Lock()
	seen := strings.ReplaceAll(r.seen.String(), first, "")
	r.seen.Reset()
	r.seen.WriteString(seen)
	r.mu.Unlock()
	id := r.sl.Tenants()[0].ID
	writes := r.sl.Writes()
	_, errs, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runTenantAdd(ctx, s, g, &tenantOptions{Name: "school-a"})
	})
	if code != ExitError || !strings.Contains(errs, `tenant "school-a" exists already (id `+id+")") || !strings.Contains(errs, "omc tenant rotate school-a") {
		t.Fatalf("add twice: %d\n%s", code, errs)
	}
	if len(r.sl.Tenants()) != 1 || r.sl.Writes() != writes || r.sl.Tenants()[0].Secrets[0] != first {
		t.Fatalf("the second add reached Scalelite: %+v", r.sl.Tenants())
	}

	// Someone else adds a second school-a through the API: Scalelite (and
	// the fake) accept it.
	c := &scalelite.Client{URL: r.sl.URL, Secret: testLBSecret}
	dup, err := c.AddTenant(ctx, "school-a", []string{"someone-elses-secret"})
	if err != nil || len(r.sl.Tenants()) != 2 {
		t.Fatalf("duplicate through the API: %v %+v", err, r.sl.Tenants())
	}
	for verb, run := range map[string]func(context.Context, *ui.Streams, *globalOptions, *tenantOptions) error{
		"rotate": runTenantRotate, "disable": runTenantDisable} {
		_, errs, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
			return run(ctx, s, g, &tenantOptions{Name: "school-a", Yes: true})
		})
		if code != ExitError || !strings.Contains(errs, `2 tenants are named "school-a" in the pool (ids `+id+", "+dup.ID+")") {
			t.Fatalf("%s with a duplicate: %d\n%s", verb, code, errs)
		}
	}
	tl := r.sl.Tenants()
	if tl[0].Secrets[0] != first || tl[1].Secrets[0] != "someone-elses-secret" {
		t.Fatalf("a tenant was changed: %+v", tl)
	}
}

// omc tenant add makes the tenant in Scalelite, lists it in the
// inventory file, makes its record where the pool domain points and has
// the scalelite node converged for its certificate; remove undoes all.
func TestTenantSubDomainFollowsAddAndRemove(t *testing.T) {
	d := isolate(t)
	t.Setenv("OMC_T_LB", testLBSecret)
	t.Setenv("OMC_T_SEED", testSeed)
	sl := fake.NewScalelite(t, testLBSecret)
	sl.SetMultitenancy(true)
	u, _ := url.Parse(sl.URL)
	src := strings.NewReplacer("PORT", u.Port()).Replace(`apiVersion: omc/v1
name: coop
secrets:
  bbb_seed: env:OMC_T_SEED
groups:
  eu:
    provider: hcloud
    location: fsn1
    server_type: cx22
    image: ubuntu-22.04
    dns_zone: example.org
    domain: "{name}.example.org"
    settings: {bbb_version: "3.0"}
    pool:
      url: http://sl.example.org:PORT
      secret: env:OMC_T_LB
      checks: []
    nodes:
      - {name: sl, roles: [scalelite], settings: {scalelite: {multitenancy: true}}}
      - {name: bbb-1, roles: [bbb]}
`)
	path := filepath.Join(d, "omc.yaml")
	must(t, os.WriteFile(path, []byte(src), 0o644))
	hc, endpoint := hcfake.Serve(t, "hc-token-for-tenant-cmd-test")
	hc.AddZone("example.org")
	p := hcloud.New(hcloud.Options{Token: "hc-token-for-tenant-cmd-test", Endpoint: endpoint, StateDir: t.TempDir(), PollInterval: time.Millisecond,
		PublicKey: testOperatorKey(t), WaitSSH: func(context.Context, string) error { return nil }})
	inv, err := inventory.Load(path)
	must(t, err)
	_, err = p.Create(context.Background(), inv, inv.Group("eu"), inv.Nodes())
	must(t, err)
	var certs []string
	deps := &fleet.PoolDeps{
		// Scalelite's domain reaches the fake on loopback.
		HTTP: &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, u.Host)
		}}},
		Provider: func(*inventory.Group) (providers.Provider, error) { return p, nil },
		Converge: func(_ context.Context, inv *inventory.Inventory, nodes []*inventory.Node, _ map[string]providers.Machine) map[string]error {
			for _, n := range nodes {
				steps, err := roles.Steps(inv, n, inv.Nodes())
				must(t, err)
				for _, s := range steps {
					if c, ok := s.(*roles.CertStep); ok {
						certs = append(certs, n.Name+": "+strings.Join(append([]string{c.Domain}, c.Names...), " "))
					}
				}
			}
			return nil
		},
	}
	call := func(fn func(context.Context, *ui.Streams, *globalOptions, *tenantOptions) error, o *tenantOptions) (string, string, error) {
		var out, errb bytes.Buffer
		f := testFactory()
		f.Pool = deps
		err := fn(context.Background(), &ui.Streams{In: strings.NewReader(""), Out: &out, Err: &errb, CI: true}, &globalOptions{Inventory: path, Output: "json", f: f}, o)
		return out.String(), errb.String(), err
	}
	records := func() string {
		var l []string
		for _, rs := range hc.RRSets("example.org") {
			if strings.HasPrefix(rs.Name, "school-") {
				l = append(l, rs.Name+" "+rs.Type)
			}
		}
		sort.Strings(l)
		return strings.Join(l, ", ")
	}

	out, errs, err := call(runTenantAdd, &tenantOptions{Name: "school-a"})
	if err != nil {
		t.Fatalf("add: %v\n%s", err, errs)
	}
	var added tenantSecretV1
	must(t, json.Unmarshal([]byte(out), &added))
	if len(sl.Tenants()) != 1 || added.Secret != sl.Tenants()[0].Secrets[0] || added.Domain != "school-a.sl.example.org" || len(added.DNS) != 2 || added.Certificate != "sl" {
		t.Fatalf("add: %s", out)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "    pool:\n      tenants: [school-a]\n      url: http://sl.example.org:") {
		t.Fatalf("inventory:\n%s", b)
	}
	if got := records(); got != "school-a.sl A, school-a.sl AAAA" {
		t.Fatalf("records %s", got)
	}
	if got := strings.Join(certs, "; "); got != "sl: sl.example.org school-a.sl.example.org" {
		t.Fatalf("certificate %s", got)
	}

	out, errs, err = call(runTenantRemove, &tenantOptions{Name: "school-a", Yes: true})
	if err != nil || len(sl.Tenants()) != 0 || records() != "" || !strings.Contains(out, `"action":"remove"`) {
		t.Fatalf("remove: %v %s %s\n%s", err, out, records(), errs)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "      tenants: []\n") {
		t.Fatalf("inventory:\n%s", b)
	}
	if got := certs[len(certs)-1]; got != "sl: sl.example.org" {
		t.Fatalf("certificate %s", got)
	}

	// A list omc cannot edit: refused before Scalelite is changed.
	b, _ := os.ReadFile(path)
	must(t, os.WriteFile(path, []byte(strings.Replace(string(b), "tenants: []", "tenants: &t []", 1)), 0o644))
	_, _, err = call(runTenantAdd, &tenantOptions{Name: "school-b"})
	if err == nil || !strings.Contains(err.Error(), "add school-b to the list by hand") || len(sl.Tenants()) != 0 {
		t.Fatalf("uneditable list: %v, tenants %v", err, sl.Tenants())
	}
}

func testOperatorKey(t *testing.T) string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	k, err := ssh.NewPublicKey(pub)
	must(t, err)
	return providers.AuthorizedKey(k)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
