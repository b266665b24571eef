package inventory

import "gopkg.in/yaml.v3"

// Aliases and merge keys are where a small file can make a decoder do a
// great deal of work (the "billion laughs"), so every node reached
// through them is counted against maxAliasNodes.

// count charges one node visited inside an alias against the budget.
func (d *decoder) count() bool {
	if d.inAlias == 0 || d.stopped {
		return !d.stopped
	}
	if d.aliased++; d.aliased > maxAliasNodes {
		d.errs.add(d.aliasPos, "", "too many alias expansions (more than %d nodes through aliases); refusing a possible alias bomb", maxAliasNodes)
		d.stopped = true
		return false
	}
	return true
}

// enter follows an alias, charging the budget; leave must be deferred.
func (d *decoder) enter(n *yaml.Node) *yaml.Node {
	if n.Kind != yaml.AliasNode {
		return n
	}
	if d.inAlias == 0 {
		d.aliasPos = posOf(n)
	}
	d.inAlias++
	return n.Alias
}

func (d *decoder) leave(n *yaml.Node) {
	if n.Kind == yaml.AliasNode {
		d.inAlias--
	}
}

// pair is one key and value of a mapping; merged ones came through "<<".
type pair struct {
	k, v   *yaml.Node
	merged bool
}

// pairs lists a mapping's entries, expanding "<<" merge keys: explicit
// keys win over merged ones, and earlier merge sources over later ones.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var out []pair
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		out = append(out, pair{k: k, v: v})
	}
	if len(merges) == 0 {
		return out
	}
	have := map[string]bool{}
	for _, p := range out {
		have[p.k.Value] = true
	}
	if !d.active[n] {
		d.active[n] = true
		defer delete(d.active, n)
	}
	var from func(m *yaml.Node, top bool)
	from = func(m *yaml.Node, top bool) {
		orig := m
		m = d.enter(orig)
		defer d.leave(orig)
		switch {
		case d.stopped || m == nil || !d.count():
		case d.active[m]:
			// yaml.v3 lets an alias point into its own anchor.
			d.errs.add(posOf(orig), path, "merge key << includes the mapping it is in")
		case m.Kind == yaml.MappingNode:
			for _, p := range d.pairs(m, path) {
				if !d.count() {
					return
				}
				if !have[p.k.Value] {
					have[p.k.Value] = true
					out = append(out, pair{k: p.k, v: p.v, merged: true})
				}
			}
		case m.Kind == yaml.SequenceNode && top:
			for _, s := range m.Content {
				from(s, false)
			}
		default:
			d.errs.add(posOf(orig), path, "merge key << needs a mapping or a list of mappings, got %s", describe(m))
		}
	}
	for _, m := range merges {
		from(m, true)
	}
	return out
}
