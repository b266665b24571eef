package inventory

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// The accepted values of provider and roles; Schema lists them as enums.
var (
	providerNames = []string{"static", "local", "hcloud", "robot"}
	roleNames     = []string{RoleBBB, RoleTURN, RoleScalelite}
)

var (
	// label is a lowercase DNS label: it names groups, nodes and the
	// inventory, and ends up in host names and provider labels.
	label       = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	hostLabel   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	allDigits   = regexp.MustCompile(`^[0-9]+$`)
	unixName    = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	secretName  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)
	serviceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9@._:-]{0,254}$`)
	sysctlName  = regexp.MustCompile(`^[a-z0-9_]+([./][A-Za-z0-9_-]+)+$`)
	packageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$`)
	octalMode   = regexp.MustCompile(`^[0-7]{1,5}$`)
)

func isLabel(s string) bool { return label.MatchString(s) }

// isHostname accepts a DNS name whose last label is not numeric, so that
// a mistyped IPv4 address such as 300.1.2.3 is not taken for a name.
func isHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if !hostLabel.MatchString(l) {
			return false
		}
	}
	return !allDigits.MatchString(labels[len(labels)-1])
}

// isHost accepts an IP address or a host name.
func isHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	return isHostname(s)
}

// isFQDN accepts a host name with at least two labels, as certificates
// and BigBlueButton's own configuration need.
func isFQDN(s string) bool {
	return isHostname(s) && strings.Contains(strings.TrimSuffix(s, "."), ".")
}

func isOwner(s string) bool { return unixName.MatchString(s) || allDigits.MatchString(s) }

func isMode(s string) bool {
	if !octalMode.MatchString(s) {
		return false
	}
	m, err := strconv.ParseUint(s, 8, 32)
	return err == nil && m <= 0o7777
}

// bastionProblem checks "[user@]host[:port]" the way the ssh layer splits
// it, so a bare IPv6 address (whose last group would be read as a port)
// must be bracketed. It returns "" when s is fine.
func bastionProblem(s string) string {
	hostport := s
	if u, rest, ok := strings.Cut(s, "@"); ok {
		if !unixName.MatchString(u) {
			return "user " + strconv.Quote(u) + " is not a valid user name"
		}
		hostport = rest
	}
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.Index(hostport, "]")
		if end < 0 {
			return "missing ] after the IPv6 address"
		}
		host, port = hostport[1:end], hostport[end+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return "expected :PORT after ]"
		}
		port = strings.TrimPrefix(port, ":")
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return strconv.Quote(host) + " is not an IPv6 address"
		}
	} else if i := strings.LastIndex(hostport, ":"); i >= 0 {
		if strings.Count(hostport, ":") > 1 {
			return "write an IPv6 address in brackets, e.g. [2001:db8::1]:22"
		}
		host, port = hostport[:i], hostport[i+1:]
	}
	if !isHost(host) {
		return strconv.Quote(host) + " is not a valid IP address or host name"
	}
	if port != "" {
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return "port " + strconv.Quote(port) + " is not in 1..65535"
		}
	}
	return ""
}
