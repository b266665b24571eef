package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/golden"
	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/internal/testenv"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/provision/roles"
)

func TestInstallChecks(t *testing.T) {
	good := serverFacts{OS: "ubuntu-22.04", Arch: "x86_64", CPUs: 8, MemKB: 16 << 20, DiskFreeKB: 200 << 20, Addrs: []string{"203.0.113.10", "10.0.0.5"},
		Listeners: []listener{{"tcp", "22", "sshd"}, {"tcp", "80", "nginx"}}}
	status := func(rs []checkResult) map[string]string {
		m := map[string]string{}
		for _, r := range rs {
			m[r.Name] = r.Status
		}
		return m
	}
	dns := []string{"203.0.113.10"}
	if got := status(evaluate(good, "ubuntu-22.04", "3.0", "bbb.example.org", dns, nil, "203.0.113.10", nil)); len(got) != len(installChecks) {
		t.Fatalf("want a verdict per check %v, got %v", installChecks, got)
	} else {
		for _, c := range installChecks {
			if got[c] != "ok" {
				t.Errorf("a good server: %s is %s", c, got[c])
			}
		}
	}

	bad := good
	bad.OS, bad.CPUs, bad.MemKB = "debian-12", 2, 4<<20
	bad.Listeners = []listener{{"tcp", "443", "apache2"}, {"udp", "3478", "an unknown program"}, {"tcp", "8080", "java"}}
	rs := evaluate(bad, "ubuntu-22.04", "3.0", "bbb.example.org", []string{"198.51.100.1"}, nil, "203.0.113.10", []string{"cpu"})
	got := status(rs)
	want := map[string]string{"os": "failed", "arch": "ok", "cpu": "ignored", "memory": "failed", "disk": "ok", "ports": "failed", "dns": "failed"}
	for c, w := range want {
		if got[c] != w {
			t.Errorf("%s: %s, want %s", c, got[c], w)
		}
	}
	for _, r := range rs {
		switch r.Name {
		case "ports":
			if !strings.Contains(r.Detail, "443/tcp is held by apache2") || !strings.Contains(r.Detail, "3478/udp") || strings.Contains(r.Detail, "8080") {
				t.Errorf("ports detail: %s", r.Detail)
			}
		case "dns":
			if !strings.Contains(r.Detail, "points at 198.51.100.1, not at this server") {
				t.Errorf("dns detail: %s", r.Detail)
			}
		case "os":
			if r.Detail != "BBB 3.0 runs on ubuntu-22.04; this server runs debian-12" {
				t.Errorf("os detail: %s", r.Detail)
			}
		}
	}
	small := good
	small.CPUs, small.MemKB = 4, 8<<20
	if got := status(evaluate(small, "ubuntu-22.04", "3.0", "d.example.org", nil, errors.New("no such host"), "203.0.113.10", nil)); got["cpu"] != "warning" || got["memory"] != "warning" || got["dns"] != "failed" {
		t.Errorf("minimum server: %v", got)
	}
}

func TestParseFacts(t *testing.T) {
	out := "os=ubuntu-22.04\narch=x86_64\ncpus=8\nmem=16303412\ndisk=98765432\naddrs=203.0.113.10 2001:db8::1\n" +
		`listen=tcp 0.0.0.0:80 users:(("nginx",pid=812,fd=6),("nginx",pid=811,fd=6))` + "\n" +
		"listen=udp [::]:3478\n"
	f, err := parseFacts(out)
	if err != nil {
		t.Fatal(err)
	}
	if f.OS != "ubuntu-22.04" || f.CPUs != 8 || f.MemKB != 16303412 || len(f.Addrs) != 2 || len(f.Listeners) != 2 ||
		f.Listeners[0] != (listener{"tcp", "80", "nginx"}) || f.Listeners[1] != (listener{"udp", "3478", "an unknown program"}) {
		t.Fatalf("%+v", f)
	}
	if _, err := parseFacts("os=ubuntu-22.04\n"); err == nil || !strings.Contains(err.Error(), `lacks "arch"`) {
		t.Fatalf("truncated answer: %v", err)
	}
}

