package cmd

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/providers/hcloud"
	hcfake "github.com/omc-coop/omc/providers/hcloud/fake"
)

const testHcloudToken = "hc-cmd-test-token-0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"

// hcloudFake starts the FAKE Hetzner Cloud API on 127.0.0.1.
func hcloudFake(t *testing.T) (*hcfake.Fake, string) {
	return hcfake.Serve(t, testHcloudToken)
}

// newTestHcloud is the real hcloud provider pointed at the fake; SSH is
// not waited for (the fake's addresses are loopback ones nothing serves).
func newTestHcloud(t *testing.T, endpoint, pub string) *hcloud.Provider {
	return hcloud.New(hcloud.Options{Token: testHcloudToken, Endpoint: endpoint, StateDir: t.TempDir(), PublicKey: pub,
		PollInterval: time.Millisecond, RetryBackoff: time.Millisecond,
		WaitSSH: func(_ context.Context, _ string) error { return nil }})
}

// hcloudGroup puts group eu's machines in the FAKE Hetzner Cloud API
// (other groups keep their own provider), makes the machines of the
// named nodes and starts their BBB; converging a node from then on
// starts its BBB, and converged lists those converged.
func (r *poolRig) hcloudGroup(t *testing.T, nodes ...string) (*hcfake.Fake, func() []string) {
	hc, endpoint := hcloudFake(t)
	pub := testPubKey(t)
	r.deps.Provider = func(g *inventory.Group) (providers.Provider, error) {
		if g.Provider != "hcloud" {
			return fleet.NewProvider(g.Provider, fleet.ProviderOptions{})
		}
		return &watchedProvider{Provider: newTestHcloud(t, endpoint, pub), r: r, t: t}, nil
	}
	var mu sync.Mutex
	var converged []string
	r.deps.Converge = func(_ context.Context, _ *inventory.Inventory, nodes []*inventory.Node, machines map[string]providers.Machine) map[string]error {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range nodes {
			if _, ok := machines[n.Name]; !ok {
				t.Errorf("%s converged without a machine", n.Name)
			}
			converged = append(converged, n.Name)
			r.node(n.Name, "3.0.4")
		}
		return nil
	}
	inv := r.load()
	eu, _ := inv.Select([]string{"eu"}, nil)
	p, _ := r.deps.Provider(inv.Group("eu"))
	if _, err := p.Create(context.Background(), inv, inv.Group("eu"), eu); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		r.node(n, "3.0.4")
	}
	return hc, func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(converged) }
}
