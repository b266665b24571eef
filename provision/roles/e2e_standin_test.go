package roles

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The BBB packages exist only for Ubuntu, so the E2E tests install a
// STAND-IN "bigbluebutton" package they build here: bbb-conf, a tiny API
// responder that checks checksums like BBB (testdata/standin/api.go),
// the override and package files omc touches, and a postinst that
// restarts the API as a real upgrade restarts BBB. It is clearly marked as
// a stand-in in its description and version.
//
// It is built for one BBB line and is as strict as that line's real
// package would be where omc's writes matter: its default
// bigbluebutton.properties holds exactly the line's keys
// (testdata/upstream/bbb-config), and its bbb-conf --restart first runs
// "bbb-standin-api check" (testdata/standin/api.go), which fails on a key
// the line does not know, a vars.xml that is not well-formed, an html5 or
// webrtc-sfu override with a setting the line lacks, or a playback host
// that bbb-conf --setip did not set to the node's domain.

const standinUnit = `[Unit]
Description=STAND-IN for BigBlueButton's API (omc tests only)
[Service]
User=bigbluebutton
ExecStart=/usr/lib/bbb-standin/bbb-standin-api
Restart=on-failure
[Install]
WantedBy=multi-user.target
`

const standinConf = `#!/bin/sh
# STAND-IN bbb-conf (omc tests only): the options omc and admins use.
case "$1" in
--restart) /usr/lib/bbb-standin/bbb-standin-api check || exit 1; systemctl restart bbb-standin-api ;;
--setip)
	[ -n "$2" ] || { echo "usage: bbb-conf --setip HOST" >&2; exit 2; }
	mkdir -p /usr/local/bigbluebutton/core/scripts
	echo "playback_host: $2" > /usr/local/bigbluebutton/core/scripts/bigbluebutton.yml
	systemctl restart bbb-standin-api ;;
--secret)
	s=$(sed -n 's/^securitySalt=//p' /usr/share/bbb-web/WEB-INF/classes/bigbluebutton.properties /etc/bigbluebutton/bbb-web.properties 2>/dev/null | tail -n 1)
	u=$(sed -n 's/^bigbluebutton.web.serverURL=//p' /etc/bigbluebutton/bbb-web.properties 2>/dev/null | tail -n 1)
	echo "    URL: $u/bigbluebutton/"; echo "    Secret: $s" ;;
--check|--status) systemctl is-active bbb-standin-api ;;
--version) dpkg-query -W -f='${Version}\n' bigbluebutton ;;
*) echo "usage: bbb-conf --restart|--setip HOST|--secret|--check|--status|--version" >&2; exit 2 ;;
esac
`

const standinPostinst = `#!/bin/sh
set -e
getent group bigbluebutton >/dev/null || addgroup --system bigbluebutton
getent passwd bigbluebutton >/dev/null || adduser --system --ingroup bigbluebutton --no-create-home bigbluebutton
systemctl daemon-reload
systemctl enable bbb-standin-api
systemctl restart bbb-standin-api
`

const standinVars = `<include>
  <X-PRE-PROCESS cmd="set" data="default_password=1234"/>
  <X-PRE-PROCESS cmd="set" data="external_rtp_ip=stun:stun.freeswitch.org"/>
  <X-PRE-PROCESS cmd="set" data="external_sip_ip=stun:stun.freeswitch.org"/>
</include>
`

// buildStandinRepo builds the newest line's stand-in (see
// buildStandinLineRepo).
func buildStandinRepo(t *testing.T, versions ...string) string {
	t.Helper()
	return buildStandinLineRepo(t, NewestLine().Version, versions...)
}

// standinProperties is the line's default bigbluebutton.properties as
// the stand-in ships it: every key of the line, values left empty but
// for the two the stand-in and omc read.
func standinProperties(t *testing.T, line string) string {
	var b strings.Builder
	b.WriteString("# STAND-IN: the keys of BBB " + line + "'s bigbluebutton.properties (testdata/upstream/bbb-config)\n")
	for _, k := range lineKeys(t, line) {
		switch k {
		case "securitySalt":
			b.WriteString("securitySalt=standin-package-default\n")
		case "bigbluebutton.web.serverURL":
			b.WriteString("bigbluebutton.web.serverURL=http://bigbluebutton.example.com\n")
		default:
			b.WriteString(k + "=\n")
		}
	}
	return b.String()
}

