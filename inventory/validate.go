package inventory

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// validator checks what the decoder could not: values, and rules that
// span fields, groups and nodes. It only judges values that decoded, so a
// wrong type is reported once, by the decoder.
type validator struct {
	errs  *errList
	where map[any]where
	src   []byte
	dir   string // relative template paths start here
	inv   *Inventory
	// tmplFiles caches the verdict on each template file by path.
	tmplFiles map[string]string
	// tmplTexts caches checkTemplate's verdict by name and text: the
	// nodes of a big fleet repeat a few texts.
	tmplTexts map[[2]string]*tmplErr
	lines     []int // offset of each line in src, made by columnOf
}

// at is where the value at pointer p came from; for a key that was not
// written it is the enclosing mapping.
func (v *validator) at(p any) where { return v.where[p] }

func (v *validator) errf(p any, format string, args ...any) {
	w := v.at(p)
	v.errs.add(w.pos(), w.path, format, args...)
}

func (v *validator) validate() {
	inv := v.inv
	if inv.APIVersion != "" && inv.APIVersion != APIVersion {
		v.errf(&inv.APIVersion, "%q is not supported; this omc reads %s", inv.APIVersion, APIVersion)
	}
	if inv.Name != "" && !isLabel(inv.Name) {
		v.errf(&inv.Name, "%q must be a lowercase DNS label (a-z, 0-9 and '-', at most 63 characters)", inv.Name)
	}
	for _, name := range sortedKeys(inv.Secrets) {
		if !secretName.MatchString(name) {
			v.errf(join("secrets", name), "secret names are letters, digits, '_', '.' and '-'")
		}
	}
	v.ssh(&inv.Defaults.SSH)
	v.settings(&inv.Defaults.Settings)
	v.steps(inv.Defaults.Steps)
	for _, g := range inv.Groups {
		v.group(g)
	}
	v.nodes()
	v.billing()
	v.statusPage()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (v *validator) group(g *Group) {
	if !isLabel(g.Name) {
		v.errf(&g.Name, "group names must be lowercase DNS labels (a-z, 0-9 and '-', at most 63 characters)")
	}
	known := slices.Contains(providerNames, g.Provider)
	if g.Provider != "" && !known {
		v.errf(&g.Provider, "%q is not a provider; use one of %s", g.Provider, strings.Join(providerNames, ", "))
	}
	switch {
	case g.Count < 0:
		v.errf(&g.Count, "must not be negative")
	case g.Count > maxNodes:
		v.errf(&g.Count, "at most %d nodes per inventory", maxNodes)
	}
	if g.Provider == "static" {
		if g.Count != 0 {
			v.errf(&g.Count, "static groups list their nodes by address; count is for providers that create servers")
		}
		if g.NamePattern != "" {
			v.errf(&g.NamePattern, "static groups list their nodes by address; a name pattern is for providers that create servers")
		}
		if g.Image != "" {
			v.errf(&g.Image, "omc does not install static servers; image is for providers that create them")
		}
		for _, ns := range g.Nodes {
			if ns.Address == "" {
				v.errf(ns, "static nodes need an address")
			}
		}
	} else if g.Provider != "" && !v.at(&g.Count).bad {
		hasN := strings.Contains(g.NamePattern, "{n}")
		switch {
		case g.Count > 0 && g.NamePattern == "":
			v.errf(&g.Count, "count needs name, a pattern containing {n} such as %s-{n}", g.Name)
		case g.Count > 0 && !hasN:
			v.errf(&g.NamePattern, "%q must contain {n}, replaced by 1..%d", g.NamePattern, g.Count)
		case g.Count == 0 && g.NamePattern != "":
			v.errf(&g.NamePattern, "a name pattern needs count, the number of nodes to make")
		}
	}
	if known && g.Provider != "hcloud" {
		for _, f := range []struct {
			p    any
			name string
			set  bool
		}{{&g.Location, "location", g.Location != ""}, {&g.ServerType, "server_type", g.ServerType != ""}, {&g.Token, "token", g.Token != nil}} {
			if f.set {
				v.errf(f.p, "%s is only for hcloud groups", f.name)
			}
		}
	}
	if g.Provider == "hcloud" {
		if g.Location == "" {
			v.errf(&g.Location, "hcloud groups need a location, e.g. fsn1")
		}
		if g.ServerType == "" {
			v.errf(&g.ServerType, "hcloud groups need a server_type, e.g. ccx33")
		}
		if g.Image == "" {
			v.errf(&g.Image, "hcloud groups need an image, e.g. ubuntu-22.04")
		}
	}
	v.roles(g.Roles)
	v.ssh(&g.SSH)
	v.settings(&g.Settings)
	v.steps(g.Steps)
	for _, ns := range g.Nodes {
		v.nodeSpec(ns)
	}
	v.pool(g)
	v.robot(g)
}

func (v *validator) roles(roles []string) {
	seen := map[string]bool{}
	for i := range roles {
		r := roles[i]
		switch {
		case !slices.Contains(roleNames, r):
			v.errf(&roles[i], "%q is not a role; use %s", r, strings.Join(roleNames, ", "))
		case seen[r]:
			v.errf(&roles[i], "role %q is listed twice", r)
		}
		seen[r] = true
	}
}

func (v *validator) nodeSpec(ns *NodeSpec) {
	if ns.Name != "" && !isLabel(ns.Name) {
		v.errf(&ns.Name, "%q: node names must be lowercase DNS labels (a-z, 0-9 and '-', at most 63 characters)", ns.Name)
	}
	if ns.Address != "" && !isHost(ns.Address) {
		v.errf(&ns.Address, "%q is not a valid IP address or host name", ns.Address)
	}
	if ns.HostKey != "" {
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(ns.HostKey)); err != nil {
			v.errf(&ns.HostKey, "not an SSH public key in authorized_keys form (%v)", err)
		}
	}
	v.roles(ns.Roles)
	v.ssh(&ns.SSH)
	v.settings(&ns.Settings)
	v.steps(ns.Steps)
}

