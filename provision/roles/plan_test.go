package roles

import (
	"strings"
	"testing"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
)

// Each plan test below feeds one step's Plan the lines its probe prints
// in one situation, written out in the test, to check a decision (wait
// for meetings, refuse a pool node's upgrade). That a converged host's
// real probe output plans nothing is checked on real output only: by
// TestConvergedCopyOfThisMachinePlansNothing (files, lines, users,
// sysctls) and by the E2E tests (everything, on real hosts).

func TestRestartWaitsForMeetings(t *testing.T) {
	s := &BBBRestartStep{Files: bbbConfigFiles}
	changed := func(m string) []string { return []string{"now=S2", "applied=S1", "meetings=" + m} }
	if _, err := s.Plan(changed("2")); err == nil || !strings.Contains(err.Error(), "2 meeting(s) are live") {
		t.Errorf("live meetings: %v", err)
	}
	if _, err := s.Plan(changed("unknown:connection refused")); err == nil || !strings.Contains(err.Error(), "cannot tell") {
		t.Errorf("unknown meetings: %v", err)
	}
	if c, err := s.Plan(changed("0")); err != nil || c == nil || !strings.Contains(c.Script, "bbb-conf --restart") {
		t.Errorf("no meetings: %v %v", c, err)
	}
	s.Force = true
	if c, err := s.Plan(changed("5")); err != nil || c == nil {
		t.Errorf("forced: %v %v", c, err)
	}
	// The record is written only after the restart, so a failed restart is retried.
	c, _ := s.Plan(changed("0"))
	if i, j := strings.Index(c.Script, "bbb-conf --restart"), strings.Index(c.Script, bbbAppliedSum); i < 0 || j < i {
		t.Errorf("applied sum recorded before the restart:\n%s", c.Script)
	}
}

// bbb-conf --setip runs when BBB does not serve the domain yet; on a
// node omc configured before it waits for meetings, on a fresh one it
// need not reach the API.
func TestSetIPOnceAndNeverUnderMeetings(t *testing.T) {
	s := &BBBSetIPStep{Domain: "bbb.example.org"}
	if c, err := s.Plan([]string{"playback=bbb.example.org", "applied=S1", "meetings=4"}); c != nil || err != nil {
		t.Errorf("domain already set: %v %v", c, err)
	}
	c, err := s.Plan([]string{"playback=", "applied=", "meetings=unknown:connection refused"})
	if err != nil || c == nil || c.Script != "bbb-conf --setip 'bbb.example.org' >/dev/null" {
		t.Errorf("fresh node: %+v %v", c, err)
	}
	if _, err := s.Plan([]string{"playback=old.example.org", "applied=S1", "meetings=2"}); err == nil || !strings.Contains(err.Error(), "2 meeting(s) are live") {
		t.Errorf("new domain under live meetings: %v", err)
	}
	if _, err := s.Plan([]string{"playback=old.example.org", "applied=S1", "meetings=unknown:connection refused"}); err == nil {
		t.Error("configured node whose meetings are unknown: went ahead")
	}
	if _, err := s.Plan([]string{"applied="}); err == nil {
		t.Error("probe output without playback accepted")
	}
}

func TestUpgradeWaitsForMeetingsButInstallDoesNot(t *testing.T) {
	s := &BBBPackagesStep{Packages: provision.PackagesStep{Names: []string{"bigbluebutton=3.0.5"}}}
	if _, err := s.Plan([]string{"pkg=bigbluebutton|ii |3.0.4", "meetings=1"}); err == nil || !strings.Contains(err.Error(), "1 meeting(s)") {
		t.Errorf("upgrade with a live meeting: %v", err)
	}
	c, err := s.Plan([]string{"pkg=bigbluebutton|ii |3.0.4", "meetings=0"})
	if err != nil || c == nil || !strings.Contains(c.Summary, "3.0.4→3.0.5") || !strings.HasPrefix(c.Script, "DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update") {
		t.Errorf("upgrade on an idle node: %+v %v", c, err)
	}
	if c, err := s.Plan([]string{"pkg=bigbluebutton|", "meetings=unknown:no-curl"}); err != nil || c == nil {
		t.Errorf("first install must not need the API: %v %v", c, err)
	}
}

