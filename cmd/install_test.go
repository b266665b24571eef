package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/internal/testenv"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/provision/roles"
)

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
	o := &installOptions{InstallOptions: fleet.InstallOptions{Host: "127.0.0.1", Port: srv.Port, User: srv.User, Key: srv.KeyFile, Domain: "bbb.school.test", Email: "admin@school.test", Version: "3.0",
		Lookup: func(_ context.Context, host string) ([]string, error) {
			if host != "bbb.school.test" {
				t.Errorf("looked up %q", host)
			}
			return []string{"192.0.2.99"}, nil
		}}}
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
	o.Lookup = func(context.Context, string) ([]string, error) {
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

// The summary names Greenlight when it runs, instead of pointing
// elsewhere for a front end.
func TestInstallGreenlightSummary(t *testing.T) {
	var with, without bytes.Buffer
	writeInstallInfo(&with, &fleet.InstallResult{URL: "https://bbb.school.example/", Greenlight: true})
	writeInstallInfo(&without, &fleet.InstallResult{URL: "https://bbb.school.example/"})
	if !strings.Contains(with.String(), "Greenlight v3 answers at https://bbb.school.example/") || strings.Contains(with.String(), "Add one:") {
		t.Errorf("with Greenlight:\n%s", with.String())
	}
	if !strings.Contains(without.String(), "Add one:") {
		t.Errorf("without Greenlight:\n%s", without.String())
	}
}

// The summary names the LTI key, the launch URL and where the secret
// is, never the secret itself; -o json the same.
func TestInstallLTISummary(t *testing.T) {
	ltiFile, secret := "/srv/school/omc-secrets/x-lti-secret", "FAKE-lti-secret-in-a-file"
	secretDir := "/srv/school/omc-secrets"
	info := &fleet.InstallResult{URL: "https://bbb.school.example/", SecretFile: filepath.Join(secretDir, "x-api-secret"),
		LTI: &fleet.InstallLTI{Key: "school-moodle", SecretFile: ltiFile, LaunchURL: roles.LTILaunchURL("bbb.school.example")}}
	var b bytes.Buffer
	writeInstallInfo(&b, info)
	js, _ := json.Marshal(installV1{1, "install", info})
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
