package inventory

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Pool is a group's Scalelite pool: the group's bbb nodes are its
// members. omc registers them by URL, enables each only once it passes
// the health gate, and drains them before they are upgraded or removed.
type Pool struct {
	Pos Pos `yaml:"-"`
	// URL is Scalelite's base URL; its API is under /scalelite/api.
	URL string `yaml:"url" omc:"required" desc:"Scalelite's base URL, e.g. https://scalelite.example.org."`
	// Secret is LOADBALANCER_SECRET: it signs every management call.
	Secret *Secret `yaml:"secret" omc:"required" desc:"Scalelite's load-balancer secret (LOADBALANCER_SECRET) as env:NAME or file:PATH."`
	// Checksum is the algorithm omc signs API calls with: Scalelite
	// accepts only those LOADBALANCER_CHECKSUM_ALGORITHM lists.
	Checksum string `yaml:"checksum" desc:"Algorithm omc signs Scalelite API calls with: sha1, sha256 (default) or sha512, one that Scalelite's LOADBALANCER_CHECKSUM_ALGORITHM lists (its default: all three)."`
	// BBBChecksum signs calls to the nodes' BBB APIs (the health gate, a
	// forced drain's end, usage): BBB accepts those its
	// supportedChecksumAlgorithms lists.
	BBBChecksum string `yaml:"bbb_checksum" desc:"Algorithm omc signs the nodes' BBB API calls with: sha1, sha256 (default), sha384 or sha512, one that BBB's supportedChecksumAlgorithms lists (its default: all four)."`
	// API is how omc talks to Scalelite.
	API string `yaml:"api" desc:"scalelite/api (its JSON API, Scalelite 1.5.1 and later, tags from 1.6.0; default) or rake (its rake tasks over SSH, Scalelite 1.6.0 and later)."`
	// Host is the node Scalelite runs on, for api: rake.
	Host string `yaml:"host" desc:"rake: the node running Scalelite's containers (default: the scalelite node of this group)."`
	// Container is Scalelite's API container, for api: rake.
	Container string `yaml:"container" desc:"rake: Scalelite's API container (default scalelite-api)."`
	// BBBURL is each member's BBB API URL, the key servers are matched by.
	BBBURL string `yaml:"bbb_url" desc:"Each node's BBB API URL; {name} and {domain} are replaced (default https://{domain}/bigbluebutton/api)."`
	// Checks are the health checks besides the BBB API itself.
	Checks []string `yaml:"checks" desc:"Health checks a node passes besides its BBB API: tls, turn (default both; [] for none)."`
	// LoadMultiplier and Tag are the members' defaults; a node may set its own.
	LoadMultiplier float64 `yaml:"load_multiplier" desc:"Scalelite load multiplier of the group's nodes (default 1)."`
	Tag            string  `yaml:"tag" desc:"Scalelite tag of the group's nodes (default none)."`
	// Capacity is the model omc scale --for-users sizes the pool with.
	Capacity Capacity `yaml:"capacity" desc:"Per-node capacity model of omc scale --for-users."`
	// TenantSecrets is where omc tenant keeps each tenant's secret.
	TenantSecrets string `yaml:"tenant_secrets" desc:"Directory where omc tenant stores each tenant's secret as NAME.secret (0600), relative to this file (default: none, the secret is only shown once)."`
	// Tenants are the tenants whose sub-domain NAME.<pool domain> omc
	// serves: a DNS record beside the pool domain's and a name on the
	// scalelite node's certificate. omc tenant add and remove keep it.
	Tenants []string `yaml:"tenants" desc:"Tenants whose sub-domain NAME.<pool.url's host> omc serves: a DNS record where the pool's domain points (dns_zone) and a name on the scalelite node's certificate. omc tenant add, disable and remove edit this list."`
}

// Capacity is the per-node capacity model (pool.Capacity):
// nodes = ceil(users × (100 + headroom%) / 100 / users_per_node), then at
// least min_nodes and at most max_nodes.
type Capacity struct {
	UsersPerNode    int  `yaml:"users_per_node" desc:"Concurrent users one node carries (default 200, BBB's figure for its minimum server)."`
	HeadroomPercent *int `yaml:"headroom_percent" desc:"Spare capacity on top, in percent (default 20)."`
	MinNodes        int  `yaml:"min_nodes" desc:"Never fewer nodes (default 1)."`
	MaxNodes        int  `yaml:"max_nodes" desc:"Never more nodes (default: no limit)."`
}