// A pool node's BBB changes version only through omc upgrade: up refuses,
// naming the command; the first install and the drained node's upgrade go
// through.
func TestPoolNodeUpgradesOnlyThroughRollingUpgrade(t *testing.T) {
	s := &BBBPackagesStep{Packages: provision.PackagesStep{Names: []string{"bigbluebutton=3.0.5"}}, Pool: "eu-1"}
	if _, err := s.Plan([]string{"pkg=bigbluebutton|ii |3.0.4", "meetings=0"}); err == nil || !strings.Contains(err.Error(), "omc upgrade eu-1 --to VERSION") {
		t.Errorf("in-place upgrade of a pool node: %v", err)
	}
	if c, err := s.Plan([]string{"pkg=bigbluebutton|", "meetings=0"}); err != nil || c == nil {
		t.Errorf("first install of a pool node: %v %v", c, err)
	}

	const inv = `apiVersion: omc/v1
name: t
secrets: {bbb_seed: env:OMC_ROLES_T_SEED}
defaults:
  settings: {bbb_version: "3.0", acme_email: ops@example.org, bbb_packages: [bigbluebutton=3.0.5]}
groups:
  eu-1:
    provider: static
    pool: {url: "https://lb.example.org/bigbluebutton/api", secret: "env:OMC_ROLES_T_SEED"}
    nodes:
      - {name: b1, address: 192.0.2.1, roles: [bbb], domain: b1.example.org}
      - {name: b2, address: 192.0.2.2, roles: [bbb], domain: b2.example.org}
  solo:
    provider: static
    nodes:
      - {name: s1, address: 192.0.2.3, roles: [bbb], domain: s1.example.org}
`
	t.Setenv("OMC_ROLES_T_SEED", "FAKE-seed")
	loaded, err := inventory.LoadReader("omc.yaml", strings.NewReader(inv))
	if err != nil {
		t.Fatal(err)
	}
	pools := map[string]string{}
	for _, n := range loaded.Nodes() {
		if n.Name == "b2" { // omc upgrade's run option, on the node it drained
			c := *n
			c.Run.UpgradeBBB = true
			n = &c
		}
		steps, err := Steps(loaded, n, loaded.Nodes())
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range steps {
			if p, ok := st.(*BBBPackagesStep); ok {
				pools[n.Name] = p.Pool
			}
		}
	}
	if pools["b1"] != "eu-1" || pools["b2"] != "" || pools["s1"] != "" {
		t.Errorf("pool guard per node: %v (want b1 guarded, b2 drained by omc upgrade, s1 in no pool)", pools)
	}
}

func TestNftablesPlans(t *testing.T) {
	s := &NftablesStep{Conf: []byte("table inet omc {}\n"), RevertAfter: 45}
	want := s.sum()
	cases := []struct {
		obs  []string
		want string
	}{
		{[]string{"nft=yes", "conf=old", "live=L", "state=old L", "enabled=enabled"}, "load and persist a new ruleset"},
		{[]string{"nft=yes", "conf=" + want, "live=L2", "state=" + want + " L1", "enabled=enabled"}, "reload the ruleset"},
		{[]string{"nft=yes", "conf=" + want, "live=L1", "state=" + want + " L1", "enabled=disabled"}, "enable nftables.service"},
	}
	for _, c := range cases {
		ch, err := s.Plan(c.obs)
		if err != nil || ch == nil || !strings.HasPrefix(ch.Summary, c.want) {
			t.Errorf("%v: got %+v, %v; want %q", c.obs, ch, err, c.want)
		}
	}
	ch, _ := s.Plan(cases[0].obs)
	// Guarded: the script arms the revert before loading; commit cancels it
	// and persists only if the loaded rules are still ours.
	arm, load := strings.Index(ch.Script, "systemd-run"), strings.Index(ch.Script, "nft -f "+fwNext)
	if arm < 0 || load < arm || !strings.Contains(ch.Script, "nft -c -f") {
		t.Errorf("script must check, arm the revert, then load:\n%s", ch.Script)
	}
	if !strings.Contains(ch.Commit, "systemctl stop "+fwUnit+".timer") || !strings.Contains(ch.Commit, fwConf) {
		t.Errorf("commit must cancel the revert and persist:\n%s", ch.Commit)
	}
}

