package cmd

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omc-coop/omc/fleet"
)

// completionInventory writes an inventory with two groups (one with a
// pool whose tenant_secrets directory holds two tenants and a stray
// file) and returns its path.
func completionInventory(t *testing.T) string {
	t.Helper()
	d := isolate(t)
	src := `apiVersion: omc/v1
name: t
groups:
  eu:
    provider: static
    roles: [bbb]
    domain: "{name}.example.org"
    settings: {bbb_version: "3.0"}
    pool:
      url: https://scalelite.example.org
      secret: env:OMC_T_UNSET_LB
      tenant_secrets: tenants
    nodes:
      - {name: bbb-1, address: 192.0.2.1}
      - {name: bbb-2, address: 192.0.2.2}
  dev:
    provider: static
    nodes:
      - {name: dev-1, address: 192.0.2.9}
`
	p := filepath.Join(d, "omc.yaml")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	tenants := filepath.Join(d, "tenants")
	if err := os.Mkdir(tenants, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"school-a.secret", "school-b.secret", "notes.txt", "Bad_Name.secret"} {
		if err := os.WriteFile(filepath.Join(tenants, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// complete runs omc __complete in-process and returns the offered
// values (descriptions cut off) and the directive line.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	out, errb, code := run(t, "", append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("omc __complete %q: exit %d, stderr %s", args, code, errb)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var vals []string
	for _, l := range lines[:len(lines)-1] {
		vals = append(vals, strings.SplitN(l, "\t", 2)[0])
	}
	return vals, lines[len(lines)-1]
}

func TestCompletionOffersInventoryNames(t *testing.T) {
	inv := completionInventory(t)
	const noFiles = ":4" // ShellCompDirectiveNoFileComp
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"drain", ""}, []string{"bbb-1", "bbb-2", "dev-1"}},
		{[]string{"drain", "bbb-1", ""}, nil}, // one NODE only
		{[]string{"up", ""}, []string{"eu", "dev", "bbb-1", "bbb-2", "dev-1"}},
		{[]string{"up", "eu", "b"}, []string{"bbb-1", "bbb-2"}},
		{[]string{"up", "bbb-1", "bbb"}, []string{"bbb-2"}}, // not twice
		{[]string{"status", ""}, []string{"eu", "dev"}},
		{[]string{"upgrade", ""}, []string{"eu", "dev"}},
		{[]string{"up", "--limit", "d"}, []string{"dev-1"}},
		{[]string{"tenant", ""}, []string{"add", "list", "rotate", "disable"}},
		{[]string{"tenant", "rotate", ""}, []string{"school-a", "school-b"}},
		{[]string{"tenant", "disable", "--pool", "dev", ""}, nil},
		{[]string{"tenant", "add", ""}, nil},
		{[]string{"tenant", "--pool", ""}, []string{"eu"}},
		{[]string{"usage", "report", "--tenant", "school-"}, []string{"school-a", "school-b"}},
		{[]string{"invoice", ""}, nil},
	}
	for _, c := range cases {
		got, dir := complete(t, append([]string{"-i", inv}, c.args...)...)
		if !slices.Equal(got, c.want) || dir != noFiles {
			t.Errorf("omc __complete %q = %q %s, want %q %s", c.args, got, dir, c.want, noFiles)
		}
	}
	// $OMC_INVENTORY names it as well.
	t.Setenv("OMC_INVENTORY", inv)
	if got, _ := complete(t, "enable", "dev"); !slices.Equal(got, []string{"dev-1"}) {
		t.Errorf("with $OMC_INVENTORY: %q, want [dev-1]", got)
	}
}

func TestCompletionOffersFormatsAndLines(t *testing.T) {
	isolate(t)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"status", "-o", ""}, []string{"text", "json"}},
		{[]string{"usage", "report", "--output", ""}, []string{"text", "json", "csv"}},
		{[]string{"status", "-o", "j"}, []string{"json"}},
		{[]string{"upgrade", "eu", "--to", ""}, []string{"4.1", "4.0", "3.0"}},
		{[]string{"install", "--version", "3"}, []string{"3.0"}},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish", "powershell"}},
	}
	for _, c := range cases {
		if got, _ := complete(t, c.args...); !slices.Equal(got, c.want) {
			t.Errorf("omc __complete %q = %q, want %q", c.args, got, c.want)
		}
	}
}

// A missing, invalid, stdin or non-regular inventory completes nothing,
// prints no error and does not block.
func TestCompletionQuietWithoutInventory(t *testing.T) {
	d := isolate(t)
	bad := filepath.Join(d, "bad.yaml")
	if err := os.WriteFile(bad, []byte("groups: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(d, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, inv := range []string{filepath.Join(d, "missing.yaml"), bad, "-", fifo, d} {
		out, errb, code := run(t, "", "__complete", "-i", inv, "drain", "")
		if code != 0 || strings.TrimSpace(out) != ":4" || strings.Contains(errb, "omc:") {
			t.Errorf("-i %s: exit %d, stdout %q, stderr %q; want only :4 and no error", inv, code, out, errb)
		}
	}
	// invoice --out is a directory.
	if out, _, _ := run(t, "", "__complete", "invoice", "--out", ""); out != ":16\n" {
		t.Errorf("invoice --out completion = %q, want the directory filter (:16)", out)
	}
	// -i itself completes YAML files.
	out, _, _ := run(t, "", "__complete", "status", "-i", "")
	if out != "yaml\nyml\n:8\n" {
		t.Errorf("-i completion = %q, want the yaml/yml file filter", out)
	}
}

func TestCompletionScripts(t *testing.T) {
	isolate(t)
	for shell, want := range map[string]string{
		"bash":       "__start_omc",
		"zsh":        "#compdef omc",
		"fish":       "complete -c omc",
		"powershell": "Register-ArgumentCompleter",
	} {
		out, errb, code := run(t, "", "completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("omc completion %s: exit %d (%s), output lacks %q", shell, code, errb, want)
		}
	}
	if _, _, code := run(t, "", "completion", "tcsh"); code != ExitUsage {
		t.Errorf("omc completion tcsh: exit %d, want %d", code, ExitUsage)
	}
}

func TestCompletionMonths(t *testing.T) {
	isolate(t)
	got := fleet.RecentMonths(time.Date(2026, 1, 31, 23, 0, 0, 0, time.Local))
	if len(got) != 2 || !strings.HasPrefix(got[0], "2025-12\t") || !strings.HasPrefix(got[1], "2026-01\t") {
		t.Errorf("fleet.RecentMonths(2026-01-31) = %q, want 2025-12 then 2026-01", got)
	}
	for _, args := range [][]string{{"invoice", "--month", ""}, {"usage", "report", "--month", "2"}} {
		if got, _ := complete(t, args...); len(got) != 2 {
			t.Errorf("omc __complete %q = %q, want two months", args, got)
		}
	}
}
