package inventory

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// field is what the decoder and the schema need to know of a struct field.
type field struct {
	index    int
	name     string // yaml key
	required bool
	keyed    bool
	kind     bool
	orBool   bool // a *struct that may also be written as true or false
	desc     string
	def      string // default:"..." (settings)
}

var fieldCache sync.Map // reflect.Type → []field

func fieldsOf(t reflect.Type) []field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	var fs []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if !sf.IsExported() || name == "" || name == "-" {
			continue
		}
		f := field{index: i, name: name, desc: sf.Tag.Get("desc"), def: sf.Tag.Get("default")}
		for _, o := range strings.Split(sf.Tag.Get("omc"), ",") {
			switch o {
			case "required":
				f.required = true
			case "keyed":
				f.keyed = true
			case "kind":
				f.kind = true
			case "orbool":
				f.orBool = true
			}
		}
		fs = append(fs, f)
	}
	fieldCache.Store(t, fs)
	return fs
}

func lookup(fs []field, name string) *field {
	for i := range fs {
		if fs[i].name == name {
			return &fs[i]
		}
	}
	return nil
}

// suggest offers the closest field name for a misspelt key, or lists them
// all when none is close.
func suggest(fs []field, name string) string {
	best, bestD := "", 3
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
		if dist := editDistance(strings.ToLower(name), f.name); dist < bestD {
			best, bestD = f.name, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (expected one of " + strings.Join(names, ", ") + ")"
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
