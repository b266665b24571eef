package roles

import (
	"fmt"
	"strings"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/templates"
)

// Files omc owns on a BBB node: BBB's override locations, which package
// upgrades leave alone.
const (
	bbbWebProps   = "/etc/bigbluebutton/bbb-web.properties"
	bbbHTML5      = "/etc/bigbluebutton/bbb-html5.yml"
	bbbSFU        = "/etc/bigbluebutton/bbb-webrtc-sfu/production.yml"
	bbbTurn       = "/etc/bigbluebutton/turn-stun-servers.xml"
	bbbNginxSite  = "/etc/nginx/sites-available/bigbluebutton"
	fsVars        = "/opt/freeswitch/conf/vars.xml"
	bbbRepoList   = "/etc/apt/sources.list.d/omc-bigbluebutton.list"
	bbbRepoKey    = "/etc/apt/keyrings/omc-bigbluebutton.asc"
	bbbAppliedSum = "/var/lib/omc/bbb-applied.sum"
	imPolicy      = "/etc/ImageMagick-6/policy.xml" // Ubuntu 24.04's imagemagick is 6.9
)

// bbbConfigFiles: a change to any of them needs BBB restarted.
var bbbConfigFiles = []string{bbbWebProps, bbbHTML5, bbbSFU, bbbTurn, fsVars}

// nodeLine is the line a node installs: a known line (Lines), or one
// its settings describe (bbb_os with bbb_repo). Native is false for a
// known line built for another OS than its own (bbb_os and bbb_repo
// both set, as the E2E stand-in is): that build brings its own
// dependencies, so the line's Ubuntu sources, Java, Node and Docker are
// left out, while everything else about the line (its keys, layouts and
// packages) still holds.
type nodeLine struct {
	Line
	Native bool
}

// bbbLine resolves the node's BBB line, its OS and package source.
func (b *builder) bbbLine() (nodeLine, bool) {
	n, s := b.n, b.s
	line, known := LookupLine(s.BBBVersion)
	switch {
	case s.BBBVersion == "":
		b.fail(fmt.Errorf("node %s: settings.bbb_version is required for bbb nodes (known: %s)", n.Name, KnownLines()))
		return nodeLine{}, false
	case known && s.BBBOS != "" && s.BBBOS != line.OS && (s.BBBRepo == nil || s.BBBRepo.URL == ""):
		b.fail(atSetting("bbb_os", "node %s: settings.bbb_os: BBB %s runs on %s only, not %s (a build of it for another OS needs bbb_repo too)", n.Name, s.BBBVersion, line.OS, s.BBBOS))
		return nodeLine{}, false
	case !known && (s.BBBOS == "" || (s.BBBRepo == nil || s.BBBRepo.URL == "")):
		b.fail(atSetting("bbb_version", "node %s: settings.bbb_version %q is not a line omc knows (known: %s): set bbb_os and bbb_repo for it", n.Name, s.BBBVersion, KnownLines()))
		return nodeLine{}, false
	case !known:
		line = Line{Version: s.BBBVersion, OS: s.BBBOS, Packages: []string{"bigbluebutton"}}
	}
	nl := nodeLine{Line: line, Native: known && (s.BBBOS == "" || s.BBBOS == line.OS)}
	if s.BBBOS != "" {
		nl.OS = s.BBBOS
	}
	if s.BBBRepo != nil && s.BBBRepo.URL != "" {
		nl.Repo = *s.BBBRepo
	}
	return nl, true
}

// preflight: the first step of a BBB node, so a wrong OS stops the run
// before anything at all is installed.
func (b *builder) preflight() {
	if line, ok := b.bbbLine(); ok {
		b.add(&BBBPreflight{Version: b.s.BBBVersion, OS: line.OS})
	}
}

