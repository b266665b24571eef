package roles

import (
	"os"
	"strings"
	"testing"
)

const tenantsLine = "      secret: env:OMC_TEST_LB\n      tenants: [school-a, school-b]\n"

// The scalelite node's one certificate names the pool's domain and every
// tenant's sub-domain; nginx answers them all (http-01 and Scalelite).
// The bbb node's certificate stays its own.
func TestScaleliteCertificateCoversTenants(t *testing.T) {
	b, err := os.ReadFile("testdata/scalelite-fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(b), "      secret: env:OMC_TEST_LB\n", tenantsLine, 1)
	inv, fleet := loadScaleliteFleet(t, y, fakeSeed)
	want := "sl-1.example.org school-a.sl-1.example.org school-b.sl-1.example.org"
	for _, name := range []string{"sl-1", "bbb-1"} {
		steps, err := Steps(inv, node(t, fleet, name), fleet)
		if err != nil {
			t.Fatal(err)
		}
		var cert *CertStep
		sites := map[string]string{}
		for _, s := range steps {
			switch x := s.(type) {
			case *CertStep:
				cert = x
			case *checkedFile:
				sites[x.Path] = string(x.Content)
			}
		}
		if cert == nil {
			t.Fatalf("%s: no certificate step", name)
		}
		got := strings.Join(cert.want(), " ")
		if name == "bbb-1" {
			if got != "bbb-1.example.org" {
				t.Errorf("bbb-1's certificate names %s", got)
			}
			continue
		}
		if got != want {
			t.Errorf("certificate names %s, want %s", got, want)
		}
		for _, p := range []string{"/etc/nginx/conf.d/omc-acme.conf", slSite} {
			if !strings.Contains(sites[p], "\tserver_name "+want+";\n") {
				t.Errorf("%s does not answer every name:\n%s", p, sites[p])
			}
		}
	}
}

// A new tenant list is one new certificate with every name; the same
// list, in whatever order the CA wrote it, is none.
func TestCertStepTenantNames(t *testing.T) {
	s := &CertStep{Domain: "sl-1.example.org", Names: []string{"school-a.sl-1.example.org", "school-b.sl-1.example.org"},
		Directory: "https://acme.test/dir", Email: "ops@example.org", RenewDays: 30}
	obs := func(names string) []string {
		return []string{"names=" + names, "fresh=yes", "server=https://acme.test/dir", "hook=" + certHook}
	}
	for _, names := range []string{
		"DNS:sl-1.example.org,DNS:school-a.sl-1.example.org,DNS:school-b.sl-1.example.org",
		"DNS:school-a.sl-1.example.org,DNS:school-b.sl-1.example.org,DNS:sl-1.example.org",
	} {
		if c, err := s.Plan(obs(names)); c != nil || err != nil {
			t.Errorf("%s: %+v %v, want nothing to do", names, c, err)
		}
	}
	for _, names := range []string{
		"DNS:sl-1.example.org",
		"DNS:sl-1.example.org,DNS:school-a.sl-1.example.org",
		"DNS:sl-1.example.org,DNS:school-a.sl-1.example.org,DNS:school-b.sl-1.example.org,DNS:school-c.sl-1.example.org",
	} {
		c, err := s.Plan(obs(names))
		if err != nil || c == nil || !strings.HasPrefix(c.Summary, "replace (names ") || !strings.Contains(c.Script, "--force-renewal") {
			t.Errorf("%s: %+v %v, want a replacement", names, c, err)
		}
	}
	// The plan text of adding school-b: what omc plan shows and runs.
	c, _ := s.Plan(obs("DNS:sl-1.example.org,DNS:school-a.sl-1.example.org"))
	if !strings.Contains(c.Script, " -d 'sl-1.example.org' -d 'school-a.sl-1.example.org' -d 'school-b.sl-1.example.org' ") ||
		!strings.Contains(c.Script, "--cert-name 'sl-1.example.org'") {
		t.Errorf("certbot does not ask for every name under the one certificate:\n%s", c.Script)
	}
	golden(t, "cert-tenant-added", c.Step.ID()+": "+c.Summary+"\n"+c.Script+"\n")
}

// Tenants need MULTITENANCY_ENABLED: without it Scalelite's host check
// (Rails' config.hosts) refuses their sub-domains.
func TestScaleliteTenantsNeedMultitenancy(t *testing.T) {
	b, err := os.ReadFile("testdata/scalelite-fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(b), "      secret: env:OMC_TEST_LB\n", tenantsLine, 1)
	y = strings.Replace(y, "scalelite: {multitenancy: true}", "scalelite: {multitenancy: false}", 1)
	inv, fleet := loadScaleliteFleet(t, y, fakeSeed)
	_, err = Steps(inv, node(t, fleet, "sl-1"), fleet)
	if err == nil || !strings.Contains(err.Error(), "testdata/scalelite-fleet.yaml:10:7: groups.eu.pool.tenants lists 2 tenants, but scalelite node sl-1 has settings.scalelite.multitenancy false") {
		t.Fatalf("err = %v", err)
	}
}
