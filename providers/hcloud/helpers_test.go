package hcloud

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"github.com/omc-coop/omc/providers"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers/hcloud/fake"
)

const testToken = "hc-test-token-5f3a9c1e7b2d4068a1c3e5f7092b4d6f8a0c2e4f6a8b0c2d4e6f8a0b2c4d6e8f"

// env is one test's world: a fake project, a provider pointed at it with
// the real hcloud-go client, and everything the provider printed.
type env struct {
	t      *testing.T
	fake   *fake.Fake
	p      *Provider
	stderr *syncBuffer
	// sshWaits are the addresses WaitSSH was asked about.
	sshWaits []string
	mu       sync.Mutex
	client   *hcloud.Client
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T, mod ...func(*Options)) *env {
	t.Helper()
	f, endpoint := fake.Serve(t, testToken)
	f.AddZone("example.org")
	e := &env{t: t, fake: f, stderr: &syncBuffer{}}
	opts := Options{
		Token:        testToken,
		Endpoint:     endpoint,
		StateDir:     t.TempDir(),
		Stderr:       e.stderr,
		PollInterval: time.Millisecond,
		PublicKey:    testPublicKey(t),
		RetryBackoff: time.Millisecond,
		WaitSSH: func(_ context.Context, addr string) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.sshWaits = append(e.sshWaits, addr)
			return nil
		},
	}
	for _, m := range mod {
		m(&opts)
	}
	e.p = New(opts)
	e.client = hcloud.NewClient(hcloud.WithEndpoint(endpoint), hcloud.WithToken(testToken),
		hcloud.WithPollOpts(hcloud.PollOpts{BackoffFunc: hcloud.ConstantBackoff(time.Millisecond)}))
	t.Cleanup(func() {
		if out := e.stderr.String(); strings.Contains(out, testToken) {
			t.Errorf("the token appears in the provider's output:\n%s", out)
		}
	})
	return e
}

func testPublicKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return providers.AuthorizedKey(k)
}

// loadInv builds an inventory with one hcloud group "eu" of count nodes.
func loadInv(t *testing.T, name string, count int, extra string) (*inventory.Inventory, *inventory.Group) {
	t.Helper()
	src := fmt.Sprintf(`apiVersion: omc/v1
name: %s
groups:
  eu:
    provider: hcloud
    location: fsn1
    server_type: cx22
    image: ubuntu-22.04
    count: %d
    name: %s-bbb-{n}
    roles: [bbb]
    domain: "{name}.example.org"
    dns_zone: example.org
    spread: true
%s`, name, count, name, extra)
	inv, err := inventory.LoadReader("test.yaml", strings.NewReader(src))
	if err != nil {
		t.Fatalf("inventory: %v", err)
	}
	return inv, inv.Group("eu")
}

func groupNodes(inv *inventory.Inventory, g *inventory.Group) []*inventory.Node {
	var out []*inventory.Node
	for _, n := range inv.Nodes() {
		if n.Group == g.Name {
			out = append(out, n)
		}
	}
	return out
}

// checkErr fails on err, and checks that no error ever shows the token.
func (e *env) checkErr(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) create(inv *inventory.Inventory, g *inventory.Group) []machineView {
	e.t.Helper()
	ms, err := e.p.Create(context.Background(), inv, g, groupNodes(inv, g))
	e.checkErr(err)
	var out []machineView
	for _, m := range ms {
		out = append(out, machineView{m.Name, m.Address, strings.Join(m.HostKeys, ","), m.Status})
	}
	return out
}

type machineView struct{ Name, Address, HostKey, Status string }

// serverNames are the fake's servers whose labels match all of want.
func (e *env) serverNames(want map[string]string) []string {
	var out []string
	for _, s := range e.fake.Servers() {
		if hasLabels(s.Labels, want) {
			out = append(out, s.Name)
		}
	}
	slices.Sort(out)
	return out
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func (e *env) ipsOf(node string) []schema.PrimaryIP {
	var out []schema.PrimaryIP
	for _, ip := range e.fake.PrimaryIPs() {
		if ip.Labels[LabelNode] == node {
			out = append(out, ip)
		}
	}
	return out
}

// records are the example.org records omc made, as "name TYPE value".
func (e *env) records() []string {
	var out []string
	for _, rs := range e.fake.RRSets("example.org") {
		if rs.Type != "A" && rs.Type != "AAAA" {
			continue
		}
		for _, r := range rs.Records {
			out = append(out, rs.Name+" "+rs.Type+" "+r.Value)
		}
	}
	slices.Sort(out)
	return out
}

// writes are the write calls since the last reset, as "METHOD /path".
func (e *env) writes() []string {
	var out []string
	for _, c := range e.fake.WriteCalls() {
		out = append(out, fmt.Sprintf("%s %s %d", c.Method, c.Path, c.Status))
	}
	return out
}
