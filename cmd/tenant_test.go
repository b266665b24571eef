package cmd

import (
	"context"
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/pool/scalelite"
)

// Scalelite keeps no tenant name unique (the fake, like it, accepts a
// second addTenant of a name): omc's own check refuses the second add,
// and rotate and disable refuse a name two tenants share.
func TestTenantNamesKeptUniqueByOmc(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.sl.SetMultitenancy(true)
	ctx := context.Background()
	out, _, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runTenantAdd(ctx, s, g, &tenantOptions{Name: "school-a", deps: r.deps})
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
		return runTenantAdd(ctx, s, g, &tenantOptions{Name: "school-a", deps: r.deps})
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
			return run(ctx, s, g, &tenantOptions{Name: "school-a", Yes: true, deps: r.deps})
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
