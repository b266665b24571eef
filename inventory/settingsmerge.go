package inventory

import (
	"encoding"
	"reflect"
	"strconv"
	"strings"
)

// setAt is where one key of the settings was written.
type setAt struct {
	Pos  Pos
	Path string // as errors name it, e.g. groups.eu-1.settings.bandwidth
	null bool   // written as null: the key goes back to its default
	on   bool   // a mapping written as true or false (omc:"orbool")
}

// indexSettings records in s.at every key written in s, by its dotted
// path under settings ("bandwidth.egress"), from the decoder's record.
// Merging and the template view go by it: a key is "set" when written,
// whatever its value, so false, 0 and null override a level above.
func indexSettings(where map[any]where, s *Settings) {
	s.at = map[string]setAt{}
	indexStruct(where, reflect.ValueOf(s).Elem(), "", s.at)
}

func indexStruct(where map[any]where, sv reflect.Value, prefix string, at map[string]setAt) {
	for _, f := range fieldsOf(sv.Type()) {
		fv := sv.Field(f.index)
		w := where[fv.Addr().Interface()]
		if !w.set {
			continue
		}
		key := prefix + f.name
		at[key] = setAt{Pos: w.pos(), Path: w.path, null: w.node != nil && isNull(w.node), on: f.orBool && w.node != nil && isBool(w.node)}
		if at[key].null {
			// The decoder makes an empty struct of a null mapping (to
			// report its required keys); in settings null means none.
			fv.Set(reflect.Zero(fv.Type()))
			continue
		}
		if sub, ok := settingStruct(fv); ok {
			indexStruct(where, sub, key+".", at)
		}
	}
}

// settingStruct is the nested settings mapping fv holds, if any.
func settingStruct(fv reflect.Value) (reflect.Value, bool) {
	if fv.Kind() == reflect.Pointer {
		if fv.IsNil() {
			return fv, false
		}
		fv = fv.Elem()
	}
	return fv, fv.Kind() == reflect.Struct && isSettingType(fv.Type())
}

// isSet says whether key was written; settings made in Go (no index)
// count their non-zero fields as written.
func isSet(at map[string]setAt, key string, fv reflect.Value) bool {
	if at == nil {
		return !fv.IsZero()
	}
	_, ok := at[key]
	return ok
}

// mergeSettings returns a copy of base with over laid on it: nested
// settings mappings and maps merge key by key, anything else written in
// over replaces base's, null included.
func (m *merger) mergeSettings(base, over *Settings) Settings {
	out := Settings{at: map[string]setAt{}}
	for _, s := range []*Settings{base, over} {
		if s != nil {
			m.overlay(reflect.ValueOf(&out).Elem(), reflect.ValueOf(s).Elem(), s.at, out.at, "")
		}
	}
	return out
}

func (m *merger) overlay(dst, src reflect.Value, srcAt, dstAt map[string]setAt, prefix string) {
	for _, f := range fieldsOf(src.Type()) {
		sv, dv := src.Field(f.index), dst.Field(f.index)
		key := prefix + f.name
		if !isSet(srcAt, key, sv) {
			continue
		}
		if w, ok := srcAt[key]; ok {
			dstAt[key] = w
		}
		if _, ok := settingStruct(sv); ok {
			if dv.Kind() == reflect.Pointer {
				if dv.IsNil() {
					dv.Set(reflect.New(dv.Type().Elem()))
				}
				dv, sv = dv.Elem(), sv.Elem()
			}
			m.overlay(dv, sv, srcAt, dstAt, key+".")
			continue
		}
		if sv.Kind() == reflect.Pointer && sv.IsNil() && dv.Kind() == reflect.Pointer {
			// null over a mapping: it and everything under it go.
			for k := range dstAt {
				if strings.HasPrefix(k, key+".") {
					delete(dstAt, k)
				}
			}
		}
		if sv.Kind() == reflect.Map && !sv.IsNil() && !dv.IsNil() {
			if sv.Type().Elem().Kind() == reflect.Interface {
				merged := m.settings(dv.Interface().(map[string]any), sv.Interface().(map[string]any))
				dv.Set(reflect.ValueOf(merged))
				continue
			}
			it := sv.MapRange()
			for it.Next() {
				m.spend()
				dv.SetMapIndex(it.Key(), m.clone(it.Value()))
			}
			continue
		}
		dv.Set(m.clone(sv))
	}
}

