package inventory

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The decoder walks a yaml.Node tree into the inventory structs itself
// rather than calling yaml.Unmarshal, for three reasons: every problem is
// collected with its position instead of stopping at the first; aliases
// and nesting are bounded (yaml.v3 only limits them for its own decoding);
// and the same struct tags drive decoding and Schema. Tags read:
//
//	yaml:"name"         the key ("-" for fields filled from positions)
//	omc:"required"      the key must be present and not null
//	omc:"keyed"         a []*T written as a mapping keyed by T.Name
//	omc:"kind"          one of a Step's mutually exclusive kinds
//	omc:"orbool"        a *T that may be written as true (T's defaults) or false (nil)
//	default:"..."       a setting's default (settings.go), filled in after merging
//	desc:"..."          the schema description
type decoder struct {
	errs *errList
	// at records where each decoded Go value came from, keyed by its
	// address (e.g. *string for &NodeSpec.Address), so the validator can
	// point at the value it rejects.
	at map[any]where
	// aliased counts nodes visited through aliases and merge keys; when
	// it passes maxAliasNodes decoding stops.
	aliased  int
	inAlias  int
	aliasPos Pos
	stopped  bool
	deep     bool
	// active holds the mappings and lists being decoded, to catch an
	// alias inside its own anchor: yaml.v3 builds such cycles into the
	// node tree and only rejects them in its own decoding.
	active map[*yaml.Node]bool
}

// where is the source of a decoded value.
type where struct {
	node *yaml.Node // the value, or the enclosing mapping when !set
	path string     // e.g. groups.eu-1.nodes[2].address
	set  bool       // present in the file
	bad  bool       // present but not decoded: already reported
}

func (w where) pos() Pos {
	if w.node == nil {
		return Pos{1, 1}
	}
	return posOf(w.node)
}

