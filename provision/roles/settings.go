package roles

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/omc-coop/omc/inventory"
)

// Settings is the typed view of the settings the roles read (see the
// package doc for each key). Other keys are left to the user's templates.
type Settings struct {
	Timezone      string
	NTP           []string
	Admins        []Admin
	AdminCIDRs    []netip.Prefix
	Swap          string
	JournalMaxUse string
	Unattended    bool
	Firewall      bool
	ACMEEmail     string
	ACMEDirectory string
	ACMECAFile    string
	PublicIP      string
	PrivateIP     string
	SeedSecret    string
	APISecret     string
	BBBVersion    string
	BBBOS         string
	BBBRepo       Repo
	BBBPackages   []string
	BBBForce      bool
	BBB           map[string]any
	Sysctl        map[string]*string
	Bandwidth     *Bandwidth
	Backup        *BackupSettings     // backup.go
	Monitoring    *MonitoringSettings // monitoring.go
	Greenlight    *GreenlightSettings // greenlight.go
	LTI           *LTISettings        // lti.go
}

// Admin is an operator account: key logins and passwordless sudo.
type Admin struct {
	Name string
	Keys []string
}

// Repo is an apt source for BBB's packages.
type Repo struct {
	URL, Suite, Components, KeyURL string
	// Trusted marks an unsigned repository (a local test repository).
	Trusted bool
}

// Bandwidth caps a node's public interface (tc rates such as 500mbit).
type Bandwidth struct {
	Egress, Ingress, Interface string
}

// LetsEncrypt is the default ACME directory.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// DefaultSeedSecret names the inventory secret that per-node secrets are
// derived from unless settings.seed_secret names another.
const DefaultSeedSecret = "bbb_seed"

var (
	reTZ    = regexp.MustCompile(`^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$`)
	reUser  = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	reSize  = regexp.MustCompile(`^[0-9]+[KMGT]$`)
	reRate  = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)$`)
	reIface = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
	reHost  = regexp.MustCompile(`^[A-Za-z0-9.-]+$`)
	reSys   = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_-]+)+$`)
	reWord  = regexp.MustCompile(`^[A-Za-z0-9._~+-]+$`)
	reURL   = regexp.MustCompile(`^(https?|file):/[^\s'"]*$`)
)

// settingsReader decodes settings with errors that name node and key.
type settingsReader struct {
	node, path string
	m          map[string]any
	errs       *[]string
}

func (r *settingsReader) fail(key, format string, a ...any) {
	*r.errs = append(*r.errs, fmt.Sprintf("node %s: settings.%s%s: %s", r.node, r.path, key, fmt.Sprintf(format, a...)))
}

func (r *settingsReader) str(key, def string, re *regexp.Regexp) string {
	v, ok := r.m[key]
	if !ok || v == nil {
		return def
	}
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case int, float64:
		s = fmt.Sprint(t)
	default:
		r.fail(key, "expected a string, got %T", v)
		return def
	}
	if s == "" {
		return def
	}
	if re != nil && !re.MatchString(s) {
		r.fail(key, "%q is not valid here", s)
		return def
	}
	return s
}

func (r *settingsReader) boolean(key string, def bool) bool {
	v, ok := r.m[key]
	if !ok || v == nil {
		return def
	}
	b, isBool := v.(bool)
	if !isBool {
		r.fail(key, "expected true or false, got %v", v)
		return def
	}
	return b
}

func (r *settingsReader) list(key string, re *regexp.Regexp) []string {
	v, ok := r.m[key]
	if !ok || v == nil {
		return nil
	}
	l, isList := v.([]any)
	if !isList {
		r.fail(key, "expected a list, got %T", v)
		return nil
	}
	var out []string
	for i, e := range l {
		s, isStr := e.(string)
		if !isStr || (re != nil && !re.MatchString(s)) {
			r.fail(fmt.Sprintf("%s[%d]", key, i), "%v is not valid here", e)
			continue
		}
		out = append(out, s)
	}
	return out
}

func (r *settingsReader) mapping(key string) map[string]any {
	v, ok := r.m[key]
	if !ok || v == nil {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		r.fail(key, "expected a mapping, got %T", v)
		return nil
	}
	return m
}

// sub reads a nested mapping, refusing keys it does not know: a typo in
// bandwidth.egres must not silently leave a host uncapped.
func (r *settingsReader) sub(key string, known ...string) *settingsReader {
	m := r.mapping(key)
	if m == nil {
		return nil
	}
	for _, k := range sortedKeys(m) {
		if !slices.Contains(known, k) {
			r.fail(key+"."+k, "unknown key (known: %s)", strings.Join(known, ", "))
		}
	}
	return &settingsReader{node: r.node, path: r.path + key + ".", m: m, errs: r.errs}
}

