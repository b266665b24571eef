package roles

import (
	"fmt"
	"net/url"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/templates"
)

// Scalelite on a scalelite node, as Scalelite's docker-README deploys it:
// its api, poller and recording-importer containers under systemd, each
// from Scalelite's own image at the pinned release, with PostgreSQL and
// Redis beside them. Where omc differs, and why:
//   - PostgreSQL and Redis are the distribution's packages on the node
//     (backed up by the backup role's pg_dump), on loopback only; the
//     containers use the host's network to reach them.
//   - Docker's own iptables rules are off (daemon.json): omc's nftables
//     ruleset is the node's only firewall and would flush them.
//   - The node's nginx, with omc's TLS step (ACME, renewal), stands in
//     for Scalelite's nginx container; the recording player is copied out
//     of that container's image once per release.
//   - Images are pulled once by omc, never at each start.
//
// Scalelite's API makes and migrates its database itself when it starts
// (bin/start: db:create, then db:schema:load or db:migrate).
const (
	slEnvFile   = "/etc/default/scalelite"
	slPort      = 3000 // the API on 127.0.0.1 (BIND), as Scalelite's default port
	slSite      = "/etc/nginx/conf.d/omc-scalelite.conf"
	slDBFile    = "/etc/scalelite/omc-db.sql"
	slDBApplied = "/etc/scalelite/omc-db.sql.applied"
	slRoot      = "/var/bigbluebutton"
	slTarget    = "scalelite.target"
	// The containers run as uid 1000 in group scalelite-spool (gid 2000),
	// as Scalelite's image and shared-volume docs set them up.
	slUID, slGID  = "1000", "2000"
	purposeSLKey  = "scalelite-secret-key-base"
	purposeSLDB   = "scalelite-postgres"
	dockerDaemon  = "/etc/docker/daemon.json"
	slPlaybackDir = slRoot + "/playback"
)

// slContainers are Scalelite's long-running containers: the unit, the
// image tag's suffix, and whether it reads /var/bigbluebutton.
var slContainers = []struct {
	Name, Suffix, Description string
	Recordings                bool
}{
	{"scalelite-api", "api", "Scalelite API", true},
	{"scalelite-poller", "poller", "Scalelite meeting status poller", false},
	{"scalelite-recording-importer", "recording-importer", "Scalelite recording importer", true},
}

// RunsScalelite says whether omc installs and runs Scalelite on n: a
// scalelite node, unless its settings say omc does not manage it. Every
// package that asks (roles, the pool sync) asks here, so that the default
// is decided once.
func RunsScalelite(n *inventory.Node) bool {
	return has(n, RoleScalelite) && scaleliteOf(&n.Settings).Managed
}

// scaleliteOf is n's settings.scalelite, defaults when it writes none.
func scaleliteOf(s *inventory.Settings) *inventory.ScaleliteSettings {
	if s.Scalelite != nil {
		return s.Scalelite
	}
	return inventory.WithDefaults[inventory.ScaleliteSettings]()
}

