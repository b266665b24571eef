package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/providers/hcloud"
	hcfake "github.com/omc-coop/omc/providers/hcloud/fake"
	"github.com/omc-coop/omc/provision/roles"
)

const tenantToken = "hc-tenant-test-token-0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978"

// tenantInventory: a pool on sl.example.org, the scalelite node sl and a
// bbb node, on (fake) Hetzner Cloud with the zone example.org.
const tenantInventory = `apiVersion: omc/v1
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
      # Scalelite on sl
      url: https://sl.example.org
      secret: env:OMC_T_LB
    nodes:
      - {name: sl, roles: [scalelite], settings: {scalelite: {multitenancy: true}}}
      - {name: bbb-1, roles: [bbb]}
`

// tenantRig is the inventory file, the fake Hetzner project with the
// group's machines made, and a converge that records what the scalelite
// node's certificate step would ask for.
type tenantRig struct {
	path string
	fake *hcfake.Fake
	deps *PoolDeps
	mu   sync.Mutex
	// certs are the names each converge's certificate step wanted.
	certs []string
}

func newTenantRig(t *testing.T) *tenantRig {
	t.Helper()
	t.Setenv("OMC_STATE_DIR", t.TempDir())
	t.Setenv("OMC_T_SEED", "seed-for-tenant-tests")
	t.Setenv("OMC_T_LB", "lb-for-tenant-tests")
	r := &tenantRig{path: filepath.Join(t.TempDir(), "omc.yaml")}
	if err := os.WriteFile(r.path, []byte(tenantInventory), 0o644); err != nil {
		t.Fatal(err)
	}
	var endpoint string
	r.fake, endpoint = hcfake.Serve(t, tenantToken)
	r.fake.AddZone("example.org")
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := ssh.NewPublicKey(pub)
	p := hcloud.New(hcloud.Options{Token: tenantToken, Endpoint: endpoint, StateDir: t.TempDir(), PollInterval: time.Millisecond,
		PublicKey: providers.AuthorizedKey(k), RetryBackoff: time.Millisecond,
		WaitSSH: func(context.Context, string) error { return nil }})
	r.deps = &PoolDeps{
		Provider: func(*inventory.Group) (providers.Provider, error) { return p, nil },
		Converge: func(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, ms map[string]providers.Machine) map[string]error {
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, n := range nodes {
				steps, err := roles.Steps(inv, n, inv.Nodes())
				if err != nil {
					t.Errorf("steps of %s: %v", n.Name, err)
				}
				for _, s := range steps {
					if c, ok := s.(*roles.CertStep); ok {
						r.certs = append(r.certs, n.Name+": "+strings.Join(append([]string{c.Domain}, c.Names...), " "))
					}
				}
			}
			return nil
		},
	}
	inv := r.load(t)
	if _, err := p.Create(context.Background(), inv, inv.Group("eu"), inv.Nodes()); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *tenantRig) load(t *testing.T) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Load(r.path)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func (r *tenantRig) pool(t *testing.T) *Pool {
	inv := r.load(t)
	return &Pool{Inv: inv, Group: inv.Group("eu")}
}

// records are the zone's A/AAAA records as "name TYPE".
func (r *tenantRig) records() []string {
	var out []string
	for _, rs := range r.fake.RRSets("example.org") {
		if rs.Type == "A" || rs.Type == "AAAA" {
			out = append(out, rs.Name+" "+rs.Type)
		}
	}
	slices.Sort(out)
	return out
}