// ParseSettings reads the settings of node n.
func ParseSettings(n *inventory.Node) (*Settings, error) {
	var errs []string
	r := &settingsReader{node: n.Name, m: n.Settings, errs: &errs}
	s := &Settings{
		Timezone:      r.str("timezone", "UTC", reTZ),
		NTP:           r.list("ntp", reHost),
		Swap:          r.str("swap", "", reSize),
		JournalMaxUse: r.str("journal_max_use", "1G", reSize),
		Unattended:    r.boolean("unattended_upgrades", true),
		Firewall:      r.boolean("firewall", true),
		ACMEEmail:     r.str("acme_email", "", regexp.MustCompile(`^[^\s'"@]+@[^\s'"@]+$`)),
		ACMEDirectory: r.str("acme_directory", LetsEncrypt, reURL),
		ACMECAFile:    r.str("acme_ca_file", "", regexp.MustCompile(`^/[^\s'"]+$`)),
		PublicIP:      r.str("public_ip", "", nil),
		PrivateIP:     r.str("private_ip", "", nil),
		SeedSecret:    r.str("seed_secret", DefaultSeedSecret, nil),
		APISecret:     r.str("api_secret", "", nil),
		BBBVersion:    r.str("bbb_version", "", reWord),
		BBBOS:         r.str("bbb_os", "", regexp.MustCompile(`^[a-z]+-[0-9.]+$`)),
		BBBPackages:   r.list("bbb_packages", regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+:~-]+)?$`)),
		BBBForce:      r.boolean("bbb_force", false),
		BBB:           r.mapping("bbb"),
	}
	for _, ip := range []struct{ key, v string }{{"public_ip", s.PublicIP}, {"private_ip", s.PrivateIP}} {
		if ip.v != "" {
			if _, err := netip.ParseAddr(ip.v); err != nil {
				r.fail(ip.key, "%q is not an IP address", ip.v)
			}
		}
	}
	for i, c := range r.list("admin_cidrs", nil) {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			if a, aerr := netip.ParseAddr(c); aerr == nil {
				p, err = a.Prefix(a.BitLen())
			}
		}
		if err != nil {
			r.fail(fmt.Sprintf("admin_cidrs[%d]", i), "%q is not an address range (CIDR)", c)
			continue
		}
		s.AdminCIDRs = append(s.AdminCIDRs, p.Masked())
	}
	s.Admins = readAdmins(r)
	s.Backup = readBackup(r)
	s.Monitoring = readMonitoring(r)
	s.Greenlight = readGreenlight(r)
	s.LTI = readLTI(r)
	if rr := r.sub("bbb_repo", "url", "suite", "components", "key_url", "trusted"); rr != nil {
		s.BBBRepo = Repo{URL: rr.str("url", "", reURL), Suite: rr.str("suite", "", reWord),
			Components: rr.str("components", "main", regexp.MustCompile(`^[A-Za-z0-9._-]+( [A-Za-z0-9._-]+)*$`)),
			KeyURL:     rr.str("key_url", "", reURL), Trusted: rr.boolean("trusted", false)}
	}
	if br := r.sub("bandwidth", "egress", "ingress", "interface"); br != nil {
		s.Bandwidth = &Bandwidth{Egress: br.str("egress", "", reRate), Ingress: br.str("ingress", "", reRate), Interface: br.str("interface", "", reIface)}
		if s.Bandwidth.Egress == "" && s.Bandwidth.Ingress == "" {
			r.fail("bandwidth", "set egress, ingress or both (a tc rate such as 500mbit)")
		}
	}
	if m := r.mapping("sysctl"); m != nil {
		s.Sysctl = map[string]*string{}
		for _, k := range sortedKeys(m) {
			if !reSys.MatchString(k) {
				r.fail("sysctl."+k, "not a sysctl name")
				continue
			}
			switch v := m[k].(type) {
			case nil:
				s.Sysctl[k] = nil
			case string, int, float64:
				val := fmt.Sprint(v)
				s.Sysctl[k] = &val
			default:
				r.fail("sysctl."+k, "expected a value or null, got %T", v)
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return s, nil
}

func readAdmins(r *settingsReader) []Admin {
	v, ok := r.m["admins"]
	if !ok || v == nil {
		return nil
	}
	l, isList := v.([]any)
	if !isList {
		r.fail("admins", "expected a list of {name, keys}, got %T", v)
		return nil
	}
	var out []Admin
	for i, e := range l {
		key := "admins[" + strconv.Itoa(i) + "]"
		m, isMap := e.(map[string]any)
		if !isMap {
			r.fail(key, "expected {name, keys}")
			continue
		}
		ar := (&settingsReader{node: r.node, path: r.path, m: map[string]any{key: m}, errs: r.errs}).sub(key, "name", "keys")
		a := Admin{Name: ar.str("name", "", reUser), Keys: ar.list("keys", regexp.MustCompile(`^(ssh-|ecdsa-|sk-)[^\n]+$`))}
		if a.Name == "" {
			r.fail(key+".name", "required")
			continue
		}
		out = append(out, a)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
