package roles

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
)

// lineSteps is the OS-specific part of a bbb node's steps: from BBB's
// package source up to BBB's packages (sources, keys, Java, Node, Docker).
func lineSteps(t *testing.T, version string, edit func(*inventory.Settings)) []provision.Step {
	t.Helper()
	inv, fleet := loadFleet(t)
	n := *node(t, fleet, "school-bbb")
	n.Settings.BBBVersion = version
	if edit != nil {
		edit(&n.Settings)
	}
	steps, err := Steps(inv, &n, fleet)
	if err != nil {
		t.Fatal(err)
	}
	var out []provision.Step
	in := false
	for _, s := range steps {
		if s.ID() == "command bbb repository key" || strings.HasPrefix(s.ID(), "file "+bbbRepoList) {
			in = true
		}
		if in {
			out = append(out, s)
		}
		if _, ok := s.(*BBBPackagesStep); ok {
			break
		}
	}
	return out
}

// Each line's OS-specific steps are pinned per line: no Ubuntu host is
// reachable from the tests, so these goldens are what stands for them;
// their sources and packages are checked on their own (checkLineFacts).
func TestLineStepsGolden(t *testing.T) {
	for _, l := range Lines {
		t.Run(l.Version, func(t *testing.T) {
			steps := lineSteps(t, l.Version, nil)
			golden(t, "line-"+l.Version, describe(steps, nil))
			checkLineFacts(t, l.Version, steps)
		})
	}
}

// What each line must get, read from bbb-install's branch for it.
func TestLinesMatchBBBInstall(t *testing.T) {
	want := map[string]struct{ os, repo, java, node, pkgs string }{
		"3.0": {"ubuntu-22.04", "https://ubuntu.bigbluebutton.org/jammy-300 bigbluebutton-jammy main", "java-1.17.0-openjdk-amd64", "node_18.x", "bbb packages bigbluebutton bbb-html5"},
		"4.0": {"ubuntu-24.04", "https://ubuntu.bigbluebutton.org/noble-400 bigbluebutton-noble main", "java-1.21.0-openjdk-amd64", "node_22.x", "bbb packages bigbluebutton"},
		"4.1": {"ubuntu-24.04", "https://ubuntu.bigbluebutton.org/noble-410 bigbluebutton-noble main", "java-1.21.0-openjdk-amd64", "node_22.x", "bbb packages bigbluebutton"},
	}
	if len(want) != len(Lines) || NewestLine().Version != "4.1" {
		t.Fatalf("lines %s, newest %s: update this test with the table", KnownLines(), NewestLine().Version)
	}
	for v, w := range want {
		l, ok := LookupLine(v)
		if !ok || l.OS != w.os {
			t.Errorf("%s: OS %q", v, l.OS)
		}
		got := describe(lineSteps(t, v, nil), nil)
		for _, s := range []string{w.repo, "command java " + w.java, w.node, w.pkgs, "docker-ce", "download.docker.com/linux/ubuntu " + strings.Split(l.Install, "-")[0]} {
			if !strings.Contains(got, s) {
				t.Errorf("%s: steps lack %q", v, s)
			}
		}
	}
	if _, ok := LookupLine("2.7"); ok {
		t.Error("2.7 is no longer a line bbb-install supports")
	}
}

// A build of a known line for another OS (bbb_os and bbb_repo, as the
// E2E stand-in) gets none of the line's Ubuntu sources, Java or Docker,
// but keeps the line's packages and layouts.
func TestLineForAnotherOSLeavesUbuntuDepsOut(t *testing.T) {
	steps := lineSteps(t, "4.1", func(s *inventory.Settings) {
		s.BBBOS = "debian-12"
		s.BBBRepo = &inventory.BBBRepo{URL: "file:/srv/standin", Suite: "standin", Components: "main", Trusted: true}
	})
	got := describe(steps, nil)
	for _, s := range []string{"nodesource", "docker", "java", "openjdk"} {
		if strings.Contains(got, s) {
			t.Errorf("a 4.1 build for debian-12 got %q:\n%s", s, got)
		}
	}
	if !strings.Contains(got, "deb [trusted=yes] file:/srv/standin standin main") {
		t.Errorf("no stand-in source:\n%s", got)
	}
}

func TestLayoutsArePerLine(t *testing.T) {
	inv, fleet := loadFleet(t)
	n := *node(t, fleet, "school-bbb")
	for _, c := range []struct {
		line, layout string
		ok           bool
	}{{"3.0", "SMART_LAYOUT", true}, {"4.1", "SMART_LAYOUT", false}, {"4.1", "UNIFIED_LAYOUT", true}, {"3.0", "UNIFIED_LAYOUT", false}} {
		layout := c.layout
		n.Settings.BBBVersion = c.line
		n.Settings.BBB = &inventory.BBBTuning{DefaultLayout: &layout}
		_, err := Steps(inv, &n, fleet)
		if (err == nil) != c.ok {
			t.Errorf("%s with %s: err %v", c.line, c.layout, err)
		}
		if err != nil && !strings.Contains(err.Error(), "settings.bbb.default_layout") {
			t.Errorf("error does not name the key: %v", err)
		}
	}
}

// upstreamConfig is testdata/upstream/bbb-config at the repository's top.
var upstreamConfig = filepath.Join("..", "..", "testdata", "upstream", "bbb-config")

