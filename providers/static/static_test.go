package static

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

func TestStaticListsClaimedServersAndNeverDeletes(t *testing.T) {
	inv, err := inventory.LoadReader("omc.yaml", strings.NewReader(`apiVersion: omc/v1
name: t
groups:
  school:
    provider: static
    nodes:
      - {name: a, address: 192.0.2.10, host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDg0DyoyLjAT3pUnz2ly4bqmNrcG3JuD1i0K7P9vXkYr"}
      - {name: b, address: bbb.school.example, ssh: {port: 2222}}
  other:
    provider: static
    nodes:
      - {name: c, address: 192.0.2.11}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := New()
	ctx := context.Background()
	ms, err := p.List(ctx, inv, inv.Group("school"))
	if err != nil || len(ms) != 2 {
		t.Fatalf("%v %v", ms, err)
	}
	if ms[0].Address != "192.0.2.10" || len(ms[0].HostKeys) != 1 || ms[1].Port != 2222 || len(ms[1].HostKeys) != 0 {
		t.Fatalf("%+v", ms)
	}
	made, err := p.Create(ctx, inv, inv.Group("school"), inv.Nodes()[1:2])
	if err != nil || len(made) != 1 || made[0].Name != "b" {
		t.Fatalf("Create: %v %v", made, err)
	}
	var ns *providers.ErrNotSupported
	if err := p.Delete(ctx, inv, inv.Group("school"), []string{"a"}); !errors.As(err, &ns) {
		t.Fatalf("Delete: %v", err)
	}
}
