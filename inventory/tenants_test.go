package inventory

import (
	"strings"
	"testing"
)

func TestPoolTenants(t *testing.T) {
	t.Setenv("OMC_T_LB", "x")
	src := strings.Replace(poolInv, "      tenant_secrets: tenants\n", "      tenant_secrets: tenants\n      tenants: [school-a, school-b]\n", 1)
	inv := mustLoad(t, src)
	p := inv.Group("eu-1").Pool
	if got := strings.Join(p.TenantDomains(), " "); got != "school-a.scalelite.example.org school-b.scalelite.example.org" {
		t.Fatalf("tenant domains %q", got)
	}
	if d := inv.Group("old").Pool.Domain(); d != "" {
		t.Errorf("a pool at an address has no domain, got %q", d)
	}
}

// Bad tenant lists are refused at FILE:LINE:COL of the entry.
func TestPoolTenantsRefused(t *testing.T) {
	t.Setenv("OMC_T_LB", "x")
	src := strings.Replace(poolInv, "      tenant_secrets: tenants\n",
		"      tenants:\n        - school-a\n        - School_B\n        - school-a\n        - "+strings.Repeat("a", 64)+"\n", 1)
	src = strings.Replace(src, "      checks: []\n", "      checks: []\n      tenants: [school-c]\n", 1)
	_, err := loadString(t, src)
	if err == nil {
		t.Fatal("loaded")
	}
	for _, want := range []string{
		`t.yaml:16:11: groups.eu-1.pool.tenants[1]: "School_B" is not a tenant name`,
		`t.yaml:17:11: groups.eu-1.pool.tenants[2]: tenant "school-a" is listed twice`,
		`t.yaml:18:11: groups.eu-1.pool.tenants[3]: "aaaa`,
		`t.yaml:34:17: groups.old.pool.tenants[0]: tenant school-c has no sub-domain: pool.url http://127.0.0.1:8080 names an address`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
