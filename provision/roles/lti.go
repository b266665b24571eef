package roles

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/templates"
)

// BBB's LTI framework on a BBB node, as bbb-install's -t KEY:SECRET sets
// it up: the LTI broker and its rooms app with PostgreSQL and Redis in
// Docker (compose), each app's .env, nginx at /lti and /apps/rooms, the
// rooms app registered with the broker and the consumer key added.
// Unlike bbb-install, the consumer secret is never on a command line of
// omc's (it is derived from the seed, or an inventory secret), the rooms
// app's OAuth credentials are derived rather than made anew on each run,
// and the registration runs only when what it registers changed.
const (
	ltiDir      = "/opt/bbb-lti"
	ltiUnit     = "omc-lti"
	ltiNginx    = "/etc/nginx/omc-lti.nginx"
	ltiRegister = ltiDir + "/registration.env"
	// ltiRegistered records the registration file's checksum once the
	// broker took it. It lives beside the broker's database (data/), so
	// a wiped database is registered again.
	ltiRegistered = ltiDir + "/data/omc-registered.sum"
	ltiBrokerPort = 3030 // the broker on 127.0.0.1, as its compose file publishes it
	ltiRoomsPort  = 3131 // the rooms app
	// The default images (settings.lti's defaults) are the newest
	// releases of each repository. The broker's rake tasks are 2.x's
	// (key:*, apps:*); 1.x named them db:keys:* and db:apps:*, which is
	// what bbb-install still calls.

	purposeLTIPG       = "lti-postgres"
	purposeLTIBroker   = "lti-broker-secret-key-base"
	purposeLTIRooms    = "lti-rooms-secret-key-base"
	purposeLTIOAuthKey = "lti-rooms-oauth-key"
	purposeLTIOAuth    = "lti-rooms-oauth-secret"
	purposeLTIConsumer = "lti-consumer:" // + the key
)

var (
	// reLTIKey: a rake argument, so no comma, bracket or quote (the
	// inventory checks settings.lti.key the same way).
	reLTIKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	// reLTISecret: what survives a rake argument list unsplit.
	reLTISecret = regexp.MustCompile(`^[A-Za-z0-9._~+/=:@-]{8,}$`)
)

// CheckLTIKey says why key cannot be a consumer key, or nil.
func CheckLTIKey(key string) error {
	if !reLTIKey.MatchString(key) {
		return fmt.Errorf("%q is not a consumer key: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", key)
	}
	return nil
}

// ltiSecrets are the LTI framework's secrets on node n, derived from the
// seed but for the consumer secret that settings.lti.secret names.
type ltiSecrets struct {
	PG, BrokerKey, RoomsKey, OAuthKey, OAuthSecret, Consumer string
}

func (x secrets) lti(n *inventory.Node, s *inventory.Settings) (ltiSecrets, error) {
	seed, err := x.seed(n, s)
	if err != nil {
		return ltiSecrets{}, err
	}
	d := func(p string) string { return derive(p, n.Name, seed) }
	l := ltiSecrets{PG: d(purposeLTIPG)[:48], BrokerKey: d(purposeLTIBroker) + d(purposeLTIBroker+"-2"),
		RoomsKey: d(purposeLTIRooms) + d(purposeLTIRooms+"-2"), OAuthKey: d(purposeLTIOAuthKey)[:48], OAuthSecret: d(purposeLTIOAuth)[:48],
		Consumer: d(purposeLTIConsumer + s.LTI.Key)[:48]}
	if s.LTI.Secret == "" {
		return l, nil
	}
	v, ok := x.inv.Secret(s.LTI.Secret)
	if !ok {
		return ltiSecrets{}, atSetting("lti.secret", "node %s: settings.lti.secret: no secret named %q in the inventory", n.Name, s.LTI.Secret)
	}
	if !reLTISecret.MatchString(v) { // the value itself is never shown
		return ltiSecrets{}, atSetting("lti.secret", "node %s: settings.lti.secret: the secret %q must be at least 8 of A-Z a-z 0-9 . _ ~ + / = : @ - (the broker takes it as a rake argument)", n.Name, s.LTI.Secret)
	}
	l.Consumer = v
	return l, nil
}

func (l ltiSecrets) values() []string {
	return []string{l.PG, l.BrokerKey, l.RoomsKey, l.OAuthKey, l.OAuthSecret, l.Consumer}
}

// ltiNginxFile writes the LTI framework's nginx file, before the site
// that includes it (whose nginx -t check then covers both).
func (b *builder) ltiNginxFile() {
	b.addFile(ltiNginx, templates.LTINginx, templates.LTI{BrokerPort: ltiBrokerPort, RoomsPort: ltiRoomsPort}, 0o644, "root", "root", "nginx")
}

// LTIRegistrationFile is the root-only file on a node with settings.lti
// that holds what an LMS needs: LTI_KEY, LTI_SECRET and LTI_LAUNCH_URL.
const LTIRegistrationFile = ltiRegister

// LTILaunchURL is where an LMS launches the rooms app on a node serving
// domain (the broker's key:show:url prints the same).
func LTILaunchURL(domain string) string { return "https://" + domain + "/lti/rooms/messages/blti" }