func TestInstallInventoryGolden(t *testing.T) {
	o := &installOptions{Host: "203.0.113.10", Domain: "bbb.school.example", Email: "admin@school.example", User: "admin", Port: 22, Version: "3.0"}
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	text, err := installInventory(o, map[string]any{"timezone": "Europe/Vienna", "bbb": map[string]any{"max_participants": 40}}, "/srv/school/omc-secrets")
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "install.golden", text)
	inv, err := inventory.LoadReader("/srv/school/omc.yaml", bytes.NewReader(text))
	if err != nil {
		t.Fatalf("the written inventory does not load: %v", err)
	}
	n := inv.Nodes()[0]
	if n.Name != "bbb-school-example" || n.Domain != "bbb.school.example" || n.SSH.User != "admin" || !*n.SSH.Sudo {
		t.Fatalf("%+v", n)
	}
	if err := inv.MissingSecrets(); err == nil || !strings.Contains(err.Error(), "bbb-school-example-api-secret") {
		t.Fatalf("secrets are files omc makes later: %v", err)
	}
}

func TestInstallNeedsFlagsInCI(t *testing.T) {
	d := isolate(t)
	t.Chdir(d)
	_, errs, code := run(t, "", "install", "--host", "203.0.113.10")
	if code != ExitUsage || !strings.Contains(errs, "--domain, --email") || !strings.Contains(errs, "never in CI") {
		t.Fatalf("code %d: %s", code, errs)
	}
	_, errs, code = run(t, "", "install", "--host", "203.0.113.10", "--domain", "not a domain", "--email", "x@y.example", "--ignore-checks", "cpu,karma")
	if code != ExitUsage || !strings.Contains(errs, `--domain "not a domain"`) || !strings.Contains(errs, `no check "karma"`) {
		t.Fatalf("code %d: %s", code, errs)
	}
	if es, _ := os.ReadDir(d); len(es) != 0 {
		t.Fatalf("bad flags wrote files: %v", es)
	}
}

func TestInstallRefusesAnotherInventory(t *testing.T) {
	d := isolate(t)
	p := filepath.Join(d, "omc.yaml")
	writeFile(t, p, "apiVersion: omc/v1\nname: mine\n")
	_, errs, code := run(t, "", "install", "-i", p, "--host", "203.0.113.10", "--domain", "bbb.school.example", "--email", "a@school.example")
	if code != ExitUsage || !strings.Contains(errs, "is not omc install's inventory") {
		t.Fatalf("code %d: %s", code, errs)
	}
	if b, _ := os.ReadFile(p); string(b) != "apiVersion: omc/v1\nname: mine\n" {
		t.Fatal("the file was changed")
	}
}

