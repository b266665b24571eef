package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/golden"
	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/provision/roles"
)

func TestInstallChecks(t *testing.T) {
	good := serverFacts{OS: "ubuntu-22.04", Arch: "x86_64", CPUs: 8, MemKB: 16 << 20, DiskFreeKB: 200 << 20, Addrs: []string{"203.0.113.10", "10.0.0.5"},
		Listeners: []listener{{"tcp", "22", "sshd"}, {"tcp", "80", "nginx"}}}
	status := func(rs []CheckResult) map[string]string {
		m := map[string]string{}
		for _, r := range rs {
			m[r.Name] = r.Status
		}
		return m
	}
	dns := []string{"203.0.113.10"}
	if got := status(evaluate(good, "ubuntu-22.04", "3.0", "bbb.example.org", dns, nil, "203.0.113.10", nil)); len(got) != len(InstallChecks) {
		t.Fatalf("want a verdict per check %v, got %v", InstallChecks, got)
	} else {
		for _, c := range InstallChecks {
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
	o := &InstallOptions{Host: "203.0.113.10", Domain: "bbb.school.example", Email: "admin@school.example", User: "admin", Port: 22, Version: "3.0"}
	if err := o.Check(); err != nil {
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

// Greenlight writes settings.greenlight, whose role steps then run
// Greenlight v3 at / (the roles' goldens pin those).
func TestInstallInventoryGreenlight(t *testing.T) {
	o := &InstallOptions{Host: "203.0.113.10", Domain: "bbb.school.example", Email: "admin@school.example", User: "root", Port: 22, Version: "4.1", Greenlight: true}
	if err := o.Check(); err != nil {
		t.Fatal(err)
	}
	text, err := installInventory(o, nil, "/srv/school/omc-secrets")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "greenlight: true") {
		t.Fatalf("no greenlight setting in:\n%s", text)
	}
}

// --lti KEY writes settings.lti with the consumer secret as an inventory
// secret in omc-secrets/ (made once, like the API secret, never a flag),
// so a second install writes the same inventory and the node gets the
// same registration.
func TestInstallLTI(t *testing.T) {
	bad := &InstallOptions{Host: "203.0.113.10", Domain: "bbb.school.example", Email: "admin@school.example", User: "root", Port: 22, Version: "4.1", LTI: "moodle,x"}
	if err := bad.Check(); err == nil || !strings.Contains(err.Error(), `--lti "moodle,x" is not a consumer key`) {
		t.Fatalf("bad key: %v", err)
	}
	dir := t.TempDir()
	out, secretDir := filepath.Join(dir, "omc.yaml"), filepath.Join(dir, "omc-secrets")
	install := func() ([]byte, string, string) {
		t.Helper()
		o := &InstallOptions{Host: "203.0.113.10", Domain: "bbb.school.example", Email: "admin@school.example", User: "root", Port: 22, Version: "4.1", LTI: "school-moodle"}
		if err := o.Check(); err != nil {
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
}

// An install plans the inventory without writing it, checks the real
// server (an sshd here: Debian, not the Ubuntu BBB 3.0 needs) with the
// resolver it is given, then writes the inventory and its secrets and
// says where they are.
func TestInstall(t *testing.T) {
	d := t.TempDir()
	t.Setenv("OMC_STATE_DIR", filepath.Join(d, "state"))
	t.Setenv("OMC_SSH_CONFIG", "none")
	srv := sshtest.Start(t)
	var looked []string
	o := InstallOptions{Host: "127.0.0.1", Port: srv.Port, User: srv.User, Key: srv.KeyFile, Domain: "bbb.school.test", Email: "admin@school.test",
		Version: "3.0", LTI: "moodle", Inventory: filepath.Join(d, "omc.yaml"), IgnoreChecks: []string{"cpu", "memory", "disk"},
		Lookup: func(_ context.Context, host string) ([]string, error) {
			looked = append(looked, host)
			return []string{"127.0.0.1"}, nil
		}}
	if err := o.Check(); err != nil {
		t.Fatal(err)
	}
	in, err := PlanInstall(o)
	if err != nil {
		t.Fatal(err)
	}
	if in.Node.Name != "bbb-school-test" || in.User != srv.User || in.SecretDir != filepath.Join(d, "omc-secrets") {
		t.Fatalf("plan %+v", in)
	}
	if _, err := os.Stat(o.Inventory); !os.IsNotExist(err) {
		t.Fatal("planning wrote the inventory")
	}
	results, err := in.Preflight(context.Background())
	status := map[string]string{}
	for _, r := range results {
		status[r.Name] = r.Status
	}
	if len(results) != len(InstallChecks) || status["os"] != "failed" || status["dns"] != "ok" || fmt.Sprint(looked) != "[bbb.school.test]" {
		t.Errorf("checks %v, looked up %v", status, looked)
	}
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1 is not ready for BBB 3.0 (os") {
		t.Errorf("a failed check: %v", err)
	}

	res, err := in.Write()
	if err != nil {
		t.Fatal(err)
	}
	want := InstallResult{Host: "127.0.0.1", Domain: "bbb.school.test", URL: "https://bbb.school.test/", APIURL: "https://bbb.school.test/bigbluebutton/api/",
		SecretFile: filepath.Join(d, "omc-secrets", "bbb-school-test-api-secret"), Inventory: o.Inventory,
		LTI: &InstallLTI{Key: "moodle", SecretFile: filepath.Join(d, "omc-secrets", "bbb-school-test-lti-secret"), LaunchURL: roles.LTILaunchURL("bbb.school.test")}}
	if res.LTI == nil || *res.LTI != *want.LTI {
		t.Fatalf("LTI %+v", res.LTI)
	}
	res.LTI, want.LTI = nil, nil
	if *res != want {
		t.Fatalf("result %+v", res)
	}
	inv, err := in.Load()
	if err != nil || len(inv.Nodes()) != 1 {
		t.Fatalf("the written inventory: %v", err)
	}

	// Now it is omc install's inventory for this domain: another domain
	// may not replace it.
	o.Domain = "other.school.test"
	var ue *UsageError
	if _, err := PlanInstall(o); !errors.As(err, &ue) || !strings.Contains(err.Error(), "is not omc install's inventory for other.school.test") {
		t.Errorf("another domain: %v", err)
	}
}
