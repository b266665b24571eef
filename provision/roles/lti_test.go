package roles

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
)

// ltiSteps returns node n's registration file and registration step.
func ltiSteps(t *testing.T, inv *inventory.Inventory, n *inventory.Node, fleet []*inventory.Node) (*provision.FileStep, *provision.CommandStep, []provision.Step) {
	t.Helper()
	steps, err := Steps(inv, n, fleet)
	if err != nil {
		t.Fatal(err)
	}
	var reg *provision.FileStep
	var cmd *provision.CommandStep
	for _, st := range steps {
		if f, ok := st.(*provision.FileStep); ok && f.Path == ltiRegister {
			reg = f
		}
		if c, ok := st.(*provision.CommandStep); ok && strings.HasPrefix(c.Label, "lti: register") {
			cmd = c
		}
	}
	return reg, cmd, steps
}

// The images settings.lti defaults to: the releases whose rake tasks
// testdata/upstream/lti holds.
const (
	ltiBrokerImage = "bigbluebutton/bbb-lti-broker:release-2.0.2"
	ltiRoomsImage  = "bigbluebutton/bbb-app-rooms:release-1.2.1.3"
)

// settings.lti: {key, secret, images}; the framework's secrets
// are derived (the consumer's per key), masked like the others, written
// only to 0600 files and never part of a step's ID or command; only its
// node gets them, and only its site routes /lti and /apps/rooms.
func TestLTISettingsSecretsAndSite(t *testing.T) {
	inv, fleet := loadFleet(t)
	school := node(t, fleet, "school-bbb")
	s := settingsOf(school)
	var err error
	if s.LTI == nil || s.LTI.Key != "school-moodle" || s.LTI.BrokerImage != ltiBrokerImage || s.LTI.RoomsImage != ltiRoomsImage {
		t.Fatalf("lti: {key: school-moodle}: %+v %v", s.LTI, err)
	}
	sec, err := secrets{inv}.lti(school, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(sec.PG) != 48 || len(sec.BrokerKey) != 128 || len(sec.RoomsKey) != 128 || len(sec.OAuthKey) != 48 || len(sec.OAuthSecret) != 48 || len(sec.Consumer) != 48 {
		t.Fatalf("derived lengths: %d %d %d %d %d %d", len(sec.PG), len(sec.BrokerKey), len(sec.RoomsKey), len(sec.OAuthKey), len(sec.OAuthSecret), len(sec.Consumer))
	}
	vals := SecretValues(inv, fleet)
	for _, v := range sec.values() {
		if !slices.Contains(vals, v) {
			t.Error("an LTI secret is not masked in output")
		}
	}
	reg, cmd, steps := ltiSteps(t, inv, school, fleet)
	if reg == nil || cmd == nil {
		t.Fatal("no registration file or step")
	}
	for _, st := range steps {
		text := st.ID()
		if c, ok := st.(*provision.CommandStep); ok {
			text += c.Run + c.Unless
		}
		for _, v := range sec.values() {
			if strings.Contains(text, v) {
				t.Errorf("step %s holds an LTI secret", st.ID())
			}
		}
		if f, ok := st.(*provision.FileStep); ok && strings.HasPrefix(f.Path, ltiDir) && strings.Contains(string(f.Content), sec.PG) && f.Mode != 0o600 {
			t.Errorf("%s holds a secret with mode %o", f.Path, f.Mode)
		}
		if c, ok := st.(*checkedFile); ok && c.Path == bbbNginxSite && !strings.Contains(string(c.Content), "include "+ltiNginx+";") {
			t.Errorf("the site does not include the LTI locations:\n%s", c.Content)
		}
	}
	if !strings.Contains(string(reg.Content), "LTI_SECRET='"+sec.Consumer+"'\n") || reg.Mode != 0o600 {
		t.Errorf("registration.env (%o):\n%s", reg.Mode, reg.Content)
	}
	other, _ := Steps(inv, node(t, fleet, "bbb-1"), fleet)
	for _, st := range other {
		if strings.Contains(st.ID(), "lti") {
			t.Errorf("bbb-1 has no lti setting, yet got %s", st.ID())
		}
		if c, ok := st.(*checkedFile); ok && strings.Contains(string(c.Content), ltiNginx) {
			t.Error("bbb-1's site includes the LTI locations")
		}
	}

	// Another key gets another derived secret.
	c := *school
	c.Settings.LTI = &inventory.LTISettings{Key: "district-canvas", BrokerImage: ltiBrokerImage, RoomsImage: ltiRoomsImage}
	s2 := settingsOf(&c)
	if sec2, _ := (secrets{inv}).lti(&c, s2); sec2.Consumer == sec.Consumer || sec2.OAuthSecret != sec.OAuthSecret {
		t.Error("the consumer secret does not follow the key, or the rooms app's credentials do")
	}

	// What the inventory refuses, at the value's line.
	for bad, want := range map[string]string{
		"{kee: x}":                          "lti.kee: unknown setting; did you mean key?",
		"{secret: x}":                       `missing required field "key"`,
		"{key: 'a,b'}":                      "lti.key:",
		"true":                              "lti:",
		"{key: k, broker_image: Bad Image}": "lti.broker_image:",
	} {
		_, err := inventory.LoadReader("x.yaml", strings.NewReader("apiVersion: omc/v1\nname: x\ngroups:\n  g:\n    provider: static\n    nodes:\n      - {name: a, roles: [bbb], address: 192.0.2.1, domain: a.example, settings: {bbb_version: \"4.1\", lti: "+bad+"}}\n"))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "x.yaml:7:") {
			t.Errorf("lti: %s: %v, want %q at line 7", bad, err, want)
		}
	}
}