// Model is the capacity model with the inventory's values over the
// defaults (pool.DefaultCapacity: 200 users per node, 20% headroom, at
// least 1 node).
func (c Capacity) Model() (usersPerNode, headroomPercent, minNodes, maxNodes int) {
	usersPerNode, headroomPercent, minNodes, maxNodes = c.UsersPerNode, 20, max(c.MinNodes, 1), c.MaxNodes
	if usersPerNode == 0 {
		usersPerNode = 200
	}
	if c.HeadroomPercent != nil {
		headroomPercent = *c.HeadroomPercent
	}
	return
}

// Ways omc talks to a Scalelite (Pool.API).
const (
	PoolAPI  = "scalelite/api"
	PoolRake = "rake"
)

// Health checks a pool may ask for (Pool.Checks).
const (
	CheckTLS  = "tls"
	CheckTURN = "turn"
)

// Checksum algorithms Scalelite's API accepts (Pool.Checksum); SHA384,
// which BBB takes, is not among them.
const (
	ChecksumSHA1   = "sha1"
	ChecksumSHA256 = "sha256"
	ChecksumSHA512 = "sha512"
)

var (
	poolChecksums = []string{ChecksumSHA1, ChecksumSHA256, ChecksumSHA512}
	// BBB also takes sha384 (bbb-web's supportedChecksumAlgorithms).
	bbbChecksums = []string{ChecksumSHA1, ChecksumSHA256, "sha384", ChecksumSHA512}
	poolAPIs     = []string{PoolAPI, PoolRake}
	poolChecks   = []string{CheckTLS, CheckTURN}
	// poolTag is what Scalelite's rake tasks and tag matching accept.
	poolTag = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// DefaultBBBURL is a member's BBB API URL unless the pool says otherwise.
const DefaultBBBURL = "https://{domain}/bigbluebutton/api"

// APIKind is how omc talks to the pool's Scalelite.
func (p *Pool) APIKind() string {
	if p.API == "" {
		return PoolAPI
	}
	return p.API
}

// BBBChecksumAlgorithm is what omc signs the nodes' BBB API calls with.
func (p *Pool) BBBChecksumAlgorithm() string {
	if p.BBBChecksum == "" {
		return ChecksumSHA256
	}
	return p.BBBChecksum
}

// ChecksumAlgorithm is what omc signs the pool's API calls with.
func (p *Pool) ChecksumAlgorithm() string {
	if p.Checksum == "" {
		return ChecksumSHA256
	}
	return p.Checksum
}

// HealthChecks are the checks the pool asks for.
func (p *Pool) HealthChecks() []string {
	if p.Checks == nil {
		return slices.Clone(poolChecks)
	}
	return slices.Clone(p.Checks)
}

// MemberURL is node n's BBB API URL.
func (p *Pool) MemberURL(n *Node) string {
	t := p.BBBURL
	if t == "" {
		t = DefaultBBBURL
	}
	return strings.NewReplacer("{name}", n.Name, "{domain}", n.Domain).Replace(t)
}

// TenantDir is where tenant secrets are stored ("" when nowhere),
// relative paths taken from the inventory file's directory.
func (inv *Inventory) TenantDir(p *Pool) string {
	if p == nil || p.TenantSecrets == "" {
		return ""
	}
	d := expandHome(p.TenantSecrets)
	if !filepath.IsAbs(d) {
		d = filepath.Join(filepath.Dir(inv.Path), d)
	}
	return d
}

// PoolMember is what the pool registers for node n: its load multiplier
// (the node's, else the pool's, else 1) and tag (the node's, else the
// pool's).
func (inv *Inventory) PoolMember(n *Node) (multiplier float64, tag string) {
	g := inv.Group(n.Group)
	if g == nil || g.Pool == nil {
		return 1, ""
	}
	multiplier, tag = g.Pool.LoadMultiplier, g.Pool.Tag
	for _, ns := range g.Nodes {
		if ns.Name != n.Name {
			continue
		}
		if ns.LoadMultiplier != 0 {
			multiplier = ns.LoadMultiplier
		}
		if ns.Tag != "" {
			tag = ns.Tag
		}
	}
	if multiplier == 0 {
		multiplier = 1
	}
	return multiplier, tag
}

// pool checks a group's pool block and its nodes' pool fields.
func (v *validator) pool(g *Group) {
	p := g.Pool
	if p == nil {
		for _, ns := range g.Nodes {
			if ns.LoadMultiplier != 0 {
				v.errf(&ns.LoadMultiplier, "load_multiplier is for nodes of a group with a pool")
			}
			if ns.Tag != "" {
				v.errf(&ns.Tag, "tag is for nodes of a group with a pool")
			}
		}
		return
	}
	if p.URL != "" {
		u, err := url.Parse(p.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			v.errf(&p.URL, "%q is not an http(s) URL without query or credentials, e.g. https://scalelite.example.org", p.URL)
		}
	}
	if p.Checksum != "" && !slices.Contains(poolChecksums, p.Checksum) {
		v.errf(&p.Checksum, "%q is not a checksum algorithm Scalelite accepts; use %s (one its LOADBALANCER_CHECKSUM_ALGORITHM lists)",
			p.Checksum, strings.Join(poolChecksums, ", "))
	}
	if p.BBBChecksum != "" && !slices.Contains(bbbChecksums, p.BBBChecksum) {
		v.errf(&p.BBBChecksum, "%q is not a checksum algorithm BBB accepts; use %s (one its supportedChecksumAlgorithms lists)",
			p.BBBChecksum, strings.Join(bbbChecksums, ", "))
	}
	if p.API != "" && !slices.Contains(poolAPIs, p.API) {
		v.errf(&p.API, "%q is not a way omc talks to Scalelite; use %s", p.API, strings.Join(poolAPIs, " or "))
	}
	if p.APIKind() != PoolRake {
		if p.Host != "" {
			v.errf(&p.Host, "host is for api: rake")
		}
		if p.Container != "" {
			v.errf(&p.Container, "container is for api: rake")
		}
	} else {
		v.rakeHost(g)
	}
	if p.Container != "" && !reContainer.MatchString(p.Container) {
		v.errf(&p.Container, "%q is not a container name", p.Container)
	}
	if p.BBBURL != "" {
		probe := strings.NewReplacer("{name}", "node", "{domain}", "node.example.org").Replace(p.BBBURL)
		u, err := url.Parse(probe)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			v.errf(&p.BBBURL, "%q is not an http(s) URL (with {name} or {domain}), e.g. %s", p.BBBURL, DefaultBBBURL)
		} else if !strings.Contains(p.BBBURL, "{name}") && !strings.Contains(p.BBBURL, "{domain}") {
			v.errf(&p.BBBURL, "%q would be the URL of every node; include {name} or {domain}", p.BBBURL)
		}
	}
	seen := map[string]bool{}
	for i := range p.Checks {
		c := p.Checks[i]
		switch {
		case !slices.Contains(poolChecks, c):
			v.errf(&p.Checks[i], "%q is not a health check; use %s", c, strings.Join(poolChecks, ", "))
		case seen[c]:
			v.errf(&p.Checks[i], "check %q is listed twice", c)
		}
		seen[c] = true
	}
	v.multiplier(&p.LoadMultiplier)
	v.tag(&p.Tag)
	c := &p.Capacity
	for _, f := range []*int{&c.UsersPerNode, c.HeadroomPercent, &c.MinNodes, &c.MaxNodes} {
		if f != nil && *f < 0 {
			v.errf(f, "must not be negative")
		}
	}
	if h := c.HeadroomPercent; h != nil && *h > 1000 {
		v.errf(h, "%d%% headroom is more than 1000%%", *h)
	}
	if c.MaxNodes > maxNodes {
		v.errf(&c.MaxNodes, "at most %d nodes per inventory", maxNodes)
	}
	if c.MaxNodes > 0 && c.MinNodes > c.MaxNodes {
		v.errf(&c.MinNodes, "min_nodes %d is more than max_nodes %d", c.MinNodes, c.MaxNodes)
	}
	if strings.ContainsAny(p.TenantSecrets, "\n\x00") {
		v.errf(&p.TenantSecrets, "must be a directory path")
	}
	v.tenants(p)
	bbb := slices.Contains(g.Roles, "bbb")
	for _, ns := range g.Nodes {
		v.multiplier(&ns.LoadMultiplier)
		v.tag(&ns.Tag)
		if ns.Roles != nil && slices.Contains(ns.Roles, "bbb") {
			bbb = true
		}
	}
	if !bbb && len(g.Roles) > 0 {
		v.errf(p, "a pool holds the group's bbb nodes, and this group has none")
	}
}

