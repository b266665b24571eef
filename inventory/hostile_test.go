package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// measure runs f and returns the bytes it allocated (an upper bound on
// the heap it could have held) and how long it took.
func measure(f func()) (uint64, time.Duration) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	d := time.Since(start)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, d
}

func aliasBomb() string {
	var b strings.Builder
	b.WriteString("apiVersion: omc/v1\nname: x\ndefaults:\n  settings:\n   vars:\n")
	b.WriteString(`    a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "    a%d: &a%d [", i, i)
		for j := 0; j < 9; j++ {
			fmt.Fprintf(&b, "*a%d,", i-1)
		}
		b.WriteString("]\n")
	}
	b.WriteString("groups: {}\n")
	return b.String()
}

// mergeBomb nests "<<" merge keys, each pulling in the level below nine
// times: no list, only mappings, so only the merge-key path can blow up.
func mergeBomb() string {
	var b strings.Builder
	b.WriteString("apiVersion: omc/v1\nname: x\ndefaults:\n  settings:\n   vars:\n    m0: &m0 {k: v}\n")
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&b, "    m%d: &m%d {<<: [", i, i)
		for j := 0; j < 9; j++ {
			fmt.Fprintf(&b, "*m%d,", i-1)
		}
		b.WriteString("]}\n")
	}
	b.WriteString("groups: {}\n")
	return b.String()
}

func bigSettings(keys int) string {
	var b strings.Builder
	b.WriteString("apiVersion: omc/v1\nname: x\ndefaults:\n  settings:\n   vars:\n")
	for i := 0; i < keys; i++ {
		fmt.Fprintf(&b, "    k%d: v\n", i)
	}
	b.WriteString("groups:\n  g:\n    provider: local\n    count: 1000\n    name: n-{n}\n")
	return b.String()
}

func TestHostileInput(t *testing.T) {
	tests := []struct {
		name    string
		input   []byte
		want    string // the whole first error line
		maxMiB  uint64
		maxTime time.Duration
	}{
		{"alias bomb", []byte(aliasBomb()), "hostile:10:14: too many alias expansions", 16, time.Second},
		{"merge key bomb", []byte(mergeBomb()), "hostile:10:35: too many alias expansions", 16, time.Second},
		{"deep flow nesting beyond yaml.v3", []byte(strings.Repeat("[", 100000)), "hostile:1:10001: nesting deeper than 50 levels", 32, time.Second},
		{"deep nesting under yaml.v3's limit", []byte("apiVersion: omc/v1\nname: x\ngroups: {}\ndefaults: {settings: {vars: {a: " + strings.Repeat("[", 60) + strings.Repeat("]", 60) + "}}}\n"),
			"hostile:4:80: defaults.settings.vars.a[0][0]", 16, time.Second},
		{"deep block nesting", []byte(strings.Repeat("- ", 20000) + "a\n"), "hostile:1:1: nesting deeper than 50 levels", 32, time.Second},
		{"5 MiB file", bytes.Repeat([]byte("# comment\n"), 5<<20/10), "hostile:1:1: file is larger than 4 MiB", 24, time.Second},
		{"binary", append([]byte("apiVersion: omc/v1\nname: \x7fELF"), 0, 1, 2, 3), "hostile:2:11: NUL byte", 1, time.Second},
		{"invalid UTF-8", []byte("apiVersion: omc/v1\nname: caf\xe9\n"), "hostile:2:10: invalid UTF-8", 1, time.Second},
		{"dense flow list", []byte("[" + strings.Repeat("a,", 1<<20) + "a]"), "hostile:1:200001: more than 100000 YAML lines and items", 16, time.Second},
		{"huge count", []byte("apiVersion: omc/v1\nname: x\ngroups:\n  g: {provider: local, count: 1000000000, name: \"n-{n}\"}\n"), "hostile:4:31: groups.g.count: at most 1000", 1, time.Second},
		{"settings times nodes", []byte(bigSettings(20000)), "hostile:5:4: defaults.settings: merged settings are too large", 64, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			alloc, took := measure(func() { _, err = LoadReader("hostile", bytes.NewReader(tt.input)) })
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want *Errors, got %T %v", err, err)
			}
			if first := errs.List[0].Error(); !strings.HasPrefix(first, tt.want) {
				t.Errorf("first error:\n got %s\nwant %s…", first, tt.want)
			}
			if alloc > tt.maxMiB<<20 {
				t.Errorf("allocated %d MiB, want at most %d MiB", alloc>>20, tt.maxMiB)
			}
			if took > tt.maxTime {
				t.Errorf("took %v, want at most %v", took, tt.maxTime)
			}
			t.Logf("%s: %d KiB, %v", tt.name, alloc>>10, took)
		})
	}
}

// TestDenseButAllowed is the worst file the element limit lets through:
// it must still parse within a bounded amount of memory.
func TestDenseButAllowed(t *testing.T) {
	src := "apiVersion: omc/v1\nname: x\ngroups: {}\ndefaults: {settings: {vars: {a: [" + strings.Repeat("{a: b},", (maxElements-20)/3) + "]}}}\n"
	var err error
	alloc, took := measure(func() { _, err = LoadReader("dense", strings.NewReader(src)) })
	if err != nil {
		t.Fatal(err)
	}
	if alloc > 64<<20 {
		t.Errorf("allocated %d MiB, want at most 64 MiB", alloc>>20)
	}
	t.Logf("%d KiB of input: %d MiB, %v", len(src)>>10, alloc>>20, took)
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: omc/v1\nname: x\ngroups: {}\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "bad%d: 1\n", i)
	}
	_, err := LoadReader("many", strings.NewReader(b.String()))
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want *Errors, got %v", err)
	}
	if n := len(errs.List); n != maxErrors+1 {
		t.Errorf("%d errors, want %d", n, maxErrors+1)
	}
	if last := errs.List[len(errs.List)-1]; last.Msg != "too many errors; stopping" {
		t.Errorf("last error %q", last.Msg)
	}
}

func TestSecondDocument(t *testing.T) {
	_, err := LoadReader("two", strings.NewReader("apiVersion: omc/v1\nname: x\ngroups: {}\n---\nname: y\n"))
	if err == nil || !strings.Contains(err.Error(), "two:4:1: a second YAML document") {
		t.Errorf("got %v", err)
	}
}