// TestInstallChecksTheRealServerFirst runs the checks over SSH against a
// real sshd on this machine (Debian, not the Ubuntu BBB 3.0 needs, and a
// domain resolving elsewhere): the install stops, names what is wrong,
// and neither the server nor the working directory is changed.
func TestInstallChecksTheRealServerFirst(t *testing.T) {
	d := isolate(t)
	srv := sshtest.Start(t)
	var out, errb bytes.Buffer
	s := &ui.Streams{In: strings.NewReader(""), Out: &out, Err: &errb, CI: true}
	inv := filepath.Join(d, "site", "omc.yaml")
	os.MkdirAll(filepath.Dir(inv), 0o755)
	o := &installOptions{Host: "127.0.0.1", Port: srv.Port, User: srv.User, Key: srv.KeyFile, Domain: "bbb.school.test", Email: "admin@school.test", Version: "3.0",
		lookup: func(_ context.Context, host string) ([]string, error) {
			if host != "bbb.school.test" {
				t.Errorf("looked up %q", host)
			}
			return []string{"192.0.2.99"}, nil
		}}
	err := runInstall(context.Background(), s, &globalOptions{Inventory: inv, Output: "text"}, o)
	if err == nil || exitCode(err) != ExitError {
		t.Fatalf("want a failed check (exit 1), got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"127.0.0.1 is not ready for BBB 3.0", "os", "dns", "nothing was changed", "--ignore-checks"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	for _, want := range []string{"BBB 3.0 runs on ubuntu-22.04; this server runs debian-12", "bbb.school.test points at 192.0.2.99, not at this server"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if es, _ := os.ReadDir(filepath.Dir(inv)); len(es) != 0 {
		t.Fatalf("a failed check wrote %v", es)
	}
	// The facts script reads only: the one session it used is in sshd's log,
	// and no lock was taken (nothing to converge).
	if strings.Count(srv.Log(), "Accepted publickey") != 1 {
		t.Errorf("want exactly one connection:\n%s", srv.Log())
	}

	// -o json: one check line per check on stdout, nothing on it but them.
	out.Reset()
	errb.Reset()
	o.IgnoreChecks = []string{"cpu", "memory", "disk", "dns"}
	o.lookup = func(context.Context, string) ([]string, error) {
		t.Error("an ignored DNS check looked the name up")
		return nil, nil
	}
	if err := runInstall(context.Background(), s, &globalOptions{Inventory: inv, Output: "json"}, o); exitCode(err) != ExitError {
		t.Fatalf("json run: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(installChecks) {
		t.Fatalf("want %d check lines, got:\n%s", len(installChecks), out.String())
	}
	for _, l := range lines {
		var c struct {
			V                                 int
			Type, Host, Check, Status, Detail string
		}
		if err := json.Unmarshal([]byte(l), &c); err != nil || c.V != 1 || c.Type != "check" || c.Host != "bbb-school-test" || c.Status == "" {
			t.Fatalf("not a check line: %s (%v)", l, err)
		}
		if c.Check == "os" && c.Status != "failed" {
			t.Errorf("os: %s", l)
		}
	}
}

// TestInstallAsksOnATerminal runs omc install on a real pseudo-terminal
// (script(1)) without --domain and --email: it asks for them, takes the
// answers typed, and goes on to check the real server with them, for the
// newest BBB line (the default: 4.1 on Ubuntu 24.04).
func TestInstallAsksOnATerminal(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		testenv.Missing(t, "needs script(1) from util-linux for a pseudo-terminal")
	}
	d := isolate(t)
	srv := sshtest.Start(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(d, "omc.yaml")
	line := strings.Join([]string{self, "install", "-i", inv, "--host", "127.0.0.1", "--port", fmt.Sprint(srv.Port),
		"--user", srv.User, "--key", srv.KeyFile}, " ")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, scriptBin, "-qec", line, "/dev/null")
	c.Env = append(os.Environ(), "OMC_TEST_AS_OMC=1", "CI=", "NO_COLOR=1", "TERM=dumb")
	c.Stdin = strings.NewReader("bbb.school.test\nadmin@school.test\n")
	out, _ := c.CombinedOutput()
	text := string(out)
	for _, want := range []string{"Domain BBB will serve", "Admin email", "checking bbb-school-test", "BBB 4.1 runs on ubuntu-24.04", "bbb.school.test points at 192.0.2.99"} {
		if !strings.Contains(text, want) {
			t.Errorf("terminal session lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Server address") {
		t.Errorf("asked for a value given as a flag:\n%s", text)
	}
}

// --greenlight writes settings.greenlight, whose role steps then run
// Greenlight v3 at / (the roles' goldens pin those); the summary names
// Greenlight instead of pointing elsewhere for a front end.
func TestInstallGreenlight(t *testing.T) {
	o := &installOptions{Host: "203.0.113.10", Domain: "bbb.school.example", Email: "admin@school.example", User: "root", Port: 22, Version: "4.1", Greenlight: true}
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	text, err := installInventory(o, nil, "/srv/school/omc-secrets")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "greenlight: true") {
		t.Fatalf("no greenlight setting in:\n%s", text)
	}
	var with, without bytes.Buffer
	writeInstallInfo(&with, installInfo{URL: "https://bbb.school.example/", Greenlight: true})
	writeInstallInfo(&without, installInfo{URL: "https://bbb.school.example/"})
	if !strings.Contains(with.String(), "Greenlight v3 answers at https://bbb.school.example/") || strings.Contains(with.String(), "Add one:") {
		t.Errorf("with Greenlight:\n%s", with.String())
	}
	if !strings.Contains(without.String(), "Add one:") {
		t.Errorf("without Greenlight:\n%s", without.String())
	}
}

// --lti KEY writes settings.lti with the consumer secret as an inventory
// secret in omc-secrets/ (made once, like the API secret, never a flag),
// so a second install writes the same inventory and the node gets the
// same registration; the summary names the key, the launch URL and where
// the secret is, never the secret itself.
func TestInstallLTI(t *testing.T) {
	bad := &installOptions{Host: "203.0.113.10", Domain: "bbb.school.example", Email: "admin@school.example", User: "root", Port: 22, Version: "4.1", LTI: "moodle,x"}
	if err := bad.check(); err == nil || !strings.Contains(err.Error(), `--lti "moodle,x" is not a consumer key`) {
		t.Fatalf("bad key: %v", err)
	}
	dir := t.TempDir()
	out, secretDir := filepath.Join(dir, "omc.yaml"), filepath.Join(dir, "omc-secrets")
	install := func() ([]byte, string, string) {
		t.Helper()
		o := &installOptions{Host: "203.0.113.10", Domain: "bbb.school.example", Email: "admin@school.example", User: "root", Port: 22, Version: "4.1", LTI: "school-moodle"}
		if err := o.check(); err != nil {
			t.Fatal(err)
		}
		text, err := installInventory(o, nil, secretDir)
		if err != nil {
			t.Fatal(err)
		}
		_, ltiFile, err := writeInstallFiles(out, text, secretDir, o.Name, true)
		if err != nil {
			t.Fatal(err)
		}
		secret, err := os.ReadFile(ltiFile)
		if err != nil {
			t.Fatal(err)
		}
		return text, ltiFile, strings.TrimSpace(string(secret))
	}
	text, ltiFile, secret := install()
	if fi, err := os.Stat(ltiFile); err != nil || fi.Mode().Perm() != 0o600 || len(secret) != 48 {
		t.Fatalf("%s: %v %v, %d characters", ltiFile, fi.Mode(), err, len(secret))
	}
	for _, want := range []string{"lti:\n", "key: school-moodle\n", "secret: " + installLTI + "\n", installLTI + ": file:" + ltiFile + "\n"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("inventory lacks %q:\n%s", want, text)
		}
	}
	text2, _, secret2 := install()
	if !bytes.Equal(text, text2) || secret != secret2 {
		t.Fatal("a second install changed the inventory or the consumer secret")
	}
	inv, err := inventory.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := inv.MissingSecrets(); err != nil {
		t.Fatal(err)
	}
	steps, err := roles.Steps(inv, inv.Nodes()[0], inv.Nodes())
	if err != nil {
		t.Fatal(err)
	}
	var reg string
	for _, st := range steps {
		if f, ok := st.(*provision.FileStep); ok && f.Path == roles.LTIRegistrationFile {
			reg = string(f.Content)
		}
	}
	if !strings.Contains(reg, "LTI_KEY='school-moodle'\n") || !strings.Contains(reg, "LTI_SECRET='"+secret+"'\n") {
		t.Errorf("the node's registration does not carry the key and the secret file's secret:\n%s", reg)
	}

	info := installInfo{URL: "https://bbb.school.example/", SecretFile: filepath.Join(secretDir, "x-api-secret"),
		LTI: &installLTIInfo{Key: "school-moodle", SecretFile: ltiFile, LaunchURL: roles.LTILaunchURL("bbb.school.example")}}
	var b bytes.Buffer
	writeInstallInfo(&b, info)
	js, _ := json.Marshal(info)
	for _, want := range []string{"https://bbb.school.example/lti/rooms/messages/blti", "Consumer key     school-moodle", "in " + ltiFile + " (mode 0600; on the server: sudo cat /opt/bbb-lti/registration.env)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String()+string(js), secret) {
		t.Error("the summary shows the consumer secret")
	}
	if !strings.Contains(string(js), `"lti":{"consumer_key":"school-moodle","consumer_secret_file":"`+ltiFile+`"`) {
		t.Errorf("-o json: %s", js)
	}
}
