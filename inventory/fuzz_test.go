package inventory

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var fuzzErrLine = regexp.MustCompile(`^fuzz:[1-9][0-9]*:[1-9][0-9]*: `)

// FuzzLoad: no input panics, and every error is one line starting with
// FILE:LINE:COL:. Seeds are the test inventories and the example.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, name := range append(files, examplePath) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(mergeSrc))
	f.Add([]byte(aliasBomb()))
	f.Add([]byte(mergeBomb()))
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("\xef\xbb\xbfapiVersion: omc/v1\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		inv, err := LoadReader("fuzz", bytes.NewReader(src))
		if err == nil {
			inv.Nodes()
			inv.SecretValues()
			if _, err := inv.Select(nil, []string{"*"}); err != nil && len(inv.Nodes()) > 0 {
				t.Errorf("select all: %v", err)
			}
			if err := Show(io.Discard, inv, inv.Nodes()); err != nil {
				t.Errorf("show: %v", err)
			}
			return
		}
		var errs *Errors
		if !errors.As(err, &errs) {
			t.Fatalf("want *Errors, got %T: %v", err, err)
		}
		if len(errs.List) == 0 {
			t.Fatal("empty *Errors")
		}
		for _, e := range errs.List {
			if s := e.Error(); !fuzzErrLine.MatchString(s) || strings.ContainsAny(e.Msg, "\n\r") {
				t.Errorf("malformed error %q", s)
			}
		}
	})
}
