package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/omc-coop/omc/internal/atomicfile"
)

// SetTenant adds name to (present) or takes it from groups.GROUP.pool.tenants
// in the inventory file at path, and reports whether the file changed.
// Only the list's own lines change: every other byte, comments included,
// stays as written (EditTenant).
func SetTenant(path, group, name string, present bool) (bool, error) {
	out, changed, err := EditTenant(path, group, name, present)
	if err != nil || !changed {
		return false, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return true, atomicfile.Write(path, out, info.Mode().Perm())
}

// EditTenant is the file at path with name added to (present) or taken
// from groups.GROUP.pool.tenants, and whether that is a change; nothing
// is written. The edited file must load with exactly that change; a list
// omc cannot edit safely (in an anchor, a merge key, a flow mapping, over
// several lines of flow) is refused with what to write by hand.
func EditTenant(path, group, name string, present bool) ([]byte, bool, error) {
	if path == "-" || path == "<stdin>" {
		return nil, false, fmt.Errorf("the inventory was read from stdin: %s in groups.%s.pool.tenants of the file", byHand(name, present), group)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	before, err := LoadReader(path, bytes.NewReader(src))
	if err != nil {
		return nil, false, err
	}
	g := before.Group(group)
	if g == nil || g.Pool == nil {
		return nil, false, fmt.Errorf("%s: group %s has no pool", path, group)
	}
	want := slices.DeleteFunc(slices.Clone(g.Pool.Tenants), func(t string) bool { return t == name })
	if present {
		if slices.Contains(g.Pool.Tenants, name) {
			return src, false, nil
		}
		want = append(want, name)
	} else if !slices.Contains(g.Pool.Tenants, name) {
		return src, false, nil
	}
	out, err := editTenants(src, group, name, present)
	if err != nil {
		return nil, false, fmt.Errorf("%s: cannot edit groups.%s.pool.tenants: %w; %s", path, group, err, byHand(name, present))
	}
	after, err := LoadReader(path, bytes.NewReader(out))
	if err != nil || after.Group(group) == nil || after.Group(group).Pool == nil || !slices.Equal(after.Group(group).Pool.Tenants, want) {
		return nil, false, fmt.Errorf("%s: the edited groups.%s.pool.tenants would not load as intended (%v); %s", path, group, err, byHand(name, present))
	}
	return out, true, nil
}

func byHand(name string, present bool) string {
	if present {
		return "add " + name + " to the list by hand"
	}
	return "remove " + name + " from the list by hand"
}

// editTenants is SetTenant's edit of the file's text.
func editTenants(src []byte, group, name string, present bool) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil || len(doc.Content) == 0 {
		return nil, errors.New("the file does not parse")
	}
	_, g := entry(entryOf(doc.Content[0], "groups"), group)
	poolKey, pool := entry(g, "pool")
	switch {
	case pool == nil:
		return nil, errors.New("the pool is not written in the group itself")
	case pool.Kind != yaml.MappingNode || pool.Style&yaml.FlowStyle != 0 || pool.Anchor != "":
		return nil, errors.New("the pool is not a plain block mapping (flow style or an anchor)")
	}
	if k, _ := entry(pool, "<<"); k != nil {
		return nil, errors.New("the pool has a merge key")
	}
	lines := bytes.SplitAfter(src, []byte("\n"))
	key, list := entry(pool, "tenants")
	if list == nil {
		// No list yet: a new first key of the pool, right under pool:,
		// so no comment of the old first key changes owner.
		first := pool.Content[0]
		indent := prefix(lines, first.Line, first.Column)
		if first.Line <= poolKey.Line || strings.TrimSpace(indent) != "" {
			return nil, errors.New("the pool's first key is not on a line of its own")
		}
		return insertLine(lines, poolKey.Line, indent+"tenants: ["+name+"]\n"), nil
	}
	if list.Anchor != "" || list.Kind == yaml.AliasNode {
		return nil, errors.New("the list is an anchor or an alias")
	}
	if list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
		l := lines[key.Line-1]
		end := key.Column - 1 + len(key.Value)
		if end >= len(l) || l[end] != ':' {
			return nil, errors.New("tenants: is not where the parser saw it")
		}
		lines[key.Line-1] = concat(l[:end+1], []byte(" ["+name+"]"), trailer(l))
		return bytes.Join(lines, nil), nil
	}
	if list.Kind != yaml.SequenceNode {
		return nil, errors.New("tenants is not a list")
	}
	var names []string
	for _, it := range list.Content {
		if it.Kind != yaml.ScalarNode {
			return nil, errors.New("an entry is not a name")
		}
		names = append(names, it.Value)
	}
	if list.Style&yaml.FlowStyle != 0 {
		return editFlow(lines, list, names, name, present)
	}
	if present {
		last := list.Content[len(list.Content)-1]
		p := prefix(lines, last.Line, last.Column)
		if !reItem.MatchString(p) {
			return nil, errors.New("the last entry is not on a line of its own")
		}
		return insertLine(lines, last.Line, p+name+"\n"), nil
	}
	for _, it := range list.Content {
		if it.Value != name {
			continue
		}
		if !reItem.MatchString(prefix(lines, it.Line, it.Column)) {
			return nil, errors.New("the entry is not on a line of its own")
		}
		out := slices.Delete(slices.Clone(lines), it.Line-1, it.Line)
		if len(list.Content) == 1 {
			// The last one: an empty list, not a null.
			l := out[key.Line-1]
			end := key.Column - 1 + len(key.Value)
			if end >= len(l) || l[end] != ':' {
				return nil, errors.New("tenants: is not where the parser saw it")
			}
			out[key.Line-1] = concat(l[:end+1], []byte(" []"), trailer(l))
		}
		return bytes.Join(out, nil), nil
	}
	return nil, errors.New("the entry is not in the file")
}

