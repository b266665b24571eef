package inventory

import (
	"fmt"
	"reflect"
	"strings"
)

// settingKey is one documented setting: its dotted key and struct field.
type settingKey struct {
	key   string
	owner reflect.Type // the struct holding it
	typ   reflect.Type
	f     field
}

// settingKeys lists every setting, nested ones after their mapping, in
// struct order: the one list the help text and the tests walk.
func settingKeys() []settingKey {
	var out []settingKey
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for _, f := range fieldsOf(t) {
			ft := t.Field(f.index).Type
			out = append(out, settingKey{key: prefix + f.name, owner: t, typ: ft, f: f})
			st := ft
			if st.Kind() == reflect.Pointer || st.Kind() == reflect.Slice {
				st = st.Elem()
			}
			if isSettingType(st) {
				walk(st, prefix+f.name+".")
			}
		}
	}
	walk(reflect.TypeOf(Settings{}), "")
	return out
}

// typeName says in words what a setting's value is.
func typeName(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(CIDR{}):
		return "address range"
	case reflect.TypeOf(IP{}):
		return "IP address"
	case reflect.TypeOf(Scalar("")):
		return "value"
	}
	switch t.Kind() {
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Struct {
			return "mapping"
		}
		return typeName(t.Elem())
	case reflect.Struct:
		return "mapping"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Interface {
			return "list"
		}
		e := typeName(t.Elem())
		if e == "address range" {
			return "list of address ranges"
		}
		if e == "mapping" {
			return "list of mappings"
		}
		return "list of " + e + "s"
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			return "free-form mapping"
		}
		return "mapping of " + typeName(t.Elem()) + "s"
	case reflect.Bool:
		return "boolean"
	case reflect.Int:
		return "integer"
	}
	return "string"
}

// SettingsHelp is the settings reference omc help settings prints: every
// key with its type, default and doc, from the tags Schema reads too.
func SettingsHelp() string {
	var b strings.Builder
	b.WriteString(`Settings
--------
Every key below goes under settings: in defaults, a group or a node.
A node's settings merge defaults < group < node: nested mappings merge
key by key, anything else is replaced, and null goes back to the
default. An unknown key is an error at its line; values only your own
templates read go under vars ({{ .Settings.vars.KEY }}).

`)
	for _, k := range settingKeys() {
		depth := strings.Count(k.key, ".")
		indent := strings.Repeat("  ", depth)
		t := typeName(k.typ)
		if k.f.orBool {
			t = "true, false or a mapping"
		}
		fmt.Fprintf(&b, "%s%s: %s", indent, k.f.name, t)
		if k.f.def != "" {
			fmt.Fprintf(&b, " (default %s)", k.f.def)
		}
		if r := settingRules[k.owner.Name()+"."+k.f.name]; r.enum != nil {
			fmt.Fprintf(&b, ", one of %s", strings.Join(r.enum, ", "))
		}
		fmt.Fprintf(&b, "\n%s    %s\n", indent, k.f.desc)
	}
	return b.String()
}
