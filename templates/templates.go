// Package templates holds the files omc writes onto hosts for its built-in
// roles, embedded in the binary so a node never depends on files next to
// the inventory. Each template renders from a typed value (data.go), with
// missingkey=error: a field the role forgot is an error at build time,
// never "<no value>" written to a host.
//
// The rendered output is pinned by golden files in testdata/; regenerate
// them with `go test ./templates -update` and review the diff.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/omc-coop/omc/internal/shell"
)

//go:embed files/*.tmpl
var files embed.FS

// Template names, one per rendered file.
const (
	Nftables        = "nftables.conf"
	Turnserver      = "turnserver.conf"
	CoturnUnit      = "coturn-override.conf"
	TurnStunServers = "turn-stun-servers.xml"
	BBBWeb          = "bbb-web.properties"
	BBBHTML5        = "bbb-html5.yml"
	WebRTCSFU       = "webrtc-sfu.yml"
	FreeSWITCHVars  = "freeswitch-vars.xml"
	Sshd            = "sshd.conf"
	Journald        = "journald.conf"
	Unattended      = "unattended-upgrades.conf"
	Sudoers         = "sudoers"
	Timesyncd       = "timesyncd.conf"
	NginxACME       = "nginx-acme.conf"
	NginxBBB        = "nginx-bbb.conf"
	HAProxyCfg      = "haproxy.cfg"
	CertbotHook     = "certbot-deploy-hook.sh"
	BandwidthScript = "omc-bandwidth.sh"
	BandwidthUnit   = "omc-bandwidth.service"
	// ImageMagickPolicy is /etc/ImageMagick-6/policy.xml on 4.x nodes (no data).
	ImageMagickPolicy = "imagemagick-policy.xml"
)

var parsed = template.Must(template.New("").Option("missingkey=error").Funcs(template.FuncMap{
	"join":       strings.Join,
	"xml":        xmlEscape,
	"prop":       propEscape,
	"nftComment": nftComment,
	"sh":         shell.Quote,
}).ParseFS(files, "files/*.tmpl"))

// Names lists every embedded template, sorted.
func Names() []string {
	entries, _ := fs.Glob(files, "files/*.tmpl")
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = strings.TrimSuffix(path.Base(e), ".tmpl")
	}
	sort.Strings(names)
	return names
}

// Render renders the named template with data.
func Render(name string, data any) ([]byte, error) {
	t := parsed.Lookup(name + ".tmpl")
	if t == nil {
		return nil, fmt.Errorf("templates: no template %q", name)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("templates: %s: %w", name, err)
	}
	return b.Bytes(), nil
}

func xmlEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// propEscape writes a Java properties value: bbb-web reads its overrides
// as ISO-8859-1, so anything outside ASCII becomes \uXXXX, and newlines and
// backslashes are escaped so a welcome text cannot end the line early.
func propEscape(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == ' ' && i == 0:
			b.WriteString(`\ `)
		case r < 0x20 || r > 0x7e:
			if r == utf8.RuneError {
				r = '?'
			}
			for _, u := range utf16(r) {
				fmt.Fprintf(&b, `\u%04x`, u)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func utf16(r rune) []rune {
	if r < 0x10000 {
		return []rune{r}
	}
	r -= 0x10000
	return []rune{0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff}
}

// nftComment keeps a rule comment inside its quotes.
func nftComment(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 {
			return -1
		}
		return r
	}, s)
}
