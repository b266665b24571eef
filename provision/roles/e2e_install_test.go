package roles

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/shell"
)

// installSettings point omc install at the test world: the stand-in BBB
// package and pebble, and the sysctls a container may not raise.
const installSettings = `bbb_os: debian-12
bbb_repo: {url: "file:/srv/omc-standin", suite: standin, components: main, trusted: true}
bbb_packages: [bigbluebutton=1.1]
acme_directory: https://127.0.0.1:14000/dir
acme_ca_file: /etc/omc-e2e/pebble-ca.pem
sysctl: {net.core.rmem_max: null, net.core.wmem_max: null}
`

// testInstall runs the omc binary's install on ri1, a fresh host with no
// roles: the checks that cannot pass here are named (Debian, not Ubuntu;
// two cores; no public DNS), the rest pass; it writes the inventory and
// the secrets, converges, and the API answers with the secret it stored.
// A second install changes nothing, and plan on the written inventory
// finds no drift.
func (e *e2eEnv) testInstall(t *testing.T) {
	dir := t.TempDir()
	bin := omcBinary(t)
	settings := filepath.Join(dir, "settings.yaml")
	must(t, os.WriteFile(settings, []byte(installSettings), 0o644))
	inv := filepath.Join(dir, "site", "omc.yaml")
	must(t, os.MkdirAll(filepath.Dir(inv), 0o755))
	omc := func(args ...string) (string, string, int) {
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), "CI=true", "NO_COLOR=1", "OMC_STATE_DIR="+filepath.Join(dir, "state"))
		var out, errb bytes.Buffer
		c.Stdout, c.Stderr = &out, &errb
		err := c.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	// The DNS check is never made here (--ignore-checks dns skips the
	// lookup): the test asks no DNS server.
	install := []string{"install", "--host", e.machines["ri1"].Address, "--domain", "ri1.omc.test", "--email", "ops@omc.test",
		"--key", e.keyPath, "--settings", settings, "-i", inv}

	// Without accepting them, the checks stop it before any change.
	out, errs, code := omc(append(install, "--ignore-checks", "dns")...)
	// No --version: the newest line, 4.1 (its stand-in, built for Debian).
	if code != 1 || !strings.Contains(errs, "not ready for BBB 4.1") || !strings.Contains(errs, "this server runs debian-12") {
		t.Fatalf("checks: exit %d\n%s\n%s", code, out, errs)
	}
	if _, err := os.Stat(inv); err == nil {
		t.Fatal("a failed check wrote the inventory")
	}

	install = append(install, "--ignore-checks", "os,cpu,dns,disk")
	out, errs, code = omc(install...)
	t.Logf("install:\n%s\n%s", out, errs)
	if code != 0 {
		t.Fatalf("install: exit %d", code)
	}
	secretFile := filepath.Join(dir, "site", "omc-secrets", "ri1-omc-test-api-secret")
	for _, want := range []string{"https://ri1.omc.test/bigbluebutton/api/", "API secret  in " + secretFile, "Greenlight"} {
		if !strings.Contains(out, want) {
			t.Errorf("install output lacks %q", want)
		}
	}
	fi, err := os.Stat(secretFile)
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v", secretFile, fi.Mode().Perm())
	}
	b, err := os.ReadFile(secretFile)
	must(t, err)
	secret := strings.TrimSpace(string(b))
	e.mustSh("ri1", "curl -fsS --cacert /etc/omc-e2e/pebble-ca.pem https://127.0.0.1:15000/roots/0 > /tmp/pebble-root.pem")
	if got := e.api("ri1", "getMeetings", "", secret); !strings.Contains(got, "SUCCESS") {
		t.Fatalf("getMeetings with the stored secret: %s", got)
	}

	// ri1 runs its own TURN: haproxy shares 443 between nginx (the API
	// call above went through it) and coturn. A TURN client on ri1 (the
	// local hosts reach only this machine, not each other) allocates a
	// relay over TLS on ri1's address, port 443, with ri1's secret only.
	seed, err := os.ReadFile(filepath.Join(dir, "site", "omc-secrets", "bbb_seed"))
	must(t, err)
	turnSecret := derive(purposeTURN, "ri1-omc-test", strings.TrimSpace(string(seed)))
	// Line-buffered: a client that hangs is killed by timeout, and its
	// output must not die in a pipe buffer with it.
	uclient := func(secret string) string {
		out, _ := e.sh("ri1", "timeout 20 stdbuf -oL -eL turnutils_uclient -v -t -S -p 443 -y -c -n 1 -m 1 -u e2e -W "+shell.Quote(secret)+" "+e.machines["ri1"].Address+
			" > /tmp/uclient.out 2>&1; grep -E 'relay addr|error|ERROR' /tmp/uclient.out | sort -u | head -n 20; echo ---; tail -n 15 /tmp/uclient.out")
		return out
	}
	ok, bad := uclient(turnSecret), uclient("wrong-secret")
	t.Logf("TURN over TLS on 443, right secret:\n%s\nwrong secret:\n%s", ok, bad)
	if !strings.Contains(ok, "Received relay addr: "+e.machines["ri1"].Address+":") {
		out, _ := e.sh("ri1", "ss -ltnp; systemctl status haproxy --no-pager | tail -n 5; journalctl -u haproxy -n 20 --no-pager")
		t.Errorf("no relay allocated over TLS on 443 with the shared secret; on ri1:\n%s", out)
	}
	if strings.Contains(bad, "Received relay addr") {
		t.Errorf("a wrong secret got a relay over TLS on 443")
	}
	if xml := e.mustSh("ri1", "grep -c 'turns:ri1.omc.test:443?transport=tcp' /etc/bigbluebutton/turn-stun-servers.xml"); strings.TrimSpace(xml) != "1" {
		t.Errorf("turn-stun-servers.xml does not offer TURN over TLS on 443")
	}

	out2, errs2, code := omc(install...)
	if code != 0 || !strings.Contains(errs2, "1 hosts: 0 changed") {
		t.Fatalf("second install: exit %d\n%s\n%s", code, out2, errs2)
	}
	out3, errs3, code := omc("plan", "-i", inv)
	if code != 0 {
		t.Fatalf("plan on the written inventory: exit %d\n%s\n%s", code, out3, errs3)
	}
	if strings.Contains(out+errs+out2+errs2+out3+errs3, secret) {
		t.Fatal("the API secret appeared in omc's output")
	}
}
