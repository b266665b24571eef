package inventory

import (
	"encoding/json"
	"reflect"
	"strconv"
)

// schemaExtra adds what struct tags do not say, keyed by "Type.key".
var schemaExtra = map[string]map[string]any{
	"Inventory.apiVersion":     {"const": APIVersion},
	"Inventory.name":           {"pattern": label.String()},
	"Group.provider":           {"enum": providerNames},
	"Group.roles":              {"items": map[string]any{"enum": roleNames}},
	"NodeSpec.roles":           {"items": map[string]any{"enum": roleNames}},
	"Group.count":              {"minimum": 0, "maximum": maxNodes},
	"Group.name":               {"pattern": `\{n\}`},
	"NodeSpec.name":            {"pattern": label.String()},
	"SSH.port":                 {"minimum": 1, "maximum": 65535},
	"FileStep.mode":            {"type": []string{"string", "integer"}, "pattern": octalMode.String()},
	"DirStep.mode":             {"type": []string{"string", "integer"}, "pattern": octalMode.String()},
	"SysctlStep.value":         {"type": []string{"string", "integer", "number"}},
	"Pool.api":                 {"enum": poolAPIs},
	"Pool.checksum":            {"enum": poolChecksums},
	"Pool.bbb_checksum":        {"enum": bbbChecksums},
	"Pool.checks":              {"items": map[string]any{"enum": poolChecks}},
	"Pool.tag":                 {"pattern": poolTag.String()},
	"NodeSpec.tag":             {"pattern": poolTag.String()},
	"Pool.load_multiplier":     {"exclusiveMinimum": 0},
	"NodeSpec.load_multiplier": {"exclusiveMinimum": 0},
}

// Schema returns a JSON Schema (draft 2020-12) of the inventory file,
// generated from the same structs and tags the decoder reads, so editors
// can complete and check the file and the two cannot drift apart.
func Schema() ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	root := g.object(reflect.TypeOf(Inventory{}))
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://github.com/omc-coop/omc/inventory/omc-v1.schema.json"
	root["title"] = "omc inventory (" + APIVersion + ")"
	// Keys starting with x- are ignored: a place for YAML anchors.
	root["patternProperties"] = map[string]any{"^x-": map[string]any{}}
	root["$defs"] = g.defs
	return json.MarshalIndent(root, "", "  ")
}

type schemaGen struct{ defs map[string]any }

// object is the schema of a struct: its yaml keys, required ones, and no
// others.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var kinds []any
	for _, f := range fieldsOf(t) {
		ft := t.Field(f.index).Type
		var s map[string]any
		if f.keyed {
			s = map[string]any{
				"type":                 "object",
				"propertyNames":        map[string]any{"pattern": label.String()},
				"additionalProperties": g.of(ft.Elem()),
			}
		} else {
			s = g.of(ft)
		}
		if f.desc != "" {
			s["description"] = f.desc
		}
		if isSettingType(t) {
			settingSchema(s, t.Name()+"."+f.name, ft, f)
		}
		for k, v := range schemaExtra[t.Name()+"."+f.name] {
			s[k] = v
		}
		props[f.name] = s
		if f.required {
			required = append(required, f.name)
		}
		if f.kind {
			kinds = append(kinds, map[string]any{"required": []string{f.name}})
		}
	}
	o := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	if len(kinds) > 0 {
		o["oneOf"] = kinds // exactly one kind per step
	}
	return o
}

// settingSchema adds a setting's default, rule and nullability to s.
func settingSchema(s map[string]any, key string, t reflect.Type, f field) {
	if f.def != "" {
		switch t.Kind() {
		case reflect.Bool:
			s["default"] = f.def == "true"
		case reflect.Int:
			i, _ := strconv.Atoi(f.def)
			s["default"] = i
		default:
			s["default"] = f.def
		}
	}
	r := settingRules[key]
	target := s
	if t.Kind() == reflect.Slice {
		if items, ok := s["items"].(map[string]any); ok {
			target = items
		}
	}
	if r.re != nil {
		target["pattern"] = r.re.String()
	}
	if r.enum != nil {
		target["enum"] = r.enum
	}
	if k := t.Kind(); k == reflect.Int || k == reflect.Pointer && t.Elem().Kind() == reflect.Int {
		s["minimum"] = 0
	}
	if t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Pointer {
		// sysctl: a value (as written) or null, which drops the default.
		s["additionalProperties"] = map[string]any{"type": []string{"string", "integer", "number", "null"}}
	}
	if f.orBool {
		ref := map[string]any{}
		for k, v := range s {
			if k != "description" {
				ref[k] = v
				delete(s, k)
			}
		}
		s["oneOf"] = []any{map[string]any{"type": "boolean"}, ref}
	}
}

// of is the schema of a field type; structs become shared $defs.
func (g *schemaGen) of(t reflect.Type) map[string]any {
	if t == secretType {
		g.defs["Secret"] = map[string]any{
			"type":        "string",
			"pattern":     `^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$`,
			"description": "A reference, env:NAME or file:PATH; never the secret itself.",
		}
		return map[string]any{"$ref": "#/$defs/Secret"}
	}
	switch {
	case t == reflect.TypeOf(CIDR{}):
		return map[string]any{"type": "string", "description": "An address range (CIDR), or one address."}
	case t == reflect.TypeOf(IP{}):
		return map[string]any{"type": "string", "description": "An IPv4 or IPv6 address."}
	case t == reflect.TypeOf(Scalar("")):
		return map[string]any{"type": []string{"string", "number", "boolean"}}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.of(t.Elem())
	case reflect.Struct:
		if _, ok := g.defs[t.Name()]; !ok {
			g.defs[t.Name()] = nil // reserve against recursion
			g.defs[t.Name()] = g.object(t)
		}
		return map[string]any{"$ref": "#/$defs/" + t.Name()}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.Map:
		s := map[string]any{"type": "object"}
		if t.Elem().Kind() != reflect.Interface {
			s["additionalProperties"] = g.of(t.Elem())
		}
		return s
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	}
	return map[string]any{}
}
