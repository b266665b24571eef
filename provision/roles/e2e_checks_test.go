package roles

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/shell"
)

// testTURN: an allocation with the node's shared secret gets a relay
// address, one with a wrong secret is refused, and the relay will not
// reach into a private range outside the group (the client's own relay
// address, 10.x here, is such a peer): all from the TURN host itself.
// turnutils_uclient prints "allocate response received" for refusals too,
// so the relay address is the sign of success.
func (e *e2eEnv) testTURN(t *testing.T) {
	secret := derive(purposeTURN, "rt1", e2eSeed)
	if conf := e.mustSh("rt1", "grep -c '^static-auth-secret="+secret+"$' /etc/turnserver.conf"); strings.TrimSpace(conf) != "1" {
		t.Fatal("turnserver.conf does not hold the derived secret")
	}
	addr := e.machines["rt1"].Address
	uclient := func(secret string) string {
		out, _ := e.sh("rt1", "timeout 20 turnutils_uclient -v -y -c -n 1 -m 1 -u e2e -W "+shell.Quote(secret)+" "+addr+
			" 2>&1 | grep -E 'relay addr|error|ERROR' | sort -u | head -n 20")
		return out
	}
	ok, bad := uclient(secret), uclient("wrong-secret")
	t.Logf("right secret:\n%s\nwrong secret:\n%s", ok, bad)
	if !strings.Contains(ok, "Received relay addr: "+addr+":") {
		t.Errorf("allocation with the shared secret got no relay address")
	}
	if !strings.Contains(ok, "403 (Forbidden IP)") {
		t.Errorf("relay to a private peer outside the group was not refused")
	}
	if strings.Contains(bad, "relay addr") || !strings.Contains(bad, "Cannot complete Allocation") {
		t.Errorf("allocation with a wrong secret was not refused")
	}
}

// testBandwidth moves 1.5 MB each way over SSH through the 4 mbit/s caps:
// about 3 s each, where the uncapped link takes a fraction of a second.
func (e *e2eEnv) testBandwidth(t *testing.T, name string) {
	out := e.mustSh(name, "tc qdisc show dev eth0; tc qdisc show dev omc-ifb0")
	if !strings.Contains(out, "htb") || !strings.Contains(out, "ingress") {
		t.Fatalf("no caps in place:\n%s", out)
	}
	const size = 1500000
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := e.dial(ctx, name)
	must(t, err)
	defer c.Close()
	measure := func(cmd string, in io.Reader) (time.Duration, int) {
		s, err := c.c.NewSession()
		must(t, err)
		defer s.Close()
		var buf bytes.Buffer
		s.Stdout, s.Stdin = &buf, in
		t0 := time.Now()
		must(t, s.Run(cmd))
		return time.Since(t0), buf.Len()
	}
	down, n := measure("head -c "+itoa(size)+" /dev/urandom", nil)
	if n != size {
		t.Fatalf("read %d bytes", n)
	}
	up, _ := measure("cat > /dev/null", bytes.NewReader(make([]byte, size)))
	t.Logf("1.5 MB through 4 mbit/s caps: egress %v, ingress %v", down, up)
	for what, d := range map[string]time.Duration{"egress": down, "ingress": up} {
		if d < 2*time.Second || d > 20*time.Second {
			t.Errorf("%s took %v, want about 3 s under a 4 mbit/s cap", what, d)
		}
	}
}

// api calls the node's BBB API through nginx and TLS, signed with secret.
func (e *e2eEnv) api(name, call, query, secret string) string {
	h := sha256.Sum256([]byte(call + query + secret))
	sep := "&"
	if query == "" {
		sep = ""
	}
	url := "https://" + name + ".omc.test/bigbluebutton/api/" + call + "?" + query + sep + "checksum=" + hex.EncodeToString(h[:])
	return e.mustSh(name, "curl -fsS --cacert /tmp/pebble-root.pem "+shell.Quote(url))
}

