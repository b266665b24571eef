package inventory

import (
	"fmt"
	"io"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Show prints nodes as omc sees them after merging, as one YAML document:
// the inventory's secrets by name and reference ("(set)" once resolved,
// never the value), then each node's merged fields, steps as written.
func Show(w io.Writer, inv *Inventory, nodes []*Node) error {
	doc := mapping()
	add(doc, "inventory", scalar(inv.Name))
	if s := showSecrets(inv); len(s.Content) > 0 {
		add(doc, "secrets", s)
	}
	ns := mapping()
	for _, n := range nodes {
		k := scalar(n.Name)
		k.HeadComment = fmt.Sprintf("%s:%d:%d", inv.Path, n.Pos.Line, n.Pos.Col)
		ns.Content = append(ns.Content, k, showNode(n))
	}
	add(doc, "nodes", ns)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return enc.Close()
}

func showSecrets(inv *Inventory) *yaml.Node {
	m := mapping()
	line := func(s Secret) *yaml.Node {
		if s.set {
			return scalar(s.Ref + " (set)")
		}
		return scalar(s.Ref + " (not set)")
	}
	for _, name := range sortedKeys(inv.Secrets) {
		add(m, name, line(inv.Secrets[name]))
	}
	for _, g := range inv.Groups {
		if g.Token != nil {
			add(m, g.Name+".token", line(*g.Token))
		}
	}
	return m
}

func showNode(n *Node) *yaml.Node {
	m := mapping()
	add(m, "group", scalar(n.Group))
	add(m, "provider", scalar(n.Provider))
	if len(n.Roles) > 0 {
		add(m, "roles", encode(reflect.ValueOf(n.Roles)))
	}
	for _, f := range []struct{ k, v string }{{"address", n.Address}, {"domain", n.Domain}, {"host_key", n.HostKey}} {
		if f.v != "" {
			add(m, f.k, scalar(f.v))
		}
	}
	add(m, "ssh", encode(reflect.ValueOf(n.SSH)))
	if w := n.Settings.Written(); len(w) > 0 {
		add(m, "settings", encode(reflect.ValueOf(w)))
	}
	if len(n.Steps) > 0 {
		add(m, "steps", encode(reflect.ValueOf(n.Steps)))
	}
	return m
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func scalar(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if strings.Contains(s, "\n") {
		n.Style = yaml.LiteralStyle
	}
	return n
}

func add(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, scalar(key), v)
}

// encode renders a value with the same yaml tags the decoder reads,
// leaving out empty fields so that a step shows only what it sets.
func encode(v reflect.Value) *yaml.Node {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
		}
		return encode(v.Elem())
	case reflect.Struct:
		if v.Type() == secretType {
			return scalar(v.Interface().(Secret).Ref)
		}
		m := mapping()
		for _, f := range fieldsOf(v.Type()) {
			fv := v.Field(f.index)
			if fv.IsZero() && !(fv.Kind() == reflect.Slice && !fv.IsNil()) {
				continue
			}
			add(m, f.name, encode(fv))
		}
		return m
	case reflect.Slice:
		s := &yaml.Node{Kind: yaml.SequenceNode}
		if v.Type().Elem().Kind() == reflect.String {
			s.Style = yaml.FlowStyle
		}
		for i := 0; i < v.Len(); i++ {
			s.Content = append(s.Content, encode(v.Index(i)))
		}
		return s
	case reflect.String:
		return scalar(v.String())
	}
	n := &yaml.Node{}
	if err := n.Encode(v.Interface()); err != nil {
		return scalar(fmt.Sprint(v.Interface()))
	}
	return n
}