// lineKeys are the keys of the line's default bigbluebutton.properties:
// the base list with each line's changes applied up to this one.
func lineKeys(t testing.TB, version string) []string {
	t.Helper()
	read := func(name string) []string {
		f, err := os.Open(filepath.Join(upstreamConfig, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var out []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
		return out
	}
	keys := read("base-develop.keys")
	for _, l := range Lines {
		for _, c := range read(l.Version + ".changes") {
			switch c[0] {
			case '+':
				keys = appendNew(keys, c[1:])
			case '-':
				keys = slicesDelete(keys, c[1:])
			default:
				t.Fatalf("%s.changes: %q is neither +key nor -key", l.Version, c)
			}
		}
		if l.Version == version {
			return keys
		}
	}
	t.Fatalf("no key list for line %s", version)
	return nil
}

func slicesDelete(l []string, k string) []string {
	var out []string
	for _, x := range l {
		if x != k {
			out = append(out, x)
		}
	}
	return out
}

// Every bbb-web key omc can write by name exists in every line's default
// bigbluebutton.properties: BBB ignores a key it does not know, so a
// renamed key would silently stop working.
func TestOmcWritesOnlyKeysEachLineKnows(t *testing.T) {
	props := []string{"bigbluebutton.web.serverURL", "securitySalt", "allowRevealOfBBBVersion", "useDefaultLogo"}
	for _, w := range webKeys {
		props = append(props, w.prop)
	}
	for _, l := range Lines {
		keys := lineKeys(t, l.Version)
		for _, p := range props {
			if !contains(keys, p) {
				t.Errorf("BBB %s has no bbb-web property %s", l.Version, p)
			}
		}
		if contains(keys, "learningDashboardEnabled") {
			t.Errorf("BBB %s still lists learningDashboardEnabled, which 3.0 removed", l.Version)
		}
	}
	if !contains(lineKeys(t, "4.1"), "allowModsToRequestCameraShare") || contains(lineKeys(t, "4.0"), "allowModsToRequestCameraShare") {
		t.Error("allowModsToRequestCameraShare is 4.1's")
	}
}

// unattended-upgrades never moves BBB: it takes security archives only
// (no line's BBB, PPA, NodeSource, MongoDB or Docker repository), and
// its blacklist, which it matches as Python's re.match does (anchored at
// the start), still holds every package of those repositories, should
// an operator add an origin. Checked on the file a bbb node of each line
// gets.
func TestUnattendedUpgradesNeverMoveBBB(t *testing.T) {
	for _, l := range Lines {
		inv, fleet := loadFleet(t)
		n := *node(t, fleet, "school-bbb")
		n.Settings.BBBVersion = l.Version
		steps, err := Steps(inv, &n, fleet)
		if err != nil {
			t.Fatal(err)
		}
		var conf string
		for _, s := range steps {
			if f, ok := s.(*provision.FileStep); ok && f.Path == "/etc/apt/apt.conf.d/52omc-unattended-upgrades" {
				conf = string(f.Content)
			}
		}
		origins, hold := aptList(t, conf, "Unattended-Upgrade::Origins-Pattern"), aptList(t, conf, "Unattended-Upgrade::Package-Blacklist")
		if len(origins) == 0 || len(hold) == 0 {
			t.Fatalf("%s: no origins or no blacklist in:\n%s", l.Version, conf)
		}
		for _, o := range origins {
			if !strings.Contains(o, "security") && !strings.Contains(o, "Security") {
				t.Errorf("%s: unattended-upgrades takes %q, not a security archive", l.Version, o)
			}
		}
		third := append(slices.Clone(l.Packages), "bbb-html5", "bbb-web", "bbb-freeswitch-core", "bbb-webrtc-sfu", "bbb-libreoffice-docker", "coturn")
		for _, d := range l.Deps {
			if slices.Contains([]string{"nodejs", "mongodb-org", "bbb-yq-go"}, d) || slices.Contains(dockerPkgs, d) {
				third = append(third, d)
			}
		}
		for _, p := range third {
			if !slices.ContainsFunc(hold, func(re string) bool { return regexp.MustCompile("^(?:" + re + ")").MatchString(p) }) {
				t.Errorf("%s: unattended-upgrades' blacklist %v lets %s through", l.Version, hold, p)
			}
		}
	}
}

// aptList is the quoted entries of an apt.conf list "NAME { "a"; "b"; };".
func aptList(t *testing.T, conf, name string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(conf, "\n"+name+" {")
	if !ok {
		return nil
	}
	body, _, _ := strings.Cut(rest, "};")
	var out []string
	for _, m := range regexp.MustCompile(`"([^"]*)";`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// bbb-install 4.x replaces ImageMagick's policy; its 3.0 branch does not.
func TestImageMagickPolicyOn4xOnly(t *testing.T) {
	inv, fleet := loadFleet(t)
	for _, l := range Lines {
		n := *node(t, fleet, "school-bbb")
		n.Settings.BBBVersion = l.Version
		steps, err := Steps(inv, &n, fleet)
		if err != nil {
			t.Fatal(err)
		}
		has := false
		for _, s := range steps {
			has = has || s.ID() == "file "+imPolicy
		}
		if want := strings.HasPrefix(l.Version, "4."); has != want {
			t.Errorf("BBB %s: ImageMagick policy written %v, want %v", l.Version, has, want)
		}
	}
}