func (b *builder) bbb() {
	n, s := b.n, b.s
	if n.Domain == "" {
		return // tls already said so
	}
	line, ok := b.bbbLine()
	if !ok {
		return
	}
	repo := line.Repo
	// The package source.
	b.add(&provision.PackagesStep{Names: []string{"ca-certificates", "curl"}})
	opts := "[trusted=yes]"
	if !repo.Trusted {
		if repo.KeyURL == "" {
			b.fail(atSetting("bbb_repo", "node %s: settings.bbb_repo: key_url is required unless trusted: true", n.Name))
			return
		}
		opts = "[signed-by=" + bbbRepoKey + "]"
		b.add(keyStep("bbb repository key", repo.KeyURL, bbbRepoKey))
	}
	b.add(&provision.FileStep{Path: bbbRepoList, Mode: 0o644, Owner: "root", Group: "root",
		Content: []byte("# Managed by omc: BigBlueButton " + s.BBBVersion + "\ndeb " + opts + " " + repo.URL + " " + repo.Suite + " " + repo.Components + "\n")})
	if line.Native {
		b.lineDeps(line.Line)
	}
	// BBB's services want a UTF-8 locale (bbb-install sets it for the
	// running manager; omc also makes it survive a reboot).
	b.add(&provision.FileStep{Path: "/etc/systemd/system.conf.d/50-omc-lang.conf", Mode: 0o644, Owner: "root", Group: "root",
		Content: []byte("# Managed by omc: BigBlueButton's services want a UTF-8 locale.\n[Manager]\nDefaultEnvironment=LANG=C.UTF-8\n")},
		&provision.CommandStep{Label: "systemd LANG=C.UTF-8", Run: "systemctl set-environment LANG=C.UTF-8",
			Unless: "systemctl show-environment | grep -q '^LANG=.*UTF-8'"})

	pkgs := s.BBBPackages
	if len(pkgs) == 0 {
		pkgs = line.Packages
	}
	step := &BBBPackagesStep{Packages: provision.PackagesStep{Names: pkgs}, Force: s.BBBForce, Upgrade: n.Run.UpgradeBBB}
	if g := b.inv.Group(n.Group); g != nil && g.Pool != nil && !n.Run.UpgradeBBB && !s.BBBForce {
		step.Pool = n.Group
	}
	b.add(step)
	b.restoredOwners("bbb", false)
	b.add(&BBBSetIPStep{Domain: n.Domain, Force: s.BBBForce},
		// Recordings are played back over https, as bbb-install sets.
		&provision.LineStep{Path: bbbRecordingYML, Line: "playback_protocol: https", Match: regexpMust(`^playback_protocol:`)})

	if line.ImageMagickPolicy && line.Native { // a build for another OS brings its own ImageMagick
		b.addFile(imPolicy, templates.ImageMagickPolicy, nil, 0o644, "root", "root")
	}
	b.bbbConfig(line)
	b.add(&BBBRestartStep{Files: bbbConfigFiles, Force: s.BBBForce},
		&BBBHealthStep{Wait: 180})
	if s.Greenlight != nil {
		b.greenlight(line)
	}
	b.recordingTransfer()
	if s.LTI != nil {
		b.lti(line)
	}
}

// LineOS returns the OS (as "ID-VERSION_ID" from /etc/os-release) that
// node n's BBB line runs on, with the same rules as the bbb role.
func LineOS(n *inventory.Node) (string, error) {
	s := settingsOf(n)
	b := &builder{n: n, s: s}
	line, ok := b.bbbLine()
	if !ok {
		return "", b.err()
	}
	return line.OS, nil
}