func posOf(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

var (
	secretType = reflect.TypeOf(Secret{})
	posType    = reflect.TypeOf(Pos{})
	anyType    = reflect.TypeOf((*any)(nil)).Elem()
)

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// join names key under path, quoting keys that are not plain words.
func join(path, key string) string {
	if !plainKey.MatchString(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool {
	n = unalias(n)
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func isBool(n *yaml.Node) bool {
	n = unalias(n)
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool"
}

// unalias is the node an alias stands for.
func unalias(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// describe names what a node is, for "expected X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!str":
		return "a string"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	}
	return "a " + n.ShortTag() + " value"
}

// decode fills v from n; path names v in messages.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, depth int) {
	if d.stopped {
		return
	}
	orig := n
	n = d.enter(orig)
	defer d.leave(orig)
	if n == nil || !d.count() {
		return
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		if d.active[n] {
			d.errs.add(posOf(orig), path, "alias *%s is inside its own anchor", orig.Value)
			return
		}
		d.active[n] = true
		defer delete(d.active, n)
	}
	if depth > maxDepth {
		if !d.deep {
			d.errs.add(posOf(n), path, "nested deeper than %d levels", maxDepth)
			d.deep = true
		}
		return
	}
	// Free-form settings are never validated, so they are not recorded.
	if v.CanAddr() && v.Kind() != reflect.Interface {
		d.at[v.Addr().Interface()] = where{node: n, path: path, set: true}
	}
	if v.Kind() == reflect.Pointer {
		// A null struct (e.g. "file:") still decodes, so that its required
		// keys are reported; a null scalar stays nil.
		if isNull(n) && v.Type().Elem().Kind() != reflect.Struct {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
		d.at[v.Addr().Interface()] = where{node: n, path: path, set: true}
	}
	if v.Type() == secretType {
		d.secret(n, v, path)
		return
	}
	if v.CanAddr() {
		if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
			if !d.text(n, u, path) {
				d.at[v.Addr().Interface()] = where{node: n, path: path, set: true, bad: true}
			}
			return
		}
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path, depth)
	case reflect.Slice:
		d.slice(n, v, path, depth)
	case reflect.Map:
		d.mapping(n, v, path, depth)
	case reflect.Interface:
		if x := d.any(n, path, depth); x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		before := len(d.errs.list)
		d.scalar(n, v, path)
		if len(d.errs.list) > before && v.CanAddr() {
			d.at[v.Addr().Interface()] = where{node: n, path: path, set: true, bad: true}
		}
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string, depth int) {
	fs := fieldsOf(v.Type())
	if pf := v.FieldByName("Pos"); pf.IsValid() && pf.Type() == posType {
		pf.Set(reflect.ValueOf(posOf(n)))
	}
	var ps []pair
	switch {
	case isNull(n):
	case n.Kind != yaml.MappingNode:
		d.errs.add(posOf(n), path, "expected a mapping, got %s", describe(n))
		return
	default:
		ps = d.pairs(n, path)
	}
	seen := make(map[string]*yaml.Node, len(ps))
	for _, p := range ps {
		if p.k.Kind != yaml.ScalarNode {
			d.errs.add(posOf(p.k), path, "keys must be strings, got %s", describe(p.k))
			continue
		}
		name := p.k.Value
		f := lookup(fs, name)
		if f == nil {
			if path == "" && strings.HasPrefix(name, "x-") {
				continue // extension keys: a home for YAML anchors
			}
			if hint, ok := settingTypes[v.Type()]; ok {
				d.errs.add(posOf(p.k), join(path, name), "unknown setting%s", suggestSetting(fs, name, hint))
				continue
			}
			d.errs.add(posOf(p.k), path, "unknown field %q%s", name, suggest(fs, name))
			continue
		}
		if first, dup := seen[name]; dup {
			if !p.merged {
				d.errs.add(posOf(p.k), join(path, name), "duplicate key (first at line %d)", first.Line)
			}
			continue
		}
		seen[name] = p.k
		fp := join(path, name)
		if f.required && isNull(p.v) {
			d.errs.add(posOf(p.v), fp, "required, got null")
		}
		fv := v.Field(f.index)
		if f.orBool && isBool(p.v) {
			// true: the struct with its defaults; false: none.
			d.at[fv.Addr().Interface()] = where{node: p.v, path: fp, set: true}
			if unalias(p.v).Value == "true" {
				fv.Set(reflect.New(fv.Type().Elem()))
			} else {
				fv.Set(reflect.Zero(fv.Type()))
			}
			continue
		}
		if f.keyed {
			d.keyed(p.v, fv, fp, depth+1)
		} else {
			d.decode(p.v, fv, fp, depth+1)
		}
	}
	for _, f := range fs {
		if seen[f.name] != nil {
			continue
		}
		fv := v.Field(f.index)
		d.at[fv.Addr().Interface()] = where{node: n, path: join(path, f.name)}
		if f.required {
			d.errs.add(posOf(n), path, "missing required field %q", f.name)
		}
	}
}

// keyed decodes a mapping of name → struct into a []*T in file order,
// setting each T's Name and Pos from its key.
func (d *decoder) keyed(n *yaml.Node, v reflect.Value, path string, depth int) {
	orig := n
	n = d.enter(orig)
	defer d.leave(orig)
	if n == nil || !d.count() || isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errs.add(posOf(n), path, "expected a mapping of names to entries, got %s", describe(n))
		return
	}
	d.at[v.Addr().Interface()] = where{node: n, path: path, set: true}
	ps := d.pairs(n, path)
	seen := map[string]*yaml.Node{}
	items := reflect.MakeSlice(v.Type(), 0, len(ps))
	for _, p := range ps {
		if p.k.Kind != yaml.ScalarNode || isNull(p.k) {
			d.errs.add(posOf(p.k), path, "keys must be names, got %s", describe(p.k))
			continue
		}
		name := p.k.Value
		if first, dup := seen[name]; dup {
			if !p.merged {
				d.errs.add(posOf(p.k), join(path, name), "duplicate key (first at line %d)", first.Line)
			}
			continue
		}
		seen[name] = p.k
		e := reflect.New(v.Type().Elem().Elem())
		fp := join(path, name)
		d.decode(p.v, e.Elem(), fp, depth)
		e.Elem().FieldByName("Name").SetString(name)
		e.Elem().FieldByName("Pos").Set(reflect.ValueOf(posOf(p.k)))
		d.at[e.Elem().FieldByName("Name").Addr().Interface()] = where{node: p.k, path: fp, set: true}
		items = reflect.Append(items, e)
	}
	v.Set(items)
}

func (d *decoder) slice(n *yaml.Node, v reflect.Value, path string, depth int) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errs.add(posOf(n), path, "expected a list, got %s", describe(n))
		return
	}
	v.Set(reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content)))
	ptrs := v.Type().Elem().Kind() == reflect.Pointer
	holes := false
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		if ptrs && isNull(item) {
			d.errs.add(posOf(item), ip, "empty list item")
			holes = true
			continue
		}
		d.decode(item, v.Index(i), ip, depth+1)
	}
	if holes { // drop the nil items so that nobody downstream trips on them
		kept := reflect.MakeSlice(v.Type(), 0, v.Len())
		for i := 0; i < v.Len(); i++ {
			if !v.Index(i).IsNil() {
				kept = reflect.Append(kept, v.Index(i))
			}
		}
		v.Set(kept)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string, depth int) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errs.add(posOf(n), path, "expected a mapping, got %s", describe(n))
		return
	}
	ps := d.pairs(n, path)
	m := reflect.MakeMapWithSize(v.Type(), len(ps))
	seen := map[string]*yaml.Node{}
	for _, p := range ps {
		if p.k.Kind != yaml.ScalarNode || isNull(p.k) {
			d.errs.add(posOf(p.k), path, "keys must be strings, got %s", describe(p.k))
			continue
		}
		key := p.k.Value
		if first, dup := seen[key]; dup {
			if !p.merged {
				d.errs.add(posOf(p.k), join(path, key), "duplicate key (first at line %d)", first.Line)
			}
			continue
		}
		seen[key] = p.k
		if v.Type().Elem().Kind() != reflect.Interface {
			d.at[join(path, key)] = where{node: p.k, path: join(path, key), set: true}
		}
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(p.v, e, join(path, key), depth+1)
		m.SetMapIndex(reflect.ValueOf(key), e)
	}
	v.Set(m)
}