// settings.lti.secret names an inventory secret; one a rake argument
// list would split is refused without being shown.
func TestLTIReferencedSecret(t *testing.T) {
	for _, c := range []struct{ value, err string }{
		{"Consumer-Secret-0123456789", ""},
		{"has,comma-0123456789", `the secret "lms" must be`},
		{"short", `the secret "lms" must be`},
	} {
		t.Setenv("OMC_TEST_LMS", c.value)
		t.Setenv("OMC_TEST_SEED", fakeSeed)
		inv, err := inventory.LoadReader("x.yaml", strings.NewReader(`apiVersion: omc/v1
name: x
secrets: {bbb_seed: env:OMC_TEST_SEED, lms: env:OMC_TEST_LMS}
groups:
  g:
    provider: static
    nodes:
      - {name: a, roles: [bbb], address: 192.0.2.1, domain: a.example, settings: {bbb_version: "4.1", lti: {key: moodle, secret: lms}}}
`))
		if err != nil {
			t.Fatal(err)
		}
		n := inv.Nodes()[0]
		_, err = Steps(inv, n, inv.Nodes())
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.value, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: err = %v, want %q", c.value, err, c.err)
		case err != nil && strings.Contains(err.Error(), c.value):
			t.Errorf("the error shows the secret: %v", err)
		case err == nil:
			reg, _, _ := ltiSteps(t, inv, n, inv.Nodes())
			if !strings.Contains(string(reg.Content), "LTI_SECRET='"+c.value+"'\n") {
				t.Errorf("registration.env does not hold the referenced secret:\n%s", reg.Content)
			}
		}
	}
}

