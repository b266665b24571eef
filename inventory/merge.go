package inventory

import (
	"fmt"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
)

// Nodes returns every node, merged: per group in file order, the counted
// nodes (name pattern with {n} = 1..count) then the named ones. Treat the
// nodes as read-only: steps are shared between nodes.
func (inv *Inventory) Nodes() []*Node {
	if inv.nodes == nil {
		inv.nodes, _ = inv.merge(-1)
	}
	return slices.Clone(inv.nodes)
}

// Group returns the named group, or nil.
func (inv *Inventory) Group(name string) *Group {
	for _, g := range inv.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// Select returns the nodes named by targets (group or node names; none
// means all), narrowed to the node names matching any limit glob
// (path.Match syntax). Naming nothing that exists is an error, so that a
// typo never silently selects nothing.
func (inv *Inventory) Select(targets, limit []string) ([]*Node, error) {
	all := inv.Nodes()
	sel := all
	if len(targets) > 0 {
		want := map[string]bool{}
		var unknown []string
		for _, t := range targets {
			found := inv.Group(t) != nil
			for _, n := range all {
				if n.Name == t || n.Group == t {
					found = true
				}
			}
			if !found {
				unknown = append(unknown, fmt.Sprintf("%q", t))
			}
			want[t] = true
		}
		if len(unknown) > 0 {
			groups := make([]string, len(inv.Groups))
			for i, g := range inv.Groups {
				groups[i] = g.Name
			}
			return nil, fmt.Errorf("no group or node named %s (groups: %s)", strings.Join(unknown, ", "), strings.Join(groups, ", "))
		}
		sel = nil
		for _, n := range all {
			if want[n.Name] || want[n.Group] {
				sel = append(sel, n)
			}
		}
	}
	if len(limit) == 0 {
		return sel, nil
	}
	var out []*Node
	for _, pat := range limit {
		if _, err := path.Match(pat, ""); err != nil {
			return nil, fmt.Errorf("limit %q: %v", pat, err)
		}
		matched := false
		for _, n := range sel {
			if ok, _ := path.Match(pat, n.Name); ok {
				matched = true
			}
		}
		if !matched {
			return nil, fmt.Errorf("limit %q matches none of the selected nodes", pat)
		}
	}
	for _, n := range sel {
		for _, pat := range limit {
			if ok, _ := path.Match(pat, n.Name); ok {
				out = append(out, n)
				break
			}
		}
	}
	return out, nil
}

// merge builds the merged nodes. budget bounds the settings entries
// copied (-1: unbounded); ok is false when it ran out.
func (inv *Inventory) merge(budget int) (nodes []*Node, ok bool) {
	dir := filepath.Dir(inv.Path)
	m := &merger{budget: budget}
	for _, g := range inv.Groups {
		groupSettings := m.mergeSettings(&inv.Defaults.Settings, &g.Settings)
		node := func(name string, ns *NodeSpec) *Node {
			n := &Node{
				Name:     name,
				Group:    g.Name,
				Provider: g.Provider,
				Roles:    slices.Clone(g.Roles),
				Domain:   g.Domain,
				SSH:      mergeSSH(dir, inv.Defaults.SSH, g.SSH),
				Steps:    slices.Concat(inv.Defaults.Steps, g.Steps),
				Pos:      g.Pos,
			}
			if ns != nil {
				n.Pos = ns.Pos
				n.Address = ns.Address
				n.HostKey = ns.HostKey
				if ns.Roles != nil {
					n.Roles = slices.Clone(ns.Roles)
				}
				if ns.Domain != "" {
					n.Domain = ns.Domain
				}
				n.SSH = mergeSSH(dir, inv.Defaults.SSH, g.SSH, ns.SSH)
				n.Steps = append(n.Steps, ns.Steps...)
			}
			// Each node gets its own copy, so that changing one node's
			// settings cannot change another's.
			var own *Settings
			if ns != nil {
				own = &ns.Settings
			}
			n.Settings = m.mergeSettings(&groupSettings, own)
			fillDefaults(reflect.ValueOf(&n.Settings).Elem(), n.Settings.at, "")
			n.Domain = strings.ReplaceAll(n.Domain, "{name}", name)
			return n
		}
		if g.Count > 0 && strings.Contains(g.NamePattern, "{n}") {
			for i := 1; i <= g.Count && i <= maxNodes && m.budget != 0; i++ {
				nodes = append(nodes, node(expand(g.NamePattern, i), nil))
			}
		}
		for _, ns := range g.Nodes {
			nodes = append(nodes, node(ns.Name, ns))
		}
		if m.budget == 0 {
			return nil, false
		}
	}
	return nodes, m.budget != 0 || budget < 0
}

// mergeSSH merges field by field, later levels winning, then applies the
// defaults: user root, port 22, sudo when the user is not root. The key
// has ~ expanded and is taken relative to the inventory's directory.
func mergeSSH(dir string, levels ...SSH) SSH {
	var s SSH
	for _, l := range levels {
		if l.User != "" {
			s.User = l.User
		}
		if l.Port != 0 {
			s.Port = l.Port
		}
		if l.Key != "" {
			s.Key = l.Key
		}
		if l.Bastion != "" {
			s.Bastion = l.Bastion
		}
		if l.Sudo != nil {
			b := *l.Sudo
			s.Sudo = &b
		}
	}
	if s.User == "" {
		s.User, s.DefaultUser = "root", true
	}
	if s.Port == 0 {
		s.Port, s.DefaultPort = 22, true
	}
	if s.Sudo == nil {
		b := s.User != "root"
		s.Sudo, s.DefaultSudo = &b, true
	}
	if s.Key != "" {
		s.Key = expandHome(s.Key)
		if !filepath.IsAbs(s.Key) {
			s.Key = filepath.Join(dir, s.Key)
		}
	}
	return s
}

// merger deep-merges settings (settingsmerge.go), counting copied
// entries against a budget because a file can multiply large settings by
// many nodes.
type merger struct{ budget int }

// settings returns a new free-form map (vars, bbb.html5, ...): base
// overlaid with over, mappings merged recursively, any other value
// (lists included) replaced.
func (m *merger) settings(base, over map[string]any) map[string]any {
	if (base == nil && over == nil) || m.budget == 0 {
		return nil
	}
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = m.copy(v)
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = m.settings(bm, om)
				continue
			}
		}
		out[k] = m.copy(v)
	}
	return out
}

func (m *merger) copy(v any) any {
	if m.budget > 0 {
		m.budget--
	}
	if m.budget == 0 {
		return nil
	}
	switch v := v.(type) {
	case map[string]any:
		return m.settings(v, nil)
	case []any:
		l := make([]any, len(v))
		for i, x := range v {
			l[i] = m.copy(x)
		}
		return l
	}
	return v
}