// A served tenant is in the inventory's list, resolves where the pool
// domain does, and is on the scalelite node's certificate; serving it
// again changes nothing; unserving takes all three away.
func TestServeTenantListsRecordsAndCertifies(t *testing.T) {
	r := newTenantRig(t)
	ctx := context.Background()
	if err := CheckServe(r.pool(t), "school-a", true); err != nil {
		t.Fatal(err)
	}
	site, err := ServeTenant(ctx, r.pool(t), "school-a", true, r.deps)
	if err != nil {
		t.Fatal(err)
	}
	if site.Domain != "school-a.sl.example.org" || !site.Listed || len(site.DNS) != 2 || site.Node != "sl" || len(site.Notes) != 0 {
		t.Fatalf("site %+v", site)
	}
	src, _ := os.ReadFile(r.path)
	if !strings.Contains(string(src), "    pool:\n      tenants: [school-a]\n      # Scalelite on sl\n") {
		t.Fatalf("the inventory's list:\n%s", src)
	}
	want := []string{"bbb-1 A", "bbb-1 AAAA", "school-a.sl A", "school-a.sl AAAA", "sl A", "sl AAAA"}
	if got := r.records(); !slices.Equal(got, want) {
		t.Fatalf("records %v", got)
	}
	value := map[string]string{}
	for _, rs := range r.fake.RRSets("example.org") {
		if len(rs.Records) > 0 {
			value[rs.Name+" "+rs.Type] = rs.Records[0].Value
		}
	}
	for _, typ := range []string{"A", "AAAA"} {
		if v := value["school-a.sl "+typ]; v == "" || v != value["sl "+typ] {
			t.Errorf("school-a.sl %s is %q, sl's %q", typ, v, value["sl "+typ])
		}
	}
	if got := strings.Join(r.certs, "\n"); got != "sl: sl.example.org school-a.sl.example.org" {
		t.Fatalf("certificate names %q", got)
	}

	// Again: nothing to write, the node converged again (a no-op there).
	r.fake.ResetCalls()
	site, err = ServeTenant(ctx, r.pool(t), "school-a", true, r.deps)
	if err != nil || site.Listed || len(site.DNS) != 0 || len(r.fake.WriteCalls()) != 0 {
		t.Fatalf("second serve: %+v %v writes %v", site, err, r.fake.WriteCalls())
	}

	// A second tenant added by hand in the file: omc up's step makes its
	// records before the node converges.
	if _, err := inventory.SetTenant(r.path, "eu", "school-b", true); err != nil {
		t.Fatal(err)
	}
	inv := r.load(t)
	open := func(string) (providers.Provider, error) { return r.deps.ProviderFor(inv.Group("eu")) }
	if err := syncTenantDNS(ctx, inv, inv.Nodes(), open); err != nil {
		t.Fatal(err)
	}
	if got := r.records(); !slices.Contains(got, "school-b.sl AAAA") {
		t.Fatalf("up did not make school-b's records: %v", got)
	}

	// Unserve school-a: out of the list, records gone, certificate without it.
	r.certs = nil
	site, err = ServeTenant(ctx, r.pool(t), "school-a", false, r.deps)
	if err != nil || !site.Listed || len(site.DNS) != 2 {
		t.Fatalf("unserve: %+v %v", site, err)
	}
	src, _ = os.ReadFile(r.path)
	if !strings.Contains(string(src), "      tenants: [school-b]\n") {
		t.Fatalf("the inventory's list:\n%s", src)
	}
	if got := r.records(); slices.Contains(got, "school-a.sl A") || !slices.Contains(got, "school-b.sl A") {
		t.Fatalf("records %v", got)
	}
	if got := strings.Join(r.certs, "\n"); got != "sl: sl.example.org school-b.sl.example.org" {
		t.Fatalf("certificate names %q", got)
	}
}

// A group whose provider keeps no DNS gets the list and the certificate;
// the records are the operator's, and omc says so.
func TestServeTenantWithoutDNSSaysWhatIsLeft(t *testing.T) {
	r := newTenantRig(t)
	src, _ := os.ReadFile(r.path)
	if err := os.WriteFile(r.path, []byte(strings.Replace(string(src), "    dns_zone: example.org\n", "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r.fake.ResetCalls()
	site, err := ServeTenant(context.Background(), r.pool(t), "school-a", true, r.deps)
	if err != nil || !site.Listed || len(site.DNS) != 0 || site.Node != "sl" || len(r.fake.WriteCalls()) != 0 {
		t.Fatalf("%+v %v", site, err)
	}
	if len(site.Notes) != 1 || !strings.Contains(site.Notes[0], "point school-a.sl.example.org where sl.example.org points yourself") {
		t.Fatalf("notes %q", site.Notes)
	}
}
