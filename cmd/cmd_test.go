package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/golden"
	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/internal/ui"
)

// run executes omc in-process with test streams and returns stdout,
// stderr and the exit code; with -o json it checks the JSON contract
// (checkJSONContract).
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	s := &ui.Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb, CI: true}
	code := mainWith(s, args, testSeams)
	if wantsJSON(args) {
		// Every test that asks for -o json checks the contract too.
		checkJSONContract(t, args, out.String(), code)
	}
	return out.String(), errb.String(), code
}

// lockPathFor gives each "host" of a test its own lock file (pattern,
// {node} replaced) while t runs: the test's sshd hosts share a machine.
func lockPathFor(t testing.TB, pattern string) {
	t.Setenv(testLockPathEnv, pattern)
}

func isolate(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	t.Setenv("OMC_STATE_DIR", filepath.Join(d, "state"))
	t.Setenv("OMC_INVENTORY", "")
	t.Setenv("NO_COLOR", "1")
	return d
}

func TestExitCodes(t *testing.T) {
	d := isolate(t)
	bad := filepath.Join(d, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: omc/v1\nname: t\ngroups:\n  g:\n    provider: static\n    nodes:\n      - name: a\n        addres: 10.0.0.1\n"), 0o644)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
		stdout string
	}{
		{"invalid inventory", []string{"validate", "-i", bad}, ExitInventory, bad + ":8:9: ", ""},
		{"invalid inventory stops up before contact", []string{"up", "-i", bad}, ExitInventory, "addres", ""},
		{"unknown flag", []string{"up", "--frobnicate"}, ExitUsage, "unknown flag", ""},
		{"bad output", []string{"version", "-o", "xml"}, ExitUsage, "--output must be text or json", ""},
		{"missing inventory", []string{"validate", "-i", filepath.Join(d, "nope.yaml")}, ExitInventory, "nope.yaml", ""},
		{"help topic", []string{"help", "exit-codes"}, ExitOK, "", "130  interrupted"},
		{"version json", []string{"version", "-o", "json"}, ExitOK, "", `"version":"dev"`},
		{"unknown command", []string{"frobnicate"}, ExitUsage, `unknown command "frobnicate" for "omc"`, ""},
		{"unknown subcommand", []string{"pool", "frobnicate"}, ExitUsage, `unknown command "frobnicate" for "omc pool": sync`, ""},
		{"group without subcommand", []string{"known-hosts"}, ExitUsage, "omc known-hosts needs a subcommand: forget, path", ""},
		{"inventory error names no log", []string{"drain", "x", "-i", bad}, ExitInventory, bad + ":8:9: ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := run(t, "", tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.stderr) || !strings.Contains(out, tt.stdout) || strings.Contains(errs, "full log") {
				t.Fatalf("code %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
		})
	}
}

func TestValidateReadsStdinAndShowsMergedNodesWithoutSecrets(t *testing.T) {
	isolate(t)
	t.Setenv("OMC_T_SECRET", "v3ry-secret-value")
	inv := "apiVersion: omc/v1\nname: t\nsecrets:\n  s: env:OMC_T_SECRET\ndefaults:\n  settings: {timezone: UTC}\ngroups:\n  g:\n    provider: static\n    nodes:\n      - name: a\n        address: 192.0.2.1\n        settings: {timezone: Europe/Berlin}\n"
	out, errs, code := run(t, inv, "validate", "--show", "-i", "-")
	if code != 0 || !strings.Contains(out, "timezone: Europe/Berlin") || !strings.Contains(out, "env:OMC_T_SECRET") {
		t.Fatalf("code %d\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out+errs, "v3ry-secret-value") {
		t.Fatal("secret value shown")
	}
}

func TestSchemaIsJSON(t *testing.T) {
	out, _, code := run(t, "", "schema")
	var v map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v["$schema"] == nil {
		t.Fatalf("code %d: %.200s", code, out)
	}
}

// fleetInventory points a static group at real sshd servers on loopback.
func fleetInventory(t *testing.T, d string, srvs []*sshtest.Server) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: omc/v1\nname: t\nsecrets:\n  api: env:OMC_T_API\ngroups:\n  g:\n    provider: static\n    nodes:\n")
	for i, s := range srvs {
		root := filepath.Join(d, fmt.Sprintf("h%d", i))
		os.MkdirAll(root, 0o755)
		fmt.Fprintf(&b, `      - name: h%d
        address: 127.0.0.1
        ssh: {port: %d, key: %s, user: %s}
        steps:
          - file: {path: %s/app.conf, content: "name={{ .Node.Name }}\napi={{ secret \"api\" }}\n", mode: "0600"}
          - dir: {path: %s/data}
`, i, s.Port, s.KeyFile, s.User, root, root)
	}
	p := filepath.Join(d, "omc.yaml")
	os.WriteFile(p, []byte(b.String()), 0o644)
	return p
}