func (e *e2eEnv) testBBB(t *testing.T) {
	e.mustSh("rb1", "curl -fsS --cacert /etc/omc-e2e/pebble-ca.pem https://127.0.0.1:15000/roots/0 > /tmp/pebble-root.pem")
	secret := derive(purposeAPI, "rb1", e2eSeed)
	if out := e.api("rb1", "getMeetings", "", secret); !strings.Contains(out, "SUCCESS") {
		t.Fatalf("getMeetings with the node's secret: %s", out)
	}
	if out := e.api("rb1", "getMeetings", "", "standin-package-default"); !strings.Contains(out, "checksumError") {
		t.Fatalf("the package's default secret still works: %s", out)
	}
	files := e.mustSh("rb1", "cat /etc/bigbluebutton/bbb-web.properties /opt/freeswitch/conf/vars.xml; bbb-conf --secret")
	for _, want := range []string{"defaultMaxUsers=25", `defaultWelcomeMessage=Gr\u00fc\u00df Gott`, "external_rtp_ip=" + e.machines["rb1"].Address, "Secret: " + secret} {
		if !strings.Contains(files, want) {
			t.Errorf("rb1: %q missing", want)
		}
	}
	if strings.Contains(files, "default_password=1234") {
		t.Error("FreeSWITCH kept its default password")
	}

	// An upgrade while a meeting is live is refused, and nothing changes.
	e.api("rb1", "create", "meetingID=e2e-live", secret)
	e.load("10.250.0.0/16", "bigbluebutton=1.1")
	rs, _ := e.converge("rb1")
	if rs[0].Err == nil || !strings.Contains(rs[0].Err.Error(), "1 meeting(s) are live") {
		t.Fatalf("upgrade with a live meeting: err = %v", rs[0].Err)
	}
	if v := e.mustSh("rb1", "dpkg-query -W -f='${Version}' bigbluebutton"); v != "1.0" {
		t.Fatalf("version after the refused upgrade: %s", v)
	}
	// Once the meeting ended, it goes through; omc's files survive it.
	e.api("rb1", "end", "meetingID=e2e-live", secret)
	changed := e.mustConverge("rb1")
	t.Logf("upgrade run changed:\n%s", strings.Join(changed, "\n"))
	out := e.mustSh("rb1", "dpkg-query -W -f='${Version}\n' bigbluebutton; curl -fsS http://127.0.0.1:8090/bigbluebutton/api; head -n1 /etc/nginx/sites-available/bigbluebutton; grep -c default_password=1234 /opt/freeswitch/conf/vars.xml || true")
	for _, want := range []string{"1.1\n", "<bbbVersion>1.1-standin</bbbVersion>", "# Managed by omc", "\n0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("after the upgrade: %q missing in:\n%s", want, out)
		}
	}
	if out := e.api("rb1", "getMeetings", "", secret); !strings.Contains(out, "SUCCESS") {
		t.Errorf("getMeetings after the upgrade: %s", out)
	}
	if again := e.mustConverge("rb1"); len(again) != 0 {
		t.Errorf("a run after the upgrade changed something:\n%s", strings.Join(again, "\n"))
	}
}

// testFirewallRevert: a ruleset that shuts SSH out fails its step and is
// reverted automatically; omc gets back in and the next run is clean.
func (e *e2eEnv) testFirewallRevert(t *testing.T) {
	e.load("192.0.2.0/24", "bigbluebutton=1.1")
	rs, _ := e.converge("rt1")
	if rs[0].Err == nil || !strings.Contains(rs[0].Err.Error(), "reverted automatically") {
		t.Fatalf("a ruleset cutting SSH: err = %v", rs[0].Err)
	}
	t0 := time.Now()
	var err error
	for i := 0; i < 30; i++ {
		var out string
		if out, err = e.sh("rt1", "nft list set inet omc admin4"); err == nil {
			if !strings.Contains(out, "10.250.0.0/16") {
				t.Fatalf("after the revert, admin4 is:\n%s", out)
			}
			break
		}
		time.Sleep(5 * time.Second)
	}
	if err != nil {
		t.Fatalf("still locked out %v after the failed step: %v", time.Since(t0), err)
	}
	t.Logf("SSH back after %v", time.Since(t0))
	e.load("10.250.0.0/16", "bigbluebutton=1.1")
	if again := e.mustConverge("rt1"); len(again) != 0 {
		t.Errorf("after the revert a run changed something:\n%s", strings.Join(again, "\n"))
	}
}

func itoa(n int) string {
	b := []byte{}
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}