// TenantDomains are the tenants' sub-domains, NAME.<pool.url's host>,
// in list order; nil when the pool has none or its URL names an address.
func (p *Pool) TenantDomains() []string {
	host := p.Domain()
	if host == "" {
		return nil
	}
	var out []string
	for _, t := range p.Tenants {
		out = append(out, t+"."+host)
	}
	return out
}

// Domain is the host of pool.url when it is a name ("" for an address):
// the domain Scalelite answers on and its tenants' parent.
func (p *Pool) Domain() string {
	u, err := url.Parse(p.URL)
	if err != nil {
		return ""
	}
	h := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if net.ParseIP(h) != nil || !isHostname(h) {
		return ""
	}
	return h
}

// tenants: each a DNS label (Scalelite takes the tenant from the first
// label of the host), once, under a pool URL that names a domain.
func (v *validator) tenants(p *Pool) {
	seen := map[string]bool{}
	host := p.Domain()
	for i := range p.Tenants {
		t := p.Tenants[i]
		switch {
		case !isLabel(t):
			v.errf(&p.Tenants[i], "%q is not a tenant name: a lowercase DNS label (a-z, 0-9 and '-', at most 63 characters), the first label of its sub-domain", t)
		case seen[t]:
			v.errf(&p.Tenants[i], "tenant %q is listed twice", t)
		case host == "" && p.URL != "":
			v.errf(&p.Tenants[i], "tenant %s has no sub-domain: pool.url %s names an address, and Scalelite takes the tenant from the first label of a domain", t, p.URL)
		case len(t)+1+len(host) > 253:
			v.errf(&p.Tenants[i], "%s.%s is longer than a domain name may be (253)", t, host)
		}
		seen[t] = true
	}
}

