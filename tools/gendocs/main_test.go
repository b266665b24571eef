package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600") // 2026-01-01
	d := t.TempDir()
	stale := filepath.Join(d, "man", "omc-gone.1")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := generate(d); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"completions/omc.bash": "__start_omc",
		"completions/_omc":     "#compdef omc",
		"completions/omc.fish": "complete -c omc",
		"man/omc.1":            `.TH "OMC" "1" "Jan 2026" "omc"`,
		"man/omc-up.1":         "omc up eu-1", // its example
		"man/omc-tenant.1":     "tenant_secrets",
		"man/omc-settings.1":   "bbb_version",
	} {
		b, err := os.ReadFile(filepath.Join(d, file))
		if err != nil {
			t.Error(err)
			continue
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q", file, want)
		}
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a stale page was kept: %v", err)
	}
}
