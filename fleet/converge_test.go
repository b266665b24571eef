package fleet

import (
	"context"
	"strings"
	"testing"

	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
)

// A plan asks each group's provider what exists and makes nothing: the
// node with a machine becomes a host, the ones without are Missing (the
// provider's Create, which fails here, is never called).
func TestPrepareConvergePlanListsMissingMachines(t *testing.T) {
	inv, eu := loadDown(t, "eu")
	m := &machines{have: map[string]bool{"web-2": true}}
	o := ConvergeOptions{Mode: provision.Plan, Parallel: 1, Command: "plan",
		Provider: func(name string) (providers.Provider, error) { return m, nil }}
	// The stand-in's machines have no address: the host cannot be built.
	if _, err := PrepareConverge(context.Background(), inv, eu, o); err == nil || !strings.Contains(err.Error(), "web-2") {
		t.Fatalf("a machine without an address: %v", err)
	}
	m.have = map[string]bool{}
	c, err := PrepareConverge(context.Background(), inv, eu, o)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, n := range c.Missing {
		missing = append(missing, n.Name)
	}
	if len(c.Hosts) != 0 || strings.Join(missing, ",") != "web-1,web-2,web-3" {
		t.Fatalf("hosts %v, missing %v", c.Names(), missing)
	}
	o.Mode = provision.Apply
	if _, err := PrepareConverge(context.Background(), inv, eu, o); err == nil || !strings.Contains(err.Error(), "creating machines: not here") {
		t.Fatalf("up must create the missing machines: %v", err)
	}
}
