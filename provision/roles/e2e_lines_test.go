package roles

import (
	"strings"
	"testing"
)

// testLines: rb1 (4.1), rb2 (4.0) and rb3 (3.0) converged on their
// line's stand-in. Each passes its stand-in's check, bbb-conf --setip
// ran with its domain, systemd has a UTF-8 LANG, and its API answers.
func (e *e2eEnv) testLines(t *testing.T) {
	for name, line := range map[string]string{"rb1": "4.1", "rb2": "4.0", "rb3": "3.0"} {
		out := e.mustSh(name, `dpkg-query -W -f='${Description}\n' bigbluebutton | head -n 1
/usr/lib/bbb-standin/bbb-standin-api check && echo check=ok
sed -n 's/^playback_host: //p' `+bbbRecordingYML+`
systemctl show-environment | grep '^LANG='
grep -c '^DefaultEnvironment=LANG=C.UTF-8$' /etc/systemd/system.conf.d/50-omc-lang.conf
curl -fsS http://127.0.0.1:8090/bigbluebutton/api`)
		for _, want := range []string{"BigBlueButton " + line + ",", "check=ok", "\n" + name + ".omc.test\n", "LANG=C.UTF-8", "\n1\n", "<returncode>SUCCESS</returncode>"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s (BBB %s): %q missing in:\n%s", name, line, want, out)
			}
		}
	}
	if out := e.mustSh("rb3", "grep '^defaultMeetingLayout=' /etc/bigbluebutton/bbb-web.properties"); out != "defaultMeetingLayout=SMART_LAYOUT\n" {
		t.Errorf("rb3 (3.0): layout %q", out)
	}
}

// testStrictStandin: a bbb-web key and an html5 setting the line does not
// know fail the run, naming both; with them gone the node converges
// again.
func (e *e2eEnv) testStrictStandin(t *testing.T) {
	e.load("10.250.0.0/16", "bigbluebutton=1.1", ", properties: {defaultMaxUser: 5}, html5: {public: {app: {clientTitel: typo}}}")
	rs, _ := e.converge("rb1")
	err := rs[0].Err
	if err == nil {
		t.Fatal("a misspelled bbb-web key and html5 setting converged")
	}
	for _, want := range []string{`"defaultMaxUser" is not a key of this BBB line's bigbluebutton.properties`, "public.app.clientTitel is not a setting of this BBB line"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the failure does not say %q: %v", want, err)
		}
	}
	e.load("10.250.0.0/16", "bigbluebutton=1.1")
	e.mustConverge("rb1")
	if again := e.mustConverge("rb1"); len(again) != 0 {
		t.Fatalf("after the fix a second run changed: %v", again)
	}
}

// testUpgradeWithinLine: rb2's repository holds its stand-in at 1.0 and
// 1.1. With bigbluebutton unpinned, omc up leaves rb2 at 1.0, and so do
// unattended-upgrades even when an operator allows the stand-in's origin
// (omc's blacklist holds); the upgrade run option (omc upgrade, on the
// node it drained) moves it to 1.1, the package's postinst restarting
// BBB as a real upgrade does, and a second run changes nothing.
func (e *e2eEnv) testUpgradeWithinLine(t *testing.T) {
	e.load("10.250.0.0/16", "bigbluebutton")
	if again := e.mustConverge("rb2"); len(again) != 0 {
		t.Fatalf("omc up with bigbluebutton unpinned changed: %v", again)
	}
	out := e.mustSh("rb2", `printf 'Unattended-Upgrade::Origins-Pattern:: "origin=omc-tests";\n' > /etc/apt/apt.conf.d/99omc-e2e-origin
unattended-upgrade -d > /tmp/uu.log 2>&1; echo "uu=$?"
grep -i 'allowed origins' /tmp/uu.log; rm -f /etc/apt/apt.conf.d/99omc-e2e-origin
dpkg-query -W -f='version=${Version}\n' bigbluebutton`)
	if !strings.Contains(out, "omc-tests") || !strings.HasSuffix(out, "\nversion=1.0\n") {
		t.Fatalf("unattended-upgrades with the stand-in's origin allowed:\n%s\n%s", out, e.mustSh("rb2", "tail -n 30 /tmp/uu.log"))
	}

	e.node("rb2").Run.UpgradeBBB = true
	changed := e.mustConverge("rb2")
	if !strings.Contains(strings.Join(changed, "\n"), "bigbluebutton 1.0→1.1") {
		t.Errorf("the upgrade run changed:\n%s", strings.Join(changed, "\n"))
	}
	out = e.mustSh("rb2", `dpkg-query -W -f='version=${Version}\n' bigbluebutton
/usr/lib/bbb-standin/bbb-standin-api check && echo check=ok
curl -fsS http://127.0.0.1:8090/bigbluebutton/api`)
	for _, want := range []string{"version=1.1\n", "check=ok", "<returncode>SUCCESS</returncode>"} {
		if !strings.Contains(out, want) {
			t.Errorf("rb2 after the upgrade: %q missing in:\n%s", want, out)
		}
	}
	if again := e.mustConverge("rb2"); len(again) != 0 {
		t.Errorf("a second upgrade run changed: %v", again)
	}
}