// bbbConfig: the secrets and tuning, in BBB's override files only.
func (b *builder) bbbConfig(line nodeLine) {
	n, s := b.n, b.s
	api, err := b.sec.api(n, s)
	b.fail(err)
	fsPass, err := b.sec.freeswitch(n, s)
	b.fail(err)
	turns, err := b.turnServers()
	b.fail(err)
	_, public, err := addrs(n, s)
	b.fail(err)
	t, err := parseTune(n.Name, s.BBB, line.Layouts)
	b.fail(err)
	if len(b.errs) > 0 {
		return
	}
	// allowRevealOfBBBVersion: BBB ships false, which empties the API
	// root's bbbVersion; omc's health gate and Scalelite read it there.
	// Tuning (settings.bbb.properties) comes after and may turn it off.
	web := append([]templates.KV{{Key: "bigbluebutton.web.serverURL", Value: "https://" + n.Domain}, {Key: "securitySalt", Value: api},
		{Key: "allowRevealOfBBBVersion", Value: "true"}}, t.web...)
	b.addFile(bbbWebProps, templates.BBBWeb, templates.Properties{Node: n.Name, Entries: web}, 0o640, "root", "bigbluebutton")

	html5, err := yamlBody(t.html5)
	b.fail(err)
	b.addFile(bbbHTML5, templates.BBBHTML5, templates.YAMLOverride{Node: n.Name, Body: html5}, 0o644, "root", "root")

	// Behind NAT, mediasoup must announce the public address.
	sfu := map[string]any{}
	if s.PublicIP != "" {
		setPath(sfu, []string{"mediasoup", "webrtc", "listenIps"}, []any{map[string]any{"ip": "0.0.0.0", "announcedIp": public}})
		setPath(sfu, []string{"mediasoup", "plainRtp", "listenIp"}, map[string]any{"ip": "0.0.0.0", "announcedIp": public})
	}
	merge(sfu, t.sfu)
	body, err := yamlBody(sfu)
	b.fail(err)
	b.addFile(bbbSFU, templates.WebRTCSFU, templates.YAMLOverride{Node: n.Name, Body: body}, 0o644, "root", "root")
	b.addFile(bbbTurn, templates.TurnStunServers, turns, 0o640, "root", "bigbluebutton")

	// FreeSWITCH has no override file: omc sets its lines in vars.xml,
	// and puts them back if an upgrade replaced the file.
	vars, err := templates.Render(templates.FreeSWITCHVars, templates.FreeSWITCH{ExternalRTPIP: public, ExternalSIPIP: public, DefaultPassword: fsPass})
	b.fail(err)
	for _, l := range strings.Split(strings.TrimRight(string(vars), "\n"), "\n") {
		name := strings.SplitN(strings.SplitN(l, `data="`, 2)[1], "=", 2)[0]
		b.add(&secretLine{id: "line " + fsVars + ": " + name,
			LineStep: &provision.LineStep{Path: fsVars, Line: l, Match: regexpMust(`^\s*<X-PRE-PROCESS cmd="set" data="` + name + `=`)}})
	}
	site := templates.Nginx{Domain: n.Domain, Webroot: acmeWebroot, Redirect: true,
		Cert: livePath(n.Domain, "fullchain.pem"), Key: livePath(n.Domain, "privkey.pem")}
	if b.localTURN() {
		site.Behind = nginxBehind
	}
	if s.Greenlight != nil {
		b.greenlightNginx()
		site.Frontend = glNginx
	}
	if s.LTI != nil {
		b.ltiNginxFile()
		site.Apps = ltiNginx
	}
	if f, err := file(bbbNginxSite, templates.NginxBBB, site, 0o644, "root", "root", "nginx"); err != nil {
		b.fail(err)
	} else {
		b.add(&checkedFile{FileStep: f, Check: "nginx -t -q"})
	}
	if b.localTURN() {
		b.haproxy()
	}
}

// UpgradeCheck is the BBB packages step omc upgrade would run on node n:
// its Probe, run on the node, and Moves on the output tell whether the
// repository has a newer BBB than the node runs, before the node is
// drained for nothing.
func UpgradeCheck(inv *inventory.Inventory, n *inventory.Node, fleet []*inventory.Node) (*BBBPackagesStep, error) {
	c := *n
	c.Run.UpgradeBBB = true
	steps, err := Steps(inv, &c, fleet)
	if err != nil {
		return nil, err
	}
	for _, st := range steps {
		if p, ok := st.(*BBBPackagesStep); ok {
			return p, nil
		}
	}
	return nil, fmt.Errorf("node %s: no BBB packages step (not a bbb node?)", n.Name)
}