var reItem = regexp.MustCompile(`^ *- +$`)

// editFlow rewrites a one-line [a, b] list.
func editFlow(lines [][]byte, list *yaml.Node, names []string, name string, present bool) ([]byte, error) {
	l := lines[list.Line-1]
	start := list.Column - 1
	end := bytes.IndexByte(l[start:], ']')
	if start >= len(l) || l[start] != '[' || end < 0 {
		return nil, errors.New("the list is written over several lines")
	}
	if present {
		names = append(names, name)
	} else {
		names = slices.DeleteFunc(names, func(t string) bool { return t == name })
	}
	lines[list.Line-1] = concat(l[:start], []byte("["+strings.Join(names, ", ")+"]"), l[start+end+1:])
	return bytes.Join(lines, nil), nil
}

// entry is the key and value of key in mapping n.
func entry(n *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

func entryOf(n *yaml.Node, key string) *yaml.Node { _, v := entry(n, key); return v }

// prefix is line's text before column (1-based).
func prefix(lines [][]byte, line, col int) string {
	if line < 1 || line > len(lines) || col-1 > len(lines[line-1]) {
		return "\x00"
	}
	return string(lines[line-1][:col-1])
}

// trailer keeps a line's comment and end.
func trailer(l []byte) []byte {
	if i := bytes.Index(l, []byte(" #")); i >= 0 {
		for i > 0 && l[i-1] == ' ' {
			i--
		}
		return l[i:]
	}
	if bytes.HasSuffix(l, []byte("\n")) {
		return []byte("\n")
	}
	return nil
}

func insertLine(lines [][]byte, after int, text string) []byte {
	if after == len(lines) && !bytes.HasSuffix(lines[after-1], []byte("\n")) {
		text = "\n" + strings.TrimSuffix(text, "\n")
	}
	return bytes.Join(slices.Insert(slices.Clone(lines), after, []byte(text)), nil)
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