func (v *validator) ssh(s *SSH) {
	if s.User != "" && !unixName.MatchString(s.User) {
		v.errf(&s.User, "%q is not a valid user name", s.User)
	}
	if w := v.at(&s.Port); w.set && !w.bad && (s.Port < 1 || s.Port > 65535) {
		v.errf(&s.Port, "%d is not a port (1..65535)", s.Port)
	}
	if strings.ContainsAny(s.Key, "\n\x00") {
		v.errf(&s.Key, "must be a file path")
	}
	if s.Bastion != "" {
		if p := bastionProblem(s.Bastion); p != "" {
			v.errf(&s.Bastion, "%q is not [user@]host[:port]: %s", s.Bastion, p)
		}
	}
}

// decl is a node name and where it is declared: a node's name, or the
// name pattern of the group that counts it.
type decl struct {
	name  string
	group *Group
	spec  *NodeSpec // nil for counted nodes
	at    any       // pointer to the name or the pattern
}

// nodes checks what only the whole fleet shows: duplicate names (counted
// ones included), domains after {name} substitution, and the node count.
func (v *validator) nodes() {
	var all []decl
	for _, g := range v.inv.Groups {
		if g.Provider != "static" && g.Count > 0 && g.Count <= maxNodes && strings.Contains(g.NamePattern, "{n}") {
			for _, n := range []int{1, g.Count} {
				if name := expand(g.NamePattern, n); !isLabel(name) {
					v.errf(&g.NamePattern, "gives node name %q, which is not a lowercase DNS label", name)
					break
				}
			}
			for n := 1; n <= g.Count && len(all) <= maxNodes; n++ {
				all = append(all, decl{name: expand(g.NamePattern, n), group: g, at: &g.NamePattern})
			}
		}
		for _, ns := range g.Nodes {
			if ns.Name != "" {
				all = append(all, decl{name: ns.Name, group: g, spec: ns, at: &ns.Name})
			}
		}
		if len(all) > maxNodes {
			v.errf(g, "more than %d nodes in the inventory", maxNodes)
			return
		}
	}
	// Duplicates are reported at both places, once per pair of places:
	// two overlapping count patterns clash on many names at once.
	type clash struct {
		a, b  any
		names []string
	}
	var clashes []*clash
	byPair := map[[2]any]*clash{}
	byName := map[string]decl{}
	for _, d := range all {
		first, dup := byName[d.name]
		if !dup {
			byName[d.name] = d
			continue
		}
		c := byPair[[2]any{first.at, d.at}]
		if c == nil {
			c = &clash{a: first.at, b: d.at}
			byPair[[2]any{first.at, d.at}] = c
			clashes = append(clashes, c)
		}
		c.names = append(c.names, strconv.Quote(d.name))
	}
	for _, c := range clashes {
		what := "node name " + c.names[0] + " is"
		if len(c.names) > 1 {
			what = "node names " + strings.Join(c.names, ", ") + " are"
		}
		a, b := v.at(c.a).pos(), v.at(c.b).pos()
		v.errf(c.a, "%s also declared at %d:%d", what, b.Line, b.Col)
		v.errf(c.b, "%s also declared at %d:%d", what, a.Line, a.Col)
	}
	v.domains(all)
}

func expand(pattern string, n int) string {
	return strings.ReplaceAll(pattern, "{n}", strconv.Itoa(n))
}

func (v *validator) domains(all []decl) {
	bad := map[any]bool{}
	byDomain := map[string]decl{}
	for _, d := range all {
		tmpl, at := d.group.Domain, any(&d.group.Domain)
		if d.spec != nil && d.spec.Domain != "" {
			tmpl, at = d.spec.Domain, &d.spec.Domain
		}
		if tmpl == "" || bad[at] {
			continue
		}
		full := strings.ReplaceAll(tmpl, "{name}", d.name)
		if !isFQDN(full) {
			bad[at] = true
			if full != tmpl {
				v.errf(at, "%q gives %q for node %s, which is not a valid domain name", tmpl, full, d.name)
			} else {
				v.errf(at, "%q is not a valid domain name", tmpl)
			}
			continue
		}
		first, dup := byDomain[full]
		if !dup {
			byDomain[full] = d
			continue
		}
		bad[at] = true
		if fa := domainAt(first); fa == at {
			v.errf(at, "%q would be the domain of both %s and %s; include {name}", tmpl, first.name, d.name)
		} else {
			p := v.at(fa).pos()
			v.errf(at, "%q for node %s is also the domain of node %s (%d:%d)", full, d.name, first.name, p.Line, p.Col)
		}
	}
}

func domainAt(d decl) any {
	if d.spec != nil && d.spec.Domain != "" {
		return &d.spec.Domain
	}
	return &d.group.Domain
}