func TestCertPlans(t *testing.T) {
	s := &CertStep{Domain: "bbb.example.org", Directory: "https://acme.test/dir", CAFile: "/etc/omc/ca.pem", RenewDays: 30}
	ok := []string{"names=DNS:bbb.example.org", "fresh=yes", "server=https://acme.test/dir", "hook=" + certHook}
	for i, want := range []string{"replace (names", "renew (expires", "replace (issued by", "replace (renewal"} {
		obs := append([]string(nil), ok...)
		obs[i] = strings.SplitN(obs[i], "=", 2)[0] + "=other"
		c, err := s.Plan(obs)
		if err != nil || c == nil || !strings.HasPrefix(c.Summary, want) || !strings.Contains(c.Script, "--force-renewal") {
			t.Errorf("obs %v: %+v %v, want %q", obs, c, err, want)
		}
	}
	c, _ := s.Plan([]string{"names="})
	for _, part := range []string{"REQUESTS_CA_BUNDLE='/etc/omc/ca.pem'", "--server 'https://acme.test/dir'", "--webroot -w " + acmeWebroot, "--register-unsafely-without-email"} {
		if !strings.Contains(c.Script, part) {
			t.Errorf("certbot script lacks %q:\n%s", part, c.Script)
		}
	}
}

func TestTimeSyncSkipsContainersAndChrony(t *testing.T) {
	s := &timeSyncStep{}
	for _, obs := range [][]string{
		{"virt=systemd-nspawn", "chrony=", "enabled=", "active=inactive", "pkg="},
		{"virt=none", "chrony=active", "enabled=", "active=inactive", "pkg="},
	} {
		if c, err := s.Plan(obs); c != nil || err != nil {
			t.Errorf("%v: %v %v", obs, c, err)
		}
	}
	c, _ := s.Plan([]string{"virt=none", "chrony=", "enabled=disabled", "active=inactive", "pkg=ii "})
	if c == nil || strings.Contains(c.Script, "apt-get") {
		t.Errorf("installed but disabled: %+v", c)
	}
}

