package roles

import (
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/templates"
)

// Greenlight v3 on a BBB node, as bbb-install's -g sets it up: Greenlight,
// PostgreSQL and Redis in Docker (compose), its .env pointing at the
// node's own BBB, and nginx serving it at / through BBB's @bbb-fe hook.
// Unlike bbb-install, omc writes the compose file, .env and nginx file
// itself (bbb-install copies them out of the image), and derives the
// secrets from the seed, so a rebuilt node gets the same ones.
const (
	glDir      = "/opt/greenlight-v3"
	glUnit     = "omc-greenlight"
	glNginx    = "/etc/nginx/omc-greenlight.nginx"
	glPort     = 5050 // Greenlight's port on 127.0.0.1, as its compose file publishes it
	purposeGLK = "greenlight-secret-key-base"
	purposeGLP = "greenlight-postgres"
)

// glSecrets: Greenlight's SECRET_KEY_BASE (128 hex digits, as rails
// secret prints) and its PostgreSQL password, derived from the seed.
func (x secrets) greenlight(n *inventory.Node, s *inventory.Settings) (key, pg string, err error) {
	seed, err := x.seed(n, s)
	if err != nil {
		return "", "", err
	}
	return derive(purposeGLK, n.Name, seed) + derive(purposeGLK+"-2", n.Name, seed), derive(purposeGLP, n.Name, seed)[:48], nil
}

// greenlightNginx writes Greenlight's nginx file, before the site that
// includes it (whose nginx -t check then covers both).
func (b *builder) greenlightNginx() {
	b.addFile(glNginx, templates.GreenlightNginx, templates.Greenlight{Port: glPort}, 0o644, "root", "root", "nginx")
}

// greenlight adds the steps of settings.greenlight on a bbb node, once
// BBB answers: Greenlight's compose project and the unit running it.
func (b *builder) greenlight(line nodeLine) {
	n, s := b.n, b.s
	api, err := b.sec.api(n, s)
	b.fail(err)
	key, pg, err := b.sec.greenlight(n, s)
	b.fail(err)
	if len(b.errs) > 0 {
		return
	}
	b.compose(line)
	b.add(&provision.DirStep{Path: glDir, Mode: 0o750, Owner: "root", Group: "root"})
	b.addFile(glDir+"/docker-compose.yml", templates.GreenlightCompose, templates.Greenlight{Image: s.Greenlight.Image, Port: glPort}, 0o644, "root", "root", glUnit)
	env := templates.GreenlightEnv{Endpoint: "https://" + n.Domain + "/bigbluebutton/", Secret: api, SecretKeyBase: key, PostgresPassword: pg}
	b.addFile(glDir+"/.env", templates.GreenlightDotEnv, env, 0o600, "root", "root", glUnit)
	b.addFile("/etc/systemd/system/"+glUnit+".service", templates.GreenlightUnit, templates.Greenlight{Dir: glDir}, 0o644, "root", "root", glUnit)
	b.add(daemonReload(glUnit + ".service"))
	b.add(&provision.ServiceStep{Name: glUnit, Enabled: true, Running: true})
}
