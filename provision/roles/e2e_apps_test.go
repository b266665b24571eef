package roles

import (
	"fmt"
	"strings"
	"testing"
)

// The Docker apps (Greenlight, the LTI framework) on a real local host:
// Debian's docker.io runs inside it, and every image the compose files
// name is a stand-in built here FROM scratch (testdata/standin/app) and
// tagged with the real name, so omc's compose files, units and nginx
// locations run unchanged. Debian 12 has no docker compose v2 plugin
// (Ubuntu nodes get Docker's), so the host gets Debian's docker-compose
// 1.29 behind a CLI-plugin shim.

// dockerInventory is an inventory of Docker E2E hosts: the 4.1 stand-in
// BBB from a file repository, certificates from the host's own Pebble,
// and group e2e on the local provider, whose own part (pool, nodes) is
// group, written at the group's indentation.
func dockerInventory(name, keyPath, group string) string {
	return fmt.Sprintf(`apiVersion: omc/v1
name: %s
secrets:
  bbb_seed: env:OMC_E2E_ROLES_SEED
defaults:
  ssh: {key: %q}
  settings:
    admin_cidrs: [10.250.0.0/16]
    acme_directory: https://127.0.0.1:14000/dir
    acme_ca_file: /etc/omc-e2e/pebble-ca.pem
    acme_email: ops@omc.test
    bbb_version: "4.1"
    bbb_os: debian-12
    bbb_repo: {url: "file:/srv/omc-standin", suite: standin, components: main, trusted: true}
    bbb_packages: [bigbluebutton=1.0]
    sysctl: {net.core.rmem_max: null, net.core.wmem_max: null}
groups:
  e2e:
    provider: local
    image: debian-12
%s`, name, keyPath, group)
}

const appsGroup = `    nodes:
      - name: ra1
        roles: [bbb]
        domain: ra1.omc.test
        settings:
          greenlight: true
          lti: {key: e2e-moodle}
`

// installDocker is the shell that puts Debian's docker.io (and pkgs) on
// a host and starts it, showing dockerd's journal when it will not.
func installDocker(pkgs ...string) string {
	p := strings.Join(append([]string{"docker.io"}, pkgs...), " ")
	return `apt-get -y -q install ` + p + ` >/dev/null 2>&1 || apt-get -y -q install ` + p + `
systemctl start docker || { journalctl -u docker --no-pager | tail -n 30; exit 1; }
`
}

// dockerNspawnEnv: the host gets the unified cgroup hierarchy (v2), whose
// subtree nspawn delegates to it; the machine's v1 controllers are
// mounted read-only inside (runc: "mkdir /sys/fs/cgroup/cpuset/docker:
// read-only file system").
var dockerNspawnEnv = []string{"SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1"}

// dockerNspawnArgs is what Docker commonly needs of an nspawn host beyond
// omc's own hosts: runc's session keyring (keyctl), BPF device filters,
// the mounts of container root file systems, device nodes. The test
// passed with them; whether each is needed here was not tried.
var dockerNspawnArgs = []string{
	"--capability=all",
	"--system-call-filter=add_key keyctl bpf @mount",
	"--property=DeviceAllow=char-* rwm",
}

// dockerCompose: Debian's docker-compose 1.29 as the docker compose CLI
// plugin (the plugin gets "compose" first, then the subcommand).
const dockerCompose = `#!/bin/sh
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"omc tests","Version":"1.29-shim","ShortDescription":"STAND-IN: Debian docker-compose 1.29"}'
  exit 0
fi
shift
exec docker-compose "$@"
`

