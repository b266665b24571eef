package fleet

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

// machines is a provider that has the named machines and deletes them
// when asked; the cloud's own behaviour is tested with its fake in cmd.
type machines struct {
	have    map[string]bool
	deleted []string
}

func (m *machines) List(_ context.Context, _ *inventory.Inventory, g *inventory.Group) ([]providers.Machine, error) {
	var out []providers.Machine
	for name := range m.have {
		out = append(out, providers.Machine{Name: name})
	}
	return out, nil
}
func (m *machines) Create(context.Context, *inventory.Inventory, *inventory.Group, []*inventory.Node) ([]providers.Machine, error) {
	return nil, errors.New("not here")
}
func (m *machines) Delete(_ context.Context, _ *inventory.Inventory, _ *inventory.Group, names []string) error {
	m.deleted = append(m.deleted, names...)
	return nil
}
func (m *machines) Rebuild(context.Context, *inventory.Inventory, *inventory.Group, []*inventory.Node) ([]providers.Machine, error) {
	return nil, errors.New("not here")
}

const downInventory = `apiVersion: omc/v1
name: t
groups:
  eu:
    provider: hcloud
    location: fsn1
    server_type: cx22
    image: ubuntu-22.04
    count: 3
    name: web-{n}
  own:
    provider: static
    nodes:
      - {name: mine, address: 192.0.2.1}
`

// loadDown is downInventory, with this test's own state dir and no
// ~/.ssh/config, and the nodes targets select (all when none).
func loadDown(t *testing.T, targets ...string) (*inventory.Inventory, []*inventory.Node) {
	t.Helper()
	t.Setenv("OMC_STATE_DIR", t.TempDir())
	t.Setenv("OMC_SSH_CONFIG", "none")
	inv, err := inventory.LoadReader(filepath.Join(t.TempDir(), "omc.yaml"), strings.NewReader(downInventory))
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) == 0 {
		return inv, inv.Nodes()
	}
	nodes, err := inv.Select(targets, nil)
	if err != nil {
		t.Fatal(err)
	}
	return inv, nodes
}

func TestPlanDownThenApply(t *testing.T) {
	inv, _ := loadDown(t)
	p := &machines{have: map[string]bool{"web-1": true}}
	o := DownOptions{Provider: func(*inventory.Group) (providers.Provider, error) { return p, nil }}
	plan, err := PlanDown(context.Background(), inv, inv.Nodes(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(plan.States); got != "[{mine own claimed} {web-2 eu absent} {web-3 eu absent} {web-1 eu delete}]" {
		t.Fatalf("states %s", got)
	}
	if len(p.deleted) != 0 {
		t.Fatal("planning deleted something")
	}
	var done []string
	if err := plan.Apply(context.Background(), func(g DownGroup) { done = append(done, g.Group.Name) }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(p.deleted, done) != "[web-1] [eu]" {
		t.Fatalf("deleted %v, reported %v", p.deleted, done)
	}

	own, _ := inv.Select([]string{"own"}, nil)
	plan, err = PlanDown(context.Background(), inv, own, o)
	if !errors.Is(err, ErrNothingToDown) || !strings.Contains(err.Error(), "claimed (static) servers") || len(plan.Names()) != 0 {
		t.Fatalf("only claimed nodes: %v", err)
	}
}