func (m *merger) spend() {
	if m.budget > 0 {
		m.budget--
	}
}

// clone deep-copies a settings value, spending a unit of the budget per
// list item and map entry, and copying nothing once it is spent.
func (m *merger) clone(v reflect.Value) reflect.Value {
	if m.budget == 0 {
		return reflect.Zero(v.Type())
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(m.clone(v.Elem()))
		return c
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			m.spend()
			c.Index(i).Set(m.clone(v.Index(i)))
		}
		return c
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		it := v.MapRange()
		for it.Next() {
			m.spend()
			c.SetMapIndex(it.Key(), m.clone(it.Value()))
		}
		return c
	case reflect.Interface:
		c := reflect.New(v.Type()).Elem()
		if !v.IsNil() {
			if x := m.copy(v.Interface()); x != nil {
				c.Set(reflect.ValueOf(x))
			}
		}
		return c
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		for i := 0; i < v.NumField(); i++ {
			if c.Field(i).CanSet() {
				c.Field(i).Set(m.clone(v.Field(i)))
			}
		}
		return c
	}
	return v
}

// fillDefaults sets every key not written, written as null, or an empty
// string to its default:"..." tag, in sv and the mappings it holds.
func fillDefaults(sv reflect.Value, at map[string]setAt, prefix string) {
	for _, f := range fieldsOf(sv.Type()) {
		fv := sv.Field(f.index)
		key := prefix + f.name
		if w, set := at[key]; f.def != "" && (!set || w.null || fv.Kind() == reflect.String && fv.String() == "") {
			switch fv.Kind() {
			case reflect.String:
				fv.SetString(f.def)
			case reflect.Bool:
				fv.SetBool(f.def == "true")
			case reflect.Int:
				i, err := strconv.Atoi(f.def)
				if err != nil {
					panic("inventory: default of " + key + " is not an integer")
				}
				fv.SetInt(int64(i))
			}
		}
		if sub, ok := settingStruct(fv); ok {
			fillDefaults(sub, at, key+".")
		}
	}
}

// Written is the settings as the file has them after merging, keyed as
// written and without defaults: what templates see as .Settings (so
// {{ .Settings.timezone }} and {{ .Settings.vars.motd }} read what the
// inventory says) and what omc validate --show prints.
func (s *Settings) Written() map[string]any {
	return written(reflect.ValueOf(s).Elem(), s.at, "")
}

func written(sv reflect.Value, at map[string]setAt, prefix string) map[string]any {
	out := map[string]any{}
	for _, f := range fieldsOf(sv.Type()) {
		fv := sv.Field(f.index)
		key := prefix + f.name
		if !isSet(at, key, fv) {
			continue
		}
		if at[key].null {
			out[f.name] = nil
			continue
		}
		if at[key].on {
			out[f.name] = !fv.IsNil() // true or false, as written
			continue
		}
		if sub, ok := settingStruct(fv); ok {
			out[f.name] = written(sub, at, key+".")
			continue
		}
		out[f.name] = plain(fv)
	}
	return out
}

var textMarshaler = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()

// plain is v as YAML would have decoded it: strings, numbers, booleans,
// []any and map[string]any.
func plain(v reflect.Value) any {
	if v.Type().Implements(textMarshaler) && v.Kind() != reflect.Pointer {
		b, _ := v.Interface().(encoding.TextMarshaler).MarshalText()
		return string(b)
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return plain(v.Elem())
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		l := make([]any, v.Len())
		for i := range l {
			l[i] = plain(v.Index(i))
		}
		return l
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		m := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			m[it.Key().String()] = plain(it.Value())
		}
		return m
	case reflect.Struct:
		m := map[string]any{}
		for _, f := range fieldsOf(v.Type()) {
			if fv := v.Field(f.index); !fv.IsZero() {
				m[f.name] = plain(fv)
			}
		}
		return m
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int:
		return int(v.Int())
	}
	return v.Interface()
}

// WithDefaults is a settings mapping of type T that the inventory does
// not write, every key at its default: what a role reads for a node
// whose role implies the mapping (settings.scalelite on a scalelite node).
func WithDefaults[T any]() *T {
	v := new(T)
	fillDefaults(reflect.ValueOf(v).Elem(), nil, "")
	return v
}