func TestE2EDockerApps(t *testing.T) {
	e := baseE2E(t, dockerNspawnEnv, dockerNspawnArgs...)
	e.writeInventory(dockerInventory("omc-apps-e2e", e.keyPath, appsGroup))
	e.boot("ra1")
	e.prepareHosts()
	e.uploadDir("ra1", buildStandinRepo(t, "1.0"), "/srv/omc-standin/")

	e.uploadStandin("ra1", "./testdata/standin/app")
	images := [][2]string{
		{"postgres:14.6-alpine3.17", "ENV PORT=5432\nENV STANDIN_TCP=1\nENV STANDIN_NAME=postgres"},
		{"redis:6.2-alpine3.17", "ENV PORT=6379\nENV STANDIN_TCP=1\nENV STANDIN_NAME=redis"},
		{"bigbluebutton/greenlight:v3", "ENV STANDIN_NAME=greenlight"},
		{ltiBrokerImage, "ENV STANDIN_NAME=lti-broker"},
		{ltiRoomsImage, "ENV STANDIN_NAME=lti-rooms"},
	}
	var imp strings.Builder
	for _, im := range images {
		fmt.Fprintf(&imp, "mk %s", im[0])
		for _, c := range strings.Split(im[1], "\n") {
			fmt.Fprintf(&imp, " -c '%s'", c)
		}
		imp.WriteString("\n")
	}
	out, err := e.sh("ra1", `set -e
export DEBIAN_FRONTEND=noninteractive
`+installDocker("docker-compose")+`mkdir -p /usr/libexec/docker/cli-plugins
cat > /usr/libexec/docker/cli-plugins/docker-compose <<'SHIM'
`+dockerCompose+`SHIM
chmod 755 /usr/libexec/docker/cli-plugins/docker-compose /root/standin/app
docker info --format '{{.Driver}} {{.CgroupVersion}}'
mk() {
  image=$1; shift
  d=$(mktemp -d)
  mkdir -p $d/usr/src/app/bin $d/usr/local/bin $d/var/lib/standin
  cp /root/standin/app $d/app; cp /root/standin/app $d/usr/src/app/bin/start; cp /root/standin/app $d/usr/local/bin/bundle
  tar -C $d -c . | docker import -c 'ENTRYPOINT ["/app"]' -c 'WORKDIR /usr/src/app' "$@" - $image >/dev/null
  rm -rf $d
}
`+imp.String()+`
docker run --rm -d --name omc-probe -p 127.0.0.1:3999:3000 -e STANDIN_NAME=probe `+"bigbluebutton/greenlight:v3"+`
i=0; until curl -fsS http://127.0.0.1:3999/x; do i=$((i+1)); [ $i -lt 20 ] || { docker logs omc-probe; exit 1; }; sleep 1; done
docker rm -f omc-probe >/dev/null`)
	t.Logf("docker on ra1:\n%s", out)
	if err != nil {
		t.Fatalf("Docker does not run on the local host: %v", err)
	}

	first := e.mustConverge("ra1")
	t.Logf("first run changed %d steps", len(first))
	if again := e.mustConverge("ra1"); len(again) != 0 {
		t.Fatalf("a second run changed something:\n%s", strings.Join(again, "\n"))
	}
	e.mustSh("ra1", "curl -fsS --cacert /etc/omc-e2e/pebble-ca.pem https://127.0.0.1:15000/roots/0 > /tmp/pebble-root.pem")
	for path, want := range map[string]string{
		"/":                        "greenlight /\n",
		"/rooms/abc":               "greenlight /rooms/abc\n",
		"/lti/rooms/messages/blti": "lti-broker /lti/rooms/messages/blti\n",
		"/apps/rooms/launch":       "lti-rooms /apps/rooms/launch\n",
		"/bigbluebutton/api":       "<returncode>SUCCESS</returncode>",
	} {
		out := e.mustSh("ra1", "curl -sS --cacert /tmp/pebble-root.pem https://ra1.omc.test"+path)
		if !strings.Contains(out, want) {
			t.Errorf("GET %s through nginx: %q, want %q", path, out, want)
		}
	}
	// The registration reached the broker: the rooms app with its
	// callback, the consumer key with the derived secret.
	sec, err := secrets{e.inv}.lti(e.node("ra1"), settingsOf(e.node("ra1")))
	must(t, err)
	dump := e.mustSh("ra1", "cd /opt/bbb-lti && docker compose exec -T broker bundle exec rake standin:dump")
	for _, want := range []string{"app-rooms https://ra1.omc.test/apps/rooms/auth/bbbltibroker/callback " + sec.OAuthKey + " " + sec.OAuthSecret + "\n",
		"key-e2e-moodle " + sec.Consumer + "\n", "tenant \n"} {
		if !strings.Contains(dump+"\n", want) {
			t.Errorf("the broker holds:\n%s\nwant a line %q", mask(dump, sec.values()), mask(want, sec.values()))
		}
	}
}