// any decodes free-form settings: scalars as yaml.v3 resolves them,
// lists as []any, mappings as map[string]any.
func (d *decoder) any(n *yaml.Node, path string, depth int) any {
	switch n.Kind {
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, item := range n.Content {
			e := reflect.ValueOf(&l[i]).Elem()
			d.decode(item, e, fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
		return l
	case yaml.MappingNode:
		m := map[string]any{}
		d.mapping(n, reflect.ValueOf(&m).Elem(), path, depth)
		return m
	}
	switch t := n.ShortTag(); t {
	case "!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp":
	default:
		d.errs.add(posOf(n), path, "unsupported tag %s", t)
		return nil
	}
	var x any
	if err := n.Decode(&x); err != nil {
		d.errs.add(posOf(n), path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return x
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errs.add(posOf(n), path, "expected %s, got %s", want(v.Kind()), describe(n))
		return
	}
	tag := n.ShortTag()
	if tag == "!!null" {
		return
	}
	switch v.Kind() {
	case reflect.String:
		// Numbers keep their text: "mode: 0644" means the string 0644.
		switch tag {
		case "!!str", "!!int", "!!float":
			v.SetString(n.Value)
		case "!!bool":
			d.errs.add(posOf(n), path, "expected a string, got a boolean (quote %q if you mean the text)", n.Value)
		default:
			d.errs.add(posOf(n), path, "expected a string, got %s", describe(n))
		}
	case reflect.Int:
		var i int
		if tag == "!!float" && allDigits.MatchString(strings.TrimLeft(n.Value, "+-")) {
			d.errs.add(posOf(n), path, "%q is out of range", n.Value)
		} else if tag != "!!int" {
			d.errs.add(posOf(n), path, "expected an integer, got %s", describe(n))
		} else if err := n.Decode(&i); err != nil {
			d.errs.add(posOf(n), path, "%q is out of range", n.Value)
		} else {
			v.SetInt(int64(i))
		}
	case reflect.Float64:
		var f float64
		if tag != "!!int" && tag != "!!float" {
			d.errs.add(posOf(n), path, "expected a number, got %s", describe(n))
		} else if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			d.errs.add(posOf(n), path, "%q is not a finite number", n.Value)
		} else {
			v.SetFloat(f)
		}
	case reflect.Bool:
		if tag != "!!bool" {
			d.errs.add(posOf(n), path, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")
	default:
		panic("inventory: no decoder for " + v.Type().String())
	}
}

// text decodes a scalar through the type's own UnmarshalText (addresses,
// ranges, values kept as written); false when it was refused.
func (d *decoder) text(n *yaml.Node, u encoding.TextUnmarshaler, path string) bool {
	if n.Kind != yaml.ScalarNode {
		d.errs.add(posOf(n), path, "expected a string, got %s", describe(n))
		return false
	}
	switch n.ShortTag() {
	case "!!null":
		return true
	case "!!str", "!!int", "!!float", "!!bool":
	default:
		d.errs.add(posOf(n), path, "expected a string, got %s", describe(n))
		return false
	}
	if err := u.UnmarshalText([]byte(n.Value)); err != nil {
		d.errs.add(posOf(n), path, "%v", err)
		return false
	}
	return true
}

func want(k reflect.Kind) string {
	switch k {
	case reflect.Int:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.Float64:
		return "a number"
	}
	return "a string"
}

var (
	secretRef = regexp.MustCompile(`^(env|file):(.+)$`)
	envName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// secret reads an env:NAME or file:PATH reference. The message for
// anything else never repeats the text, which may be the secret itself.
func (d *decoder) secret(n *yaml.Node, v reflect.Value, path string) {
	const clear = "secrets must be env:NAME or file:PATH, never clear text"
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
			d.errs.add(posOf(n), path, clear)
		} else {
			d.errs.add(posOf(n), path, "expected env:NAME or file:PATH, got %s", describe(n))
		}
		return
	}
	m := secretRef.FindStringSubmatch(n.Value)
	if m == nil {
		d.errs.add(posOf(n), path, clear)
		return
	}
	if m[1] == "env" && !envName.MatchString(m[2]) {
		d.errs.add(posOf(n), path, "%q is not a valid environment variable name", m[2])
		return
	}
	v.Set(reflect.ValueOf(Secret{Pos: posOf(n), Ref: n.Value, Kind: m[1], Arg: m[2]}))
}