var reContainer = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func (v *validator) multiplier(f *float64) {
	if w := v.at(f); !w.set || w.bad {
		return
	}
	if *f <= 0 || *f > 1000 || math.IsNaN(*f) {
		v.errf(f, "load_multiplier must be more than 0 (and at most 1000), got %s", fmtFloat(*f))
	}
}

func (v *validator) tag(t *string) {
	if *t != "" && !poolTag.MatchString(*t) {
		v.errf(t, "%q is not a Scalelite tag (letters, digits, '_', '.', '-'; at most 64)", *t)
	}
}

// rakeHost checks that api: rake names (or finds) the node Scalelite runs on.
func (v *validator) rakeHost(g *Group) {
	p := g.Pool
	if p.Host == "" {
		n := 0
		for _, ns := range g.Nodes {
			roles := ns.Roles
			if roles == nil {
				roles = g.Roles
			}
			if slices.Contains(roles, "scalelite") {
				n++
			}
		}
		if n != 1 {
			v.errf(&p.API, "api: rake needs host, the node running Scalelite (this group has %d scalelite nodes)", n)
		}
		return
	}
	for _, og := range v.inv.Groups {
		for _, ns := range og.Nodes {
			if ns.Name == p.Host {
				return
			}
		}
		if og.Count > 0 && strings.Contains(og.NamePattern, "{n}") {
			for i := 1; i <= og.Count && i <= maxNodes; i++ {
				if expand(og.NamePattern, i) == p.Host {
					return
				}
			}
		}
	}
	v.errf(&p.Host, "no node named %q in the inventory", p.Host)
}

// RakeHost is the node Scalelite runs on for api: rake: Host, else the
// group's one scalelite node.
func (inv *Inventory) RakeHost(g *Group) (*Node, error) {
	if g.Pool == nil {
		return nil, fmt.Errorf("group %s has no pool", g.Name)
	}
	for _, n := range inv.Nodes() {
		if g.Pool.Host != "" && n.Name == g.Pool.Host {
			return n, nil
		}
		if g.Pool.Host == "" && n.Group == g.Name && slices.Contains(n.Roles, "scalelite") {
			return n, nil
		}
	}
	return nil, fmt.Errorf("group %s: no node runs Scalelite (set pool.host)", g.Name)
}

func fmtFloat(f float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", f), "0"), ".")
}