// buildStandinLineRepo builds the stand-in of BBB line at each version
// and an apt repository (dists/standin/main) holding them; it returns the
// repo dir.
func buildStandinLineRepo(t *testing.T, line string, versions ...string) string {
	t.Helper()
	html5Keys, err := os.ReadFile(filepath.Join(upstreamConfig, "html5-keys.yml"))
	must(t, err)
	sfuKeys, err := os.ReadFile(filepath.Join(upstreamConfig, "sfu-keys.yml"))
	must(t, err)
	work := t.TempDir()
	repo := filepath.Join(work, "repo")
	var packages strings.Builder
	for _, v := range versions {
		root := filepath.Join(work, "pkg-"+v)
		bin := filepath.Join(root, "usr/lib/bbb-standin/bbb-standin-api")
		cmd := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.version="+v, "./testdata/standin/api.go")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building the stand-in API: %v\n%s", err, out)
		}
		files := map[string]string{
			"DEBIAN/control": "Package: bigbluebutton\nVersion: " + v + "\nArchitecture: amd64\nMaintainer: omc tests <tests@omc.invalid>\n" +
				"Depends: nginx, curl, adduser\nDescription: STAND-IN for BigBlueButton " + line + ", for omc's tests only\n Not BigBlueButton: an API responder that checks checksums like BBB.\n",
			"DEBIAN/conffiles":                           "/etc/nginx/sites-available/bigbluebutton\n/etc/bigbluebutton/nginx/web.nginx\n",
			"DEBIAN/postinst":                            standinPostinst,
			"usr/bin/bbb-conf":                           standinConf,
			"lib/systemd/system/bbb-standin-api.service": standinUnit,
			"usr/share/bbb-web/WEB-INF/classes/bigbluebutton.properties": standinProperties(t, line),
			"usr/share/bbb-standin/html5-keys.yml":                       string(html5Keys),
			"usr/share/bbb-standin/sfu-keys.yml":                         string(sfuKeys),
			"etc/bigbluebutton/nginx/web.nginx":                          "location /bigbluebutton/api {\n\tproxy_pass http://127.0.0.1:8090;\n}\n",
			"etc/nginx/sites-available/bigbluebutton":                    "# stand-in package default (omc replaces it)\nserver { listen 127.0.0.1:8081; include /etc/bigbluebutton/nginx/*.nginx; }\n",
			"opt/freeswitch/conf/vars.xml":                               standinVars,
		}
		for name, content := range files {
			mode := os.FileMode(0o644)
			if strings.HasPrefix(name, "usr/bin/") || name == "DEBIAN/postinst" {
				mode = 0o755
			}
			p := filepath.Join(root, name)
			must(t, os.MkdirAll(filepath.Dir(p), 0o755))
			must(t, os.WriteFile(p, []byte(content), mode))
		}
		must(t, os.MkdirAll(filepath.Join(root, "etc/nginx/sites-enabled"), 0o755))
		must(t, os.Symlink("../sites-available/bigbluebutton", filepath.Join(root, "etc/nginx/sites-enabled/bigbluebutton")))
		deb := filepath.Join(repo, "pool", "bigbluebutton_"+v+"_amd64.deb")
		must(t, os.MkdirAll(filepath.Dir(deb), 0o755))
		if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", root, deb).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb: %v\n%s", err, out)
		}
		b, err := os.ReadFile(deb)
		must(t, err)
		ctrl, _ := os.ReadFile(filepath.Join(root, "DEBIAN/control"))
		fmt.Fprintf(&packages, "%sFilename: pool/%s\nSize: %d\nSHA256: %s\n\n", ctrl, filepath.Base(deb), len(b), sha(b))
	}
	pk := filepath.Join(repo, "dists/standin/main/binary-amd64/Packages")
	must(t, os.MkdirAll(filepath.Dir(pk), 0o755))
	must(t, os.WriteFile(pk, []byte(packages.String()), 0o644))
	release := fmt.Sprintf("Origin: omc-tests\nLabel: omc stand-in\nSuite: standin\nCodename: standin\nArchitectures: amd64\nComponents: main\nSHA256:\n %s %d main/binary-amd64/Packages\n",
		sha([]byte(packages.String())), packages.Len())
	must(t, os.WriteFile(filepath.Join(repo, "dists/standin/Release"), []byte(release), 0o644))
	return repo
}

func sha(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