// fakeBroker is the broker's rake interface as the registration reaches
// it (docker compose exec -T broker bundle exec rake TASK), modelled on
// bigbluebutton/bbb-lti-broker release-2.0.2 lib/tasks/apps.rake and
// key.rake: apps:show, apps:add, apps:update, key:new, key:update, each
// exiting 1 on a missing or existing record as upstream does, and
// db:seed making the default tenant that key:new needs (db/seeds.rb).
// It prints what upstream prints, credentials included. Tenants other
// than the default, and the key:show tasks, are left out.
const fakeBroker = `#!/bin/sh
for a in "$@"; do task=$a; done
name=${task%%\[*}
args=
case $task in *\[*) args=${task#*\[}; args=${args%\]};; esac
set -f; IFS=,; set -- $args; unset IFS
echo "$name $1" >> "$STATE/calls"
case $name in
db:seed) touch "$STATE/tenant";;
apps:show) [ -f "$STATE/app-$1" ] || { echo "App '$1' does not exist, it can not be shown"; exit 1; }; cat "$STATE/app-$1";;
apps:add) [ -f "$STATE/app-$1" ] && { echo "App '$1' already exists, it can not be added"; exit 1; }
  echo "$2 $3 $4" > "$STATE/app-$1"; echo "Added '{\"name\":\"$1\",\"uid\":\"$3\",\"secret\":\"$4\"}'";;
apps:update) [ -f "$STATE/app-$1" ] || { echo "App '$1' does not exist, it can not be updated"; exit 1; }
  echo "$2 $3 $4" > "$STATE/app-$1"; echo "Updated '{\"name\":\"$1\",\"uid\":\"$3\",\"secret\":\"$4\"}'";;
key:new) [ -f "$STATE/tenant" ] || { echo "undefined method 'uid' for nil"; exit 1; }
  [ -f "$STATE/key-$1" ] && { echo "Key '$1' already exists, it can not be added"; exit 1; }
  echo "Added '$1=$2'"
  [ -f "$STATE/fail" ] && { echo "PG::ConnectionBad"; exit 1; }
  echo "$2" > "$STATE/key-$1";;
key:update) [ -f "$STATE/key-$1" ] || { echo "Key '$1' does not exist, it can not be updated"; exit 1; }
  echo "$2" > "$STATE/key-$1"; echo "Updated '$1=$2'";;
*) echo "Don't know how to build task '$name'"; exit 1;;
esac
`