// lti adds the steps of settings.lti on a bbb node, once BBB answers:
// the compose project, the unit running it, and the registration.
func (b *builder) lti(line nodeLine) {
	n, s := b.n, b.s
	api, err := b.sec.api(n, s)
	b.fail(err)
	sec, err := b.sec.lti(n, s)
	b.fail(err)
	if len(b.errs) > 0 {
		return
	}
	b.compose(line)
	for _, d := range []string{ltiDir, ltiDir + "/broker", ltiDir + "/rooms"} {
		b.add(&provision.DirStep{Path: d, Mode: 0o750, Owner: "root", Group: "root"})
	}
	data := templates.LTI{BrokerImage: s.LTI.BrokerImage, RoomsImage: s.LTI.RoomsImage, BrokerPort: ltiBrokerPort, RoomsPort: ltiRoomsPort, Dir: ltiDir}
	b.addFile(ltiDir+"/docker-compose.yml", templates.LTICompose, data, 0o644, "root", "root", ltiUnit)
	env := templates.LTIEnv{Host: n.Domain, Endpoint: "https://" + n.Domain + "/bigbluebutton/", Secret: api,
		PostgresPassword: sec.PG, OAuthKey: sec.OAuthKey, OAuthSecret: sec.OAuthSecret}
	b.addFile(ltiDir+"/.env", templates.LTIDotEnv, env, 0o600, "root", "root", ltiUnit)
	env.SecretKeyBase = sec.BrokerKey
	b.addFile(ltiDir+"/broker/.env", templates.LTIBrokerEnv, env, 0o600, "root", "root", ltiUnit)
	env.SecretKeyBase = sec.RoomsKey
	b.addFile(ltiDir+"/rooms/.env", templates.LTIRoomsEnv, env, 0o600, "root", "root", ltiUnit)
	b.addFile("/etc/systemd/system/"+ltiUnit+".service", templates.LTIUnit, data, 0o644, "root", "root", ltiUnit)
	b.add(daemonReload(ltiUnit + ".service"))
	b.add(&provision.ServiceStep{Name: ltiUnit, Enabled: true, Running: true})
	b.addFile(ltiRegister, templates.LTIRegister, templates.LTIRegistration{App: "rooms",
		Callback: "https://" + n.Domain + "/apps/rooms/auth/bbbltibroker/callback",
		OAuthKey: sec.OAuthKey, OAuthSecret: sec.OAuthSecret, Key: s.LTI.Key, Secret: sec.Consumer, LaunchURL: LTILaunchURL(n.Domain)},
		0o600, "root", "root")
	b.add(ltiRegistration())
}

// ltiRegistration registers the rooms app and the consumer key with the
// broker, as bbb-install's register_lti_tool and install_lti do (show,
// then add or update), when registration.env differs from what the
// broker last took. It reads the secrets from that file on the node, so
// none is part of the step; rake prints them, so its output is kept
// unless a task fails. It waits for the broker to answer HTTP, which it
// does once its start script has migrated the database (bbb-install
// waits for rake db:version and 3 s more). db:seed first makes the
// broker's default tenant (uid ""), which key:new and key:update look
// up: the start script loads the schema without seeding.
func ltiRegistration() *provision.CommandStep {
	sum := "sha256sum < " + shell.Quote(ltiRegister) + " | cut -d' ' -f1"
	return &provision.CommandStep{
		Label:   "lti: register the rooms app and the consumer key with the broker",
		Unless:  `[ "$(` + sum + `)" = "$(cat ` + shell.Quote(ltiRegistered) + ` 2>/dev/null)" ]`,
		Timeout: provision.DefaultCommandTimeout / 4,
		Run: `set -e
umask 077
cd ` + shell.Quote(ltiDir) + `
. ./registration.env
mkdir -p data
# Lines naming a credential are never shown.
show() { grep -v -F -e "$OAUTH_KEY" -e "$OAUTH_SECRET" -e "$LTI_SECRET" .rake.out >&2 || true; }
rk() { docker compose exec -T broker bundle exec rake "$@" > .rake.out 2>&1; }
i=0
until curl -s -o /dev/null -m 5 http://127.0.0.1:` + strconv.Itoa(ltiBrokerPort) + `/lti/; do
  i=$((i+1))
  if [ $i -ge 60 ]; then echo "the LTI broker did not answer on 127.0.0.1:` + strconv.Itoa(ltiBrokerPort) + ` in 5 minutes (see docker compose ps, journalctl -u ` + ltiUnit + `)" >&2; exit 1; fi
  sleep 5
done
step() { if ! rk "$1"; then echo "rake $2 failed:" >&2; show; rm -f .rake.out; exit 1; fi; }
step db:seed db:seed
if rk "apps:show[$APP]"; then step "apps:update[$APP,$CALLBACK,$OAUTH_KEY,$OAUTH_SECRET]" "apps:update[$APP,...]"
else step "apps:add[$APP,$CALLBACK,$OAUTH_KEY,$OAUTH_SECRET]" "apps:add[$APP,...]"; fi
if ! rk "key:update[$LTI_KEY,$LTI_SECRET]"; then step "key:new[$LTI_KEY,$LTI_SECRET]" "key:new[$LTI_KEY,...]"; fi
rm -f .rake.out
` + sum + ` > ` + shell.Quote(ltiRegistered),
	}
}

// compose installs Docker Compose once for the node's Docker apps
// (Greenlight, the LTI framework). Docker itself comes with a known
// line's dependencies; a build for another OS brings its own.
func (b *builder) compose(line nodeLine) {
	if !line.Native {
		return
	}
	for _, st := range b.steps {
		if p, ok := st.(*provision.PackagesStep); ok && len(p.Names) == 1 && p.Names[0] == "docker-compose-plugin" {
			return
		}
	}
	b.add(&provision.PackagesStep{Names: []string{"docker-compose-plugin"}})
}
