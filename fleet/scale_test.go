package fleet

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/providers"
)

// cloud is a provider whose machines are a map: Create makes them,
// Delete takes them away. The real clouds are tested with their fakes
// (cmd's scale test runs the FAKE Hetzner Cloud).
type cloud struct {
	mu      sync.Mutex
	have    map[string]bool
	rebuilt []string
	fail    error // Rebuild's
}

func (c *cloud) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for n := range c.have {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (c *cloud) List(context.Context, *inventory.Inventory, *inventory.Group) ([]providers.Machine, error) {
	var out []providers.Machine
	for _, n := range c.names() {
		out = append(out, providers.Machine{Name: n, Address: "127.0.0.1"})
	}
	return out, nil
}
func (c *cloud) Create(_ context.Context, _ *inventory.Inventory, _ *inventory.Group, nodes []*inventory.Node) ([]providers.Machine, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []providers.Machine
	for _, n := range nodes {
		c.have[n.Name] = true
		out = append(out, providers.Machine{Name: n.Name, Address: "127.0.0.1"})
	}
	return out, nil
}
func (c *cloud) Delete(_ context.Context, _ *inventory.Inventory, _ *inventory.Group, names []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range names {
		delete(c.have, n)
	}
	return nil
}
func (c *cloud) Rebuild(_ context.Context, _ *inventory.Inventory, _ *inventory.Group, nodes []*inventory.Node) ([]providers.Machine, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return nil, c.fail
	}
	var out []providers.Machine
	for _, n := range nodes {
		c.rebuilt = append(c.rebuilt, n.Name)
		out = append(out, providers.Machine{Name: n.Name, Address: "127.0.0.1"})
	}
	return out, nil
}

const opsCountedNodes = `    provider: hcloud
    location: fsn1
    server_type: cx22
    image: ubuntu-22.04
    count: 2
    name: bbb-{n}
`

// PlanScale says what a scale will do and changes nothing; Apply makes
// and removes machines through the provider it is given, and its
// ScaleResult says which nodes came and went and the count the
// inventory file now holds.
func TestScalePlanThenApply(t *testing.T) {
	r := newOpsRig(t, opsCountedNodes)
	r.node("bbb-1", "3.0.4")
	r.node("bbb-2", "3.0.4")
	ctx := context.Background()
	if _, err := SyncGroups(ctx, r.load(), r.load().Nodes(), func(*inventory.Node) bool { return true }, r.deps, false); err != nil {
		t.Fatal(err)
	}
	c := &cloud{have: map[string]bool{"bbb-1": true, "bbb-2": true}}
	var converged []string
	r.deps.Converge = func(_ context.Context, _ *inventory.Inventory, nodes []*inventory.Node, ms map[string]providers.Machine) map[string]error {
		for _, n := range nodes {
			if _, ok := ms[n.Name]; !ok {
				t.Errorf("%s converged without its machine", n.Name)
			}
			converged = append(converged, n.Name)
			r.node(n.Name, "3.0.4")
		}
		return nil
	}
	plan := func(o ScaleOptions) *ScalePlan {
		t.Helper()
		o.Group, o.Deps, o.Timeout = "eu", r.deps, 10*time.Second
		p, err := PlanScale(ctx, r.load(), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}

	// The capacity model: 700 users need 5 nodes; planning makes nothing.
	p := plan(ScaleOptions{N: -1, ForUsers: 700})
	if p.From != 2 || p.To != 5 || strings.Join(p.Add, " ") != "bbb-3 bbb-4 bbb-5" || len(p.Remove) != 0 ||
		p.Reason != "700 users + 20% headroom = 840, at 200 users per node = 5 node(s)" || len(c.names()) != 2 {
		t.Fatalf("plan %+v", p)
	}
	// Fewer than min_nodes is the user's mistake.
	var ue *UsageError
	if _, err := PlanScale(ctx, r.load(), ScaleOptions{Group: "eu", N: 0, Deps: r.deps}); !errors.As(err, &ue) || !strings.Contains(err.Error(), "min_nodes 1") {
		t.Fatalf("0 nodes: %v", err)
	}

	// 2 → 3
	res, err := plan(ScaleOptions{N: 3}).Apply(ctx, c, nil)
	if err != nil || strings.Join(res.Added, " ") != "bbb-3" || res.Count != 3 || res.CountErr != nil || strings.Join(converged, " ") != "bbb-3" {
		t.Fatalf("2 → 3: %+v %v, converged %v", res, err, converged)
	}
	if r.load().Group("eu").Count != 3 || r.state("bbb-3").State != pool.Enabled {
		t.Fatalf("after 2 → 3: count %d, bbb-3 %+v", r.load().Group("eu").Count, r.state("bbb-3"))
	}

	// 3 → 1: the highest-numbered go, drained, deregistered, deleted.
	r.sl.StartPoller(t, 5*time.Millisecond)
	waitFor(t, func() bool { return r.state("bbb-2").Online && r.state("bbb-3").Online })
	p = plan(ScaleOptions{N: 1})
	if strings.Join(p.Remove, " ") != "bbb-2 bbb-3" || len(p.Add) != 0 {
		t.Fatalf("3 → 1 plan %+v", p)
	}
	res, err = p.Apply(ctx, c, nil)
	slices.Sort(res.Removed)
	if err != nil || strings.Join(res.Removed, " ") != "bbb-2 bbb-3" || res.Count != 1 || strings.Join(c.names(), " ") != "bbb-1" {
		t.Fatalf("3 → 1: %+v %v, machines %v", res, err, c.names())
	}
	if r.load().Group("eu").Count != 1 || r.state("bbb-2").State != "absent" {
		t.Fatalf("after 3 → 1: count %d, bbb-2 %+v", r.load().Group("eu").Count, r.state("bbb-2"))
	}
}