// omc upgrade's run option moves BBB to the repository's latest: the
// unpinned line package and every installed bbb-* package go to their
// candidate, pinned versions stay pinned; without it (omc up) nothing
// installed moves, whatever the repository holds.
func TestUpgradeMovesBBBToTheRepositorysLatest(t *testing.T) {
	obs := []string{
		"pkg=bigbluebutton|ii |1:4.1-3", "candidate=bigbluebutton|1:4.1-5",
		"pkg=bbb-html5|ii |1:4.1-40", "candidate=bbb-html5|1:4.1-44",
		"pkg=bbb-web|ii |1:4.1-12", "candidate=bbb-web|1:4.1-12",
		"pkg=bbb-demo|rc |1:2.5-1", "candidate=bbb-demo|1:2.5-2",
		"pkg=bbb-playback|ii |1:4.1-2", "candidate=bbb-playback|(none)",
		"pkg=bigbluebutton|ii |1:4.1-3", "meetings=0",
	}
	up := &BBBPackagesStep{Packages: provision.PackagesStep{Names: []string{"bigbluebutton"}}, Upgrade: true}
	c, err := up.Plan(obs)
	if err != nil || c == nil {
		t.Fatalf("upgrade plan: %+v %v", c, err)
	}
	if want := "bbb-html5 1:4.1-40→1:4.1-44, bigbluebutton 1:4.1-3→1:4.1-5"; c.Summary != want {
		t.Errorf("summary %q, want %q", c.Summary, want)
	}
	for _, part := range []string{"--force-confold install -- 'bbb-html5=1:4.1-44' 'bigbluebutton=1:4.1-5'", "apt-get -q -o DPkg::Lock::Timeout=300 update"} {
		if !strings.Contains(c.Script, part) {
			t.Errorf("script lacks %q:\n%s", part, c.Script)
		}
	}
	if _, err := up.Plan(append(obs[:len(obs)-1:len(obs)-1], "meetings=2")); err == nil || !strings.Contains(err.Error(), "2 meeting(s)") {
		t.Errorf("an upgrade under live meetings: %v", err)
	}
	if m, err := up.Moves(obs); err != nil || !strings.HasPrefix(m, "bbb-html5 ") {
		t.Errorf("moves: %q %v", m, err)
	}

	pinned := &BBBPackagesStep{Packages: provision.PackagesStep{Names: []string{"bigbluebutton=1:4.1-3"}}, Upgrade: true}
	if c, err := pinned.Plan(obs); err != nil || c == nil || c.Summary != "bbb-html5 1:4.1-40→1:4.1-44" {
		t.Errorf("a pinned bigbluebutton moved, or its components did not: %+v %v", c, err)
	}
	if c, err := (&BBBPackagesStep{Packages: provision.PackagesStep{Names: []string{"bigbluebutton"}}}).Plan(obs); c != nil || err != nil {
		t.Errorf("omc up moved an installed BBB: %+v %v", c, err)
	}
	latest := []string{"pkg=bigbluebutton|ii |1:4.1-5", "candidate=bigbluebutton|1:4.1-5", "meetings=0"}
	if m, err := up.Moves(latest); m != "" || err != nil {
		t.Errorf("at the latest, moves %q %v", m, err)
	}
	if _, err := up.Plan(append([]string{"aptupdate=failed"}, latest...)); err == nil || !strings.Contains(err.Error(), "apt-get update failed") {
		t.Errorf("a failed apt-get update: %v", err)
	}
	// The probe refreshes the lists and asks for BBB's installed
	// components; only upgrade mode costs that.
	p := up.Probe()
	for _, part := range []string{"apt-get -q -o DPkg::Lock::Timeout=300 update", "dpkg-query -W -f='${Package}\\n' 'bbb-*'", "apt-cache policy", "'bigbluebutton'"} {
		if !strings.Contains(p, part) {
			t.Errorf("upgrade probe lacks %q:\n%s", part, p)
		}
	}
	if strings.Contains((&BBBPackagesStep{Packages: up.Packages}).Probe(), "apt-get") {
		t.Error("omc up's probe runs apt-get")
	}
	golden(t, "bbb-upgrade", "# probe\n"+p+"\n# plan: "+c.Summary+"\n"+c.Script+"\n")
	// What the golden carries: the lists are refreshed before the probe
	// reads candidates and before the install; the install's last word
	// names exactly the moved packages, pinned to their candidates, in
	// name order, keeping changed conffiles; nothing else moves.
	if u, q := strings.Index(p, "apt-get -q -o DPkg::Lock::Timeout=300 update"), strings.Index(p, "apt-cache policy"); u < 0 || q < u {
		t.Errorf("the probe reads candidates before refreshing the lists:\n%s", p)
	}
	lines := strings.Split(c.Script, "\n")
	if !strings.HasPrefix(lines[0], "DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update ") {
		t.Errorf("the upgrade does not refresh the lists first:\n%s", c.Script)
	}
	if last := lines[len(lines)-1]; last != "apt-get -y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install -- 'bbb-html5=1:4.1-44' 'bigbluebutton=1:4.1-5'" {
		t.Errorf("install line: %s", last)
	}
	for _, still := range []string{"bbb-web", "bbb-demo", "bbb-playback"} {
		if strings.Contains(c.Script, still) {
			t.Errorf("%s moved: at its candidate, removed or without one, it must not", still)
		}
	}
}
