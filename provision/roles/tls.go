package roles

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/templates"
)

const (
	acmeWebroot = "/var/www/omc-acme"
	certHook    = "/usr/local/lib/omc/certbot-deploy-hook"
)

func livePath(domain, f string) string { return "/etc/letsencrypt/live/" + domain + "/" + f }

// tls: a certificate for the node's domain from the ACME directory, by
// http-01 through nginx. certbot's own timer renews it on the node; the
// deploy hook reloads nginx and hands coturn its copy.
func (b *builder) tls() {
	n, s := b.n, b.s
	if n.Domain == "" {
		b.fail(fmt.Errorf("node %s: roles %s need a domain for their certificate", n.Name, strings.Join(n.Roles, ", ")))
		return
	}
	b.add(&provision.PackagesStep{Names: []string{"nginx", "certbot", "openssl"}},
		&provision.DirStep{Path: acmeWebroot, Mode: 0o755, Owner: "root", Group: "root"})
	aliases := b.tenantDomains()
	if f, err := file("/etc/nginx/conf.d/omc-acme.conf", templates.NginxACME,
		templates.Nginx{Domain: n.Domain, Aliases: aliases, Webroot: acmeWebroot, Redirect: has(n, RoleBBB) || has(n, RoleScalelite)}, 0o644, "root", "root", "nginx"); err != nil {
		b.fail(err)
	} else {
		b.add(&checkedFile{FileStep: f, Check: "nginx -t -q"})
	}
	b.add(&provision.ServiceStep{Name: "nginx", Enabled: true, Running: true})
	b.addFile(certHook, templates.CertbotHook, templates.CertHook{Domain: n.Domain}, 0o755, "root", "root")
	b.add(&CertStep{Domain: n.Domain, Names: aliases, Email: s.ACMEEmail, Directory: s.ACMEDirectory, CAFile: s.ACMECAFile, RenewDays: 30},
		&provision.ServiceStep{Name: "certbot.timer", Enabled: true, Running: true})
}

// CertStep wants a certificate for Domain (and Names, one certificate
// for all) from Directory that is valid for more than RenewDays. It is
// idempotent by checking the live certificate's names, expiry and
// issuing server, so certbot (and the ACME CA's rate limits) is only
// troubled when something must change: a new list of names is one new
// certificate, the same list none.
type CertStep struct {
	Domain, Email, Directory string
	// Names are more names on the certificate (a pool's tenants'
	// sub-domains), each answered by http-01 through nginx like Domain.
	Names []string
	// CAFile is a CA bundle on the node that certbot trusts for the
	// directory's TLS (a private ACME server such as pebble).
	CAFile    string
	RenewDays int
}

func (s *CertStep) ID() string { return "certificate " + s.Domain }

func (s *CertStep) Probe() string {
	cert := shell.Quote(livePath(s.Domain, "cert.pem"))
	return `if [ -f ` + cert + ` ]; then
echo "names=$(openssl x509 -in ` + cert + ` -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ')"
openssl x509 -in ` + cert + ` -noout -checkend ` + strconv.Itoa(s.RenewDays*86400) + ` >/dev/null 2>&1 && echo fresh=yes || echo fresh=no
echo "server=$(sed -n 's/^server *= *//p' ` + shell.Quote("/etc/letsencrypt/renewal/"+s.Domain+".conf") + ` 2>/dev/null)"
echo "hook=$(sed -n 's/^renew_hook *= *//p' ` + shell.Quote("/etc/letsencrypt/renewal/"+s.Domain+".conf") + ` 2>/dev/null)"
else echo names=; fi`
}

func (s *CertStep) Plan(obs []string) (*provision.Change, error) {
	names, ok := field(obs, "names")
	if !ok {
		return nil, fmt.Errorf("unexpected probe output for %s", s.ID())
	}
	fresh, _ := field(obs, "fresh")
	server, _ := field(obs, "server")
	hook, _ := field(obs, "hook")
	var why string
	switch {
	case names == "":
		why = "request"
	case !sameNames(names, s.want()):
		why = "replace (names " + names + ")"
	case server != s.Directory:
		why = "replace (issued by " + server + ")"
	case fresh != "yes":
		why = "renew (expires within " + strconv.Itoa(s.RenewDays) + " days: certbot's timer did not renew it)"
	case hook != certHook:
		why = "replace (renewal would not run omc's deploy hook)"
	default:
		return nil, nil
	}
	return &provision.Change{Step: s, Summary: why + " from " + s.Directory, Script: s.script(names != "")}, nil
}

func (s *CertStep) script(replace bool) string {
	var b strings.Builder
	b.WriteString("set -e\nsystemctl reload-or-restart nginx\n")
	if s.CAFile != "" {
		b.WriteString("export REQUESTS_CA_BUNDLE=" + shell.Quote(s.CAFile) + "\n")
	}
	b.WriteString("certbot certonly --non-interactive --agree-tos --webroot -w " + acmeWebroot + " --cert-name " + shell.Quote(s.Domain))
	for _, d := range s.want() {
		b.WriteString(" -d " + shell.Quote(d))
	}
	b.WriteString(" --server " + shell.Quote(s.Directory) + " --deploy-hook " + certHook)
	if s.Email != "" {
		b.WriteString(" --email " + shell.Quote(s.Email))
	} else {
		b.WriteString(" --register-unsafely-without-email")
	}
	if replace {
		b.WriteString(" --force-renewal")
	}
	return b.String()
}

// want are the certificate's names: Domain first (its subject), then Names.
func (s *CertStep) want() []string {
	out := []string{s.Domain}
	for _, n := range s.Names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// sameNames: the probe's subjectAltName list ("DNS:a,DNS:b") holds
// exactly want, in any order (a CA may sort them).
func sameNames(probed string, want []string) bool {
	var have []string
	for _, n := range strings.Split(probed, ",") {
		have = append(have, strings.TrimPrefix(n, "DNS:"))
	}
	slices.Sort(have)
	want = slices.Sorted(slices.Values(want))
	return slices.Equal(have, want)
}