func TestUpPlanJSONAndSecrets(t *testing.T) {
	d := isolate(t)
	const secret = "api-s3cret-not-for-eyes"
	t.Setenv("OMC_T_API", secret)
	srvs := []*sshtest.Server{sshtest.Start(t), sshtest.Start(t)}
	lockPathFor(t, filepath.Join(d, "{node}.lock")) // both "hosts" are this machine
	inv := fleetInventory(t, d, srvs)
	var seen strings.Builder

	// First contact refused with --accept-new=false: nothing recorded.
	out, errs, code := run(t, "", "plan", "g", "-i", inv, "--accept-new=false")
	if code != ExitError || !strings.Contains(errs, "unknown host key") || strings.Contains(errs, "first contact: recorded") {
		t.Fatalf("plan --accept-new=false: code %d\n%s\n%s", code, out, errs)
	}

	// plan on fresh hosts: changes pending, exit 2, secrets masked in
	// diffs; each host key recorded is shown with its fingerprint.
	out, errs, code = run(t, "", "plan", "g", "-i", inv)
	seen.WriteString(out + errs)
	if code != ExitPending || !strings.Contains(out, "h0: 2 to change") || !strings.Contains(out, "+api=***") {
		t.Fatalf("plan: code %d\n%s\n%s", code, out, errs)
	}
	for i, srv := range srvs {
		if want := fmt.Sprintf("h%d: first contact: recorded host key %s %s", i, srv.HostKey.Type(), ssh.FingerprintSHA256(srv.HostKey)); !strings.Contains(errs, want) {
			t.Fatalf("plan does not say %q:\n%s", want, errs)
		}
	}
	if _, errs, code := run(t, "", "known-hosts", "forget", "192.0.2.99"); code != ExitUsage || !strings.Contains(errs, "no host key recorded") {
		t.Fatalf("forgetting a host never recorded: code %d\n%s", code, errs)
	}

	// up -o json: one JSON object per line, ending with the summary.
	out, errs, code = run(t, "", "up", "g", "-i", inv, "-o", "json")
	seen.WriteString(out + errs)
	if code != 0 {
		t.Fatalf("up: code %d\n%s\n%s", code, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sum struct {
		Type                      string
		Hosts, Changed, Failed, V int
		Log                       string
	}
	for _, l := range lines {
		if json.Unmarshal([]byte(l), &sum) != nil {
			t.Fatalf("not JSON: %q", l)
		}
	}
	if sum.Type != "summary" || sum.Hosts != 2 || sum.Changed != 2 || sum.Failed != 0 || sum.V != 1 {
		t.Fatalf("summary: %+v", sum)
	}
	logText, err := os.ReadFile(sum.Log)
	if err != nil || !strings.Contains(string(logText), "host=h0") {
		t.Fatalf("debug log %s: %v", sum.Log, err)
	}
	seen.Write(logText)

	// Converged: up changes nothing, plan exits 0.
	out, errs, code = run(t, "", "up", "g", "-i", inv)
	seen.WriteString(out + errs)
	if code != 0 || !strings.Contains(errs, "0 changed, 2 unchanged") {
		t.Fatalf("re-run: code %d\n%s\n%s", code, out, errs)
	}
	if _, _, code = run(t, "", "plan", "g", "-i", inv); code != 0 {
		t.Fatalf("plan after converge: code %d", code)
	}

	// Drift on one host, limited run: only h1 is touched.
	os.WriteFile(filepath.Join(d, "h1", "app.conf"), []byte("name=h1\napi=old-"+secret+"\n"), 0o600)
	out, errs, code = run(t, "", "plan", "g", "-i", inv, "--limit", "h1")
	seen.WriteString(out + errs)
	if code != ExitPending || !strings.Contains(out, "-*** (old line hidden") || strings.Contains(out, "h0") {
		t.Fatalf("drift plan: code %d\n%s\n%s", code, out, errs)
	}

	// A host that refuses connections: exit 1, the other host fine.
	srvs[0].Stop()
	out, errs, code = run(t, "", "up", "g", "-i", inv)
	seen.WriteString(out + errs)
	if code != ExitError || !strings.Contains(errs, "h0:") || !strings.Contains(errs, "1 of 2 hosts failed; full log:") {
		t.Fatalf("down host: code %d\n%s\n%s", code, out, errs)
	}
	// The failed host is logged at error level.
	logPath := strings.TrimSpace(errs[strings.LastIndex(errs, "full log: ")+len("full log: "):])
	logText, err = os.ReadFile(logPath)
	if err != nil || !strings.Contains(string(logText), "level=ERROR msg=event host=h0") {
		t.Fatalf("debug log %s: %v\n%s", logPath, err, logText)
	}
	seen.Write(logText)
	if strings.Contains(seen.String(), secret) {
		t.Fatal("the secret appeared in output or the debug log")
	}
}

func TestPlanTextGolden(t *testing.T) {
	d := isolate(t)
	t.Setenv("OMC_T_API", "golden-secret")
	srv := sshtest.Start(t)
	inv := fleetInventory(t, d, []*sshtest.Server{srv})
	os.WriteFile(filepath.Join(d, "h0", "app.conf"), []byte("name=old\napi=golden-secret\n"), 0o644)
	out, _, code := run(t, "", "plan", "-i", inv)
	if code != ExitPending {
		t.Fatalf("code %d\n%s", code, out)
	}
	got := strings.ReplaceAll(out, d, "$DIR")
	golden.AssertString(t, "plan.golden", got)
}

// `go install …@v1.2.3` builds carry no -X stamp: the version comes from
// the module's build info; a stamp wins; a clone's build stays "dev".
func TestVersionFromBuildInfo(t *testing.T) {
	info := func(v string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) { return &debug.BuildInfo{Main: debug.Module{Version: v}}, true }
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	for _, tc := range []struct {
		stamped string
		info    func() (*debug.BuildInfo, bool)
		want    string
	}{
		{"dev", info("v1.2.3"), "v1.2.3"},
		{"v2.0.0", info("v1.2.3"), "v2.0.0"},
		{"dev", info("(devel)"), "dev"},
		{"dev", none, "dev"},
	} {
		if got := versionOf(tc.stamped, tc.info); got != tc.want {
			t.Errorf("versionOf(%q): %q, want %q", tc.stamped, got, tc.want)
		}
	}
}