// scalelite adds the steps of a scalelite node, after its certificate.
func (b *builder) scalelite() {
	n, s := b.n, b.s
	sl := scaleliteOf(s)
	g := b.inv.Group(n.Group)
	if g == nil || g.Pool == nil {
		b.fail(fmt.Errorf("node %s: the scalelite role runs its group's pool: groups.%s.pool needs the url and secret Scalelite will answer with", n.Name, n.Group))
		return
	}
	if u, err := url.Parse(g.Pool.URL); err != nil || u.Hostname() != n.Domain {
		b.fail(&inventory.Error{File: b.inv.Path, Pos: g.Pool.Pos, Msg: fmt.Sprintf("groups.%s.pool.url %s must be https://%s (the domain of scalelite node %s)", n.Group, g.Pool.URL, n.Domain, n.Name)})
		return
	}
	if g.Pool.Secret == nil || !g.Pool.Secret.IsSet() {
		b.fail(fmt.Errorf("node %s: groups.%s.pool.secret is not set: it is Scalelite's LOADBALANCER_SECRET", n.Name, n.Group))
		return
	}
	if len(g.Pool.Tenants) > 0 && !sl.Multitenancy {
		b.fail(fmt.Errorf("%s:%d:%d: groups.%s.pool.tenants lists %d tenants, but scalelite node %s has settings.scalelite.multitenancy false: "+
			"Scalelite answers tenants' sub-domains only with MULTITENANCY_ENABLED=true (it then allows the hosts .%s)",
			b.inv.Path, g.Pool.Pos.Line, g.Pool.Pos.Col, n.Group, len(g.Pool.Tenants), n.Name, n.Domain))
		return
	}
	key, pg, err := b.sec.scalelite(n, s)
	b.fail(err)
	if len(b.errs) > 0 {
		return
	}
	image := func(suffix string) string { return sl.Image + ":" + sl.Version + "-" + suffix }

	b.addFile(dockerDaemon, templates.DockerDaemon, nil, 0o644, "root", "root", "docker")
	b.add(&provision.PackagesStep{Names: []string{"docker.io", "postgresql", "redis-server"}})
	for _, svc := range []string{"docker", "postgresql", "redis-server"} {
		b.add(&provision.ServiceStep{Name: svc, Enabled: true, Running: true})
	}

	// The database role: applied when its file differs from what was
	// last applied, so a new seed rotates the password on the next run.
	b.add(&provision.DirStep{Path: "/etc/scalelite", Mode: 0o700, Owner: "root", Group: "root"})
	b.addFile(slDBFile, templates.ScaleliteDB, templates.ScaleliteDBData{Password: pg}, 0o600, "root", "root")
	b.add(&provision.CommandStep{
		Label:  "scalelite's database role",
		Run:    "runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -f - < " + slDBFile + " && install -m 600 " + slDBFile + " " + slDBApplied,
		Unless: "cmp -s " + slDBFile + " " + slDBApplied,
	})
	b.add(scaleliteLoads()...)

	for _, c := range slContainers {
		b.add(pullStep(image(c.Suffix)))
	}
	b.add(pullStep(image("nginx")))

	b.add(&provision.DirStep{Path: slRoot + "/recording", Mode: 0o755, Owner: "root", Group: "root"})
	for _, d := range []string{"spool", "recording/scalelite", "published", "unpublished"} {
		b.add(&provision.DirStep{Path: slRoot + "/" + d, Mode: 0o775, Owner: slUID, Group: slGID})
	}
	b.add(playbackStep(image("nginx"), sl.Version))
	b.spoolAccount()

	env := templates.ScaleliteEnvData{Domain: n.Domain, SecretKeyBase: key, LoadBalancerSecret: g.Pool.Secret.Value(), DBPassword: pg,
		Tag: sl.Version, Port: slPort, PollInterval: sl.PollInterval, Multitenancy: sl.Multitenancy}
	var units []string
	for _, c := range slContainers {
		units = append(units, c.Name)
	}
	b.addFile(slEnvFile, templates.ScaleliteEnv, env, 0o600, "root", "root", units...)
	b.addFile("/etc/systemd/system/"+slTarget, templates.ScaleliteTarget, nil, 0o644, "root", "root")
	for _, c := range slContainers {
		b.addFile("/etc/systemd/system/"+c.Name+".service", templates.ScaleliteUnit,
			templates.ScaleliteService{Name: c.Name, Description: c.Description, Image: image(c.Suffix), Recordings: c.Recordings}, 0o644, "root", "root", c.Name)
	}
	b.add(daemonReload(slTarget))
	b.add(&provision.ServiceStep{Name: slTarget, Enabled: true, Running: true})
	for _, c := range slContainers {
		b.add(daemonReload(c.Name + ".service"))
		b.add(&provision.ServiceStep{Name: c.Name, Enabled: true, Running: true})
	}

	site := templates.ScaleliteSite{Domain: n.Domain, Aliases: b.tenantDomains(), Cert: livePath(n.Domain, "fullchain.pem"), Key: livePath(n.Domain, "privkey.pem"), Port: slPort}
	if f, err := file(slSite, templates.ScaleliteNginx, site, 0o644, "root", "root", "nginx"); err != nil {
		b.fail(err)
	} else {
		b.add(&checkedFile{FileStep: f, Check: "nginx -t -q"})
	}
}

// pullStep pulls image once; a pinned tag never moves, so a present
// image is the wanted one.
func pullStep(image string) *provision.CommandStep {
	return &provision.CommandStep{
		Label:   "pull " + image,
		Run:     "docker pull -q " + image,
		Unless:  "docker image inspect " + image + " >/dev/null 2>&1",
		Timeout: 30 * time.Minute,
	}
}

// playbackStep copies the recording player (bbb-playback) out of
// Scalelite's nginx image, once per release, replacing the old one whole.
func playbackStep(image, version string) *provision.CommandStep {
	marker := slPlaybackDir + "/.omc-" + version
	return &provision.CommandStep{
		Label: "recording player from " + image,
		Run: `set -e
c=$(docker create ` + image + `)
trap 'docker rm -f "$c" >/dev/null' EXIT
rm -rf ` + slPlaybackDir + `.new
docker cp "$c:` + slPlaybackDir + `" ` + slPlaybackDir + `.new
touch ` + slPlaybackDir + `.new/.omc-` + version + `
rm -rf ` + slPlaybackDir + `
mv ` + slPlaybackDir + `.new ` + slPlaybackDir,
		Creates: marker,
	}
}

// scalelite: Scalelite's SECRET_KEY_BASE (128 hex digits, as rake secret
// prints) and its PostgreSQL password, derived from the seed.
func (x secrets) scalelite(n *inventory.Node, s *inventory.Settings) (key, pg string, err error) {
	seed, err := x.seed(n, s)
	if err != nil {
		return "", "", err
	}
	return derive(purposeSLKey, n.Name, seed) + derive(purposeSLKey+"-2", n.Name, seed), derive(purposeSLDB, n.Name, seed)[:48], nil
}

// tenantDomains are the sub-domains of the pool's tenants when n is the
// node its domain names: its certificate and nginx answer them too.
func (b *builder) tenantDomains() []string {
	g := b.inv.Group(b.n.Group)
	if !has(b.n, RoleScalelite) || g == nil || g.Pool == nil || g.Pool.Domain() != b.n.Domain {
		return nil
	}
	return g.Pool.TenantDomains()
}
