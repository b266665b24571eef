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
