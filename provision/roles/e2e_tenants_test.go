package roles

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool/scalelite"
)

// testTenantCertificate (run by TestE2EScalelite, on its converged rs1):
// a tenant in pool.tenants, as omc tenant add leaves the file, is one
// replaced certificate from a real ACME server (Pebble, http-01 through
// the node's nginx) naming rs1.omc.test and school-a.rs1.omc.test;
// Scalelite answers on the sub-domain over TLS; a second run changes
// nothing; taking the tenant out replaces the certificate once more.
// The test's /etc/hosts line stands in for the DNS record, which the
// hcloud fake's tests make (providers/hcloud, fleet).
func (e *e2eEnv) testTenantCertificate(t *testing.T, invFile, lb string, roots *x509.CertPool) {
	addr := e.machines["rs1"].Address
	e.mustSh("rs1", "printf '%s school-a.rs1.omc.test\\n' "+addr+" >> /etc/hosts")
	san := func() string {
		return e.mustSh("rs1", "openssl x509 -in /etc/letsencrypt/live/rs1.omc.test/cert.pem -noout -ext subjectAltName")
	}
	certChanged := func(changed []string) bool {
		for _, c := range changed {
			if strings.HasPrefix(c, "rs1: certificate rs1.omc.test ") {
				return true
			}
		}
		return false
	}

	if _, err := inventory.SetTenant(invFile, "e2e", "school-a", true); err != nil {
		t.Fatal(err)
	}
	e.loadFile(invFile)
	if changed := e.mustConverge("rs1"); !certChanged(changed) {
		t.Fatalf("adding a tenant did not replace the certificate:\n%s", strings.Join(changed, "\n"))
	}
	if again := e.mustConverge("rs1"); len(again) != 0 {
		t.Fatalf("a second run changed something:\n%s", strings.Join(again, "\n"))
	}
	if s := san(); !strings.Contains(s, "DNS:rs1.omc.test") || !strings.Contains(s, "DNS:school-a.rs1.omc.test") {
		t.Fatalf("the certificate's names: %s", s)
	}
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "school-a.rs1.omc.test"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, net.JoinHostPort(addr, "443"))
		}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := &scalelite.Client{URL: "https://school-a.rs1.omc.test", Secret: lb, HTTP: hc}
	if _, err := c.List(ctx); err != nil {
		t.Fatalf("Scalelite on the tenant's sub-domain: %v", err)
	}

	if _, err := inventory.SetTenant(invFile, "e2e", "school-a", false); err != nil {
		t.Fatal(err)
	}
	e.loadFile(invFile)
	if changed := e.mustConverge("rs1"); !certChanged(changed) {
		t.Fatalf("removing the tenant did not replace the certificate:\n%s", strings.Join(changed, "\n"))
	}
	if s := san(); strings.Contains(s, "school-a") {
		t.Fatalf("the certificate still names the tenant: %s", s)
	}
}
