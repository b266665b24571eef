package inventory

import (
	"encoding"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func schemaDoc(t *testing.T) map[string]any {
	t.Helper()
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatal("Schema is not valid JSON")
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSchemaShape(t *testing.T) {
	s := schemaDoc(t)
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" || s["additionalProperties"] != false {
		t.Errorf("header: $schema %v, additionalProperties %v", s["$schema"], s["additionalProperties"])
	}
	defs := s["$defs"].(map[string]any)
	// Every yaml key of every struct the decoder reads is in the schema,
	// with its description.
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, schema map[string]any)
	walk = func(rt reflect.Type, schema map[string]any) {
		if seen[rt] {
			return
		}
		seen[rt] = true
		props := schema["properties"].(map[string]any)
		for _, f := range fieldsOf(rt) {
			p, ok := props[f.name].(map[string]any)
			if !ok {
				t.Errorf("%s.%s missing from the schema", rt.Name(), f.name)
				continue
			}
			if f.desc != "" && p["description"] != f.desc {
				t.Errorf("%s.%s: description %v", rt.Name(), f.name, p["description"])
			}
			if f.required && !slices.Contains(toStrings(schema["required"]), f.name) {
				t.Errorf("%s.%s not required in the schema", rt.Name(), f.name)
			}
			ft := rt.Field(f.index).Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != secretType && !reflect.PointerTo(ft).Implements(reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()) {
				walk(ft, defs[ft.Name()].(map[string]any))
			}
		}
	}
	walk(reflect.TypeOf(Inventory{}), s)
	if len(seen) < 10 {
		t.Errorf("walked only %d struct types", len(seen))
	}
	groups := s["properties"].(map[string]any)["groups"].(map[string]any)
	if groups["type"] != "object" || groups["additionalProperties"].(map[string]any)["$ref"] != "#/$defs/Group" {
		t.Errorf("groups: %v", groups)
	}
	group := defs["Group"].(map[string]any)["properties"].(map[string]any)
	if got := toStrings(group["provider"].(map[string]any)["enum"]); !slices.Equal(got, providerNames) {
		t.Errorf("provider enum %v", got)
	}
	if got := toStrings(group["roles"].(map[string]any)["items"].(map[string]any)["enum"]); !slices.Equal(got, roleNames) {
		t.Errorf("roles enum %v", got)
	}
	if n := len(defs["Step"].(map[string]any)["oneOf"].([]any)); n != len(stepKinds()) {
		t.Errorf("Step oneOf has %d entries, want one per kind", n)
	}
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			out = append(out, fmt.Sprint(x))
		}
	}
	return out
}

// TestSchemaAcceptsExample checks the example file against the schema
// with a small validator (properties, required, additionalProperties,
// patternProperties, $ref, enum, const, type, oneOf), and checks that the
// validator does reject a broken file.
func TestSchemaAcceptsExample(t *testing.T) {
	s := schemaDoc(t)
	src, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	v := &schemaCheck{root: s}
	v.check(doc.Content[0], s, "")
	for _, p := range v.problems {
		t.Error(p)
	}
	if v.visited < 100 {
		t.Errorf("validated only %d nodes", v.visited)
	}

	bad := "apiVersion: omc/v2\nname: x\ncolour: red\ngroups:\n  g:\n    provider: aws\n    steps: [{packages: [a], service: {name: b}}]\n"
	yaml.Unmarshal([]byte(bad), &doc)
	v = &schemaCheck{root: s}
	v.check(doc.Content[0], s, "")
	got := strings.Join(v.problems, "\n")
	for _, want := range []string{"apiVersion: not omc/v1", "colour: not allowed", "groups.g.provider: not one of", "groups.g.steps[0]: matches 2 of oneOf"} {
		if !strings.Contains(got, want) {
			t.Errorf("the schema check missed %q; it found:\n%s", want, got)
		}
	}
}

type schemaCheck struct {
	root     map[string]any
	problems []string
	visited  int
}

func (c *schemaCheck) fail(path, format string, args ...any) {
	c.problems = append(c.problems, path+": "+fmt.Sprintf(format, args...))
}

func (c *schemaCheck) check(n *yaml.Node, s map[string]any, path string) {
	c.visited++
	if ref, ok := s["$ref"].(string); ok {
		c.check(n, c.root["$defs"].(map[string]any)[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any), path)
	}
	if want, ok := s["const"]; ok && n.Value != want {
		c.fail(path, "not %v", want)
	}
	if enum, ok := s["enum"]; ok && !slices.Contains(toStrings(enum), n.Value) {
		c.fail(path, "not one of %v", enum)
	}
	if types := s["type"]; types != nil {
		ok := false
		for _, ty := range append(toStrings(types), fmt.Sprint(types)) {
			switch ty {
			case "object":
				ok = ok || n.Kind == yaml.MappingNode
			case "array":
				ok = ok || n.Kind == yaml.SequenceNode
			case "string":
				ok = ok || n.ShortTag() == "!!str"
			case "integer":
				ok = ok || n.ShortTag() == "!!int"
			case "number":
				ok = ok || n.ShortTag() == "!!int" || n.ShortTag() == "!!float"
			case "boolean":
				ok = ok || n.ShortTag() == "!!bool"
			}
		}
		if !ok {
			c.fail(path, "%s is not of type %v", n.ShortTag(), types)
		}
	}
	if one, ok := s["oneOf"].([]any); ok {
		matches := 0
		for _, alt := range one {
			sub := &schemaCheck{root: c.root}
			sub.check(n, alt.(map[string]any), path)
			if len(sub.problems) == 0 {
				matches++
			}
		}
		if matches != 1 {
			c.fail(path, "matches %d of oneOf", matches)
		}
	}
	switch n.Kind {
	case yaml.SequenceNode:
		if items, ok := s["items"].(map[string]any); ok {
			for i, item := range n.Content {
				c.check(item, items, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	case yaml.MappingNode:
		props, _ := s["properties"].(map[string]any)
		have := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i].Value, n.Content[i+1]
			have[k] = true
			kp := strings.TrimPrefix(path+"."+k, ".")
			if p, ok := props[k].(map[string]any); ok {
				c.check(val, p, kp)
			} else if pp, ok := s["patternProperties"].(map[string]any); ok && pp["^x-"] != nil && strings.HasPrefix(k, "x-") {
			} else if ap, ok := s["additionalProperties"].(map[string]any); ok {
				c.check(val, ap, kp)
			} else if s["additionalProperties"] == false {
				c.fail(kp, "not allowed")
			}
		}
		for _, r := range toStrings(s["required"]) {
			if !have[r] {
				c.fail(path, "%s is required", r)
			}
		}
	}
}