// The registration step, run against a fake broker: it registers the
// rooms app and adds the key the first time, then its guard holds (a
// second run changes nothing); a changed registration updates both; a
// failing task fails the step without recording it or showing a secret.
func TestLTIRegistrationRunsOnlyWhenItsInputsChange(t *testing.T) {
	inv, fleet := loadFleet(t)
	school := node(t, fleet, "school-bbb")
	sec, err := secrets{inv}.lti(school, settingsOf(school))
	if err != nil {
		t.Fatal(err)
	}
	reg, cmd, _ := ltiSteps(t, inv, school, fleet)

	dir, state, bin := t.TempDir(), t.TempDir(), t.TempDir()
	for name, body := range map[string]string{"docker": fakeBroker, "curl": "#!/bin/sh\nexit 0\n"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	local := func(script string) string {
		if !strings.Contains(script, ltiDir) || strings.ContainsAny(dir, "' ") {
			t.Fatalf("the script no longer names %s, or %s needs quoting: the test's rewrite is stale", ltiDir, dir)
		}
		return strings.ReplaceAll(script, ltiDir, dir)
	}
	run := func(script string) (string, error) {
		c := exec.Command("sh", "-c", local(script))
		c.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "STATE="+state)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	read := func(name string) string { b, _ := os.ReadFile(filepath.Join(state, name)); return string(b) }
	writeReg := func(content string) {
		if err := os.WriteFile(filepath.Join(dir, "registration.env"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	done := func() bool { _, err := run(cmd.Unless); return err == nil }

	writeReg(string(reg.Content))
	if done() {
		t.Fatal("the guard holds before any registration")
	}
	if out, err := run(cmd.Run); err != nil {
		t.Fatalf("first registration: %v\n%s", err, out)
	}
	callback := "https://bbb.school.example/apps/rooms/auth/bbbltibroker/callback"
	if got := read("app-rooms"); got != callback+" "+sec.OAuthKey+" "+sec.OAuthSecret+"\n" {
		t.Errorf("rooms app registered as %q", got)
	}
	if got := read("key-school-moodle"); got != sec.Consumer+"\n" {
		t.Errorf("consumer key registered with %q", got)
	}
	if got := read("calls"); got != "db:seed \napps:show rooms\napps:add rooms\nkey:update school-moodle\nkey:new school-moodle\n" {
		t.Errorf("first run's tasks:\n%s", got)
	}
	if !done() {
		t.Fatal("after a registration the guard does not hold: a second run would register again")
	}

	// A changed consumer secret (a rotated inventory secret): both again,
	// as updates this time.
	os.Remove(filepath.Join(state, "calls"))
	writeReg(strings.Replace(string(reg.Content), sec.Consumer, "Rotated-Consumer-Secret-1", 1))
	if done() {
		t.Fatal("the guard holds although the registration changed")
	}
	if out, err := run(cmd.Run); err != nil {
		t.Fatalf("second registration: %v\n%s", err, out)
	}
	if got := read("calls"); got != "db:seed \napps:show rooms\napps:update rooms\nkey:update school-moodle\n" {
		t.Errorf("changed registration's tasks:\n%s", got)
	}
	if read("key-school-moodle") != "Rotated-Consumer-Secret-1\n" || !done() {
		t.Error("the rotated secret was not registered, or not recorded")
	}

	// A new key whose key:new fails: the step fails, says which task, and
	// shows no credential; nothing is recorded, so the next run retries.
	os.WriteFile(filepath.Join(state, "fail"), nil, 0o644)
	writeReg(strings.Replace(string(reg.Content), "LTI_KEY='school-moodle'", "LTI_KEY='district-canvas'", 1))
	out, err := run(cmd.Run)
	if err == nil || !strings.Contains(out, "rake key:new[district-canvas,...] failed") || !strings.Contains(out, "PG::ConnectionBad") {
		t.Fatalf("failing key:new: %v\n%s", err, out)
	}
	for _, v := range []string{sec.Consumer, sec.OAuthKey, sec.OAuthSecret} {
		if strings.Contains(out, v) {
			t.Errorf("the failure shows a credential:\n%s", out)
		}
	}
	if done() {
		t.Error("a failed registration was recorded as done")
	}
}

// The registration calls only rake tasks the pinned broker release has
// (testdata/upstream/lti), and the fake broker models exactly those: a
// new broker image needs its task list first.
func TestLTIRegistrationUsesThePinnedBrokersTasks(t *testing.T) {
	tag := ltiBrokerImage[strings.LastIndex(ltiBrokerImage, ":")+1:]
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "upstream", "lti", "bbb-lti-broker-"+tag+".tasks"))
	if err != nil {
		t.Fatalf("no task list for the pinned broker %s: %v", ltiBrokerImage, err)
	}
	var known []string
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		known = append(known, strings.FieldsFunc(l, func(r rune) bool { return r == '[' || r == ' ' })[0])
	}
	used := regexp.MustCompile(`(?:rk|step) "?([a-z]+:[a-z]+)`).FindAllStringSubmatch(ltiRegistration().Run, -1)
	if len(used) < 5 {
		t.Fatalf("found only %v in the registration: the test's pattern is stale", used)
	}
	for _, u := range used {
		if !slices.Contains(known, u[1]) {
			t.Errorf("the registration runs rake %s, which broker %s does not have", u[1], tag)
		}
	}
	faked := regexp.MustCompile(`(?m)^([a-z]+:[a-z]+)\)`).FindAllStringSubmatch(fakeBroker, -1)
	var names []string
	for _, f := range faked {
		names = append(names, f[1])
	}
	slices.Sort(names)
	slices.Sort(known)
	if !slices.Equal(names, known) {
		t.Errorf("the fake broker models %v, the task list has %v", names, known)
	}
}
