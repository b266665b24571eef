package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600") // 2026-01-01
	d := t.TempDir()
	stale := filepath.Join(d, "man", "omc-gone.1.gz")
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
		"completions/omc.bash":  "__start_omc",
		"completions/_omc":      "#compdef omc",
		"completions/omc.fish":  "complete -c omc",
		"man/omc.1.gz":          `.TH "OMC" "1" "Jan 2026" "omc"`,
		"man/omc-up.1.gz":       "omc up eu-1", // its example
		"man/omc-tenant.1.gz":   "tenant_secrets",
		"man/omc-settings.1.gz": "bbb_version",
	} {
		b, err := os.ReadFile(filepath.Join(d, file))
		if err == nil && strings.HasSuffix(file, ".gz") {
			b, err = gunzip(b)
		}
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

func gunzip(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// Two runs give the same bytes: packages and checksums of a tag can be
// rebuilt.
func TestGenerateIsReproducible(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600")
	a, b := t.TempDir(), t.TempDir()
	if err := generate(a); err != nil {
		t.Fatal(err)
	}
	if err := generate(b); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"man/omc-up.1.gz", "completions/omc.bash"} {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs (%d and %d bytes)", f, len(x), len(y))
		}
	}
}
