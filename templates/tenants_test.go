package templates

import (
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/golden"
)

// A scalelite node with tenants answers their sub-domains beside its own:
// for ACME's http-01 on port 80, and for Scalelite on 443.
func TestTenantsGolden(t *testing.T) {
	aliases := []string{"school-a.scalelite.example.org", "school-b.scalelite.example.org"}
	for file, c := range map[string]struct {
		name string
		data any
	}{
		"nginx-acme-tenants": {NginxACME, Nginx{Domain: "scalelite.example.org", Aliases: aliases, Webroot: "/var/www/omc-acme", Redirect: true}},
		"nginx-scalelite-tenants": {ScaleliteNginx, ScaleliteSite{Domain: "scalelite.example.org", Aliases: aliases,
			Cert: "/etc/letsencrypt/live/scalelite.example.org/fullchain.pem", Key: "/etc/letsencrypt/live/scalelite.example.org/privkey.pem", Port: 3000}},
	} {
		t.Run(file, func(t *testing.T) {
			got, err := Render(c.name, c.data)
			if err != nil {
				t.Fatal(err)
			}
			want := "\tserver_name scalelite.example.org school-a.scalelite.example.org school-b.scalelite.example.org;\n"
			if !strings.Contains(string(got), want) {
				t.Errorf("server_name does not list the tenants:\n%s", got)
			}
			golden.Assert(t, file+".golden", got)
		})
	}
}
