package templates

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/omc-coop/omc/internal/testenv"
)

// The goldens pin whole files but are written by the code under test
// (-update). These are the lines that carry each template's job, worked
// out from the samples in templates_test.go, so a golden rewritten with a
// regression in it still fails here.
var mustHave = map[string][]string{
	// Only the admin ranges reach ssh; everything not listed is dropped.
	Nftables: {
		"\t\ttype filter hook input priority 0; policy drop;",
		"\t\telements = { 198.51.100.0/24, 192.0.2.7/32 }",
		"\t\telements = { 2001:db8::/32 }",
		"\t\tip saddr @admin4 tcp dport 22 accept comment \"ssh from admin ranges\"",
		"\t\tip6 saddr @admin6 tcp dport 22 accept comment \"ssh from admin ranges\"",
		"\t\ttcp dport 443 accept comment \"https\"",
		// The quote in the rule's name cannot end nft's string early.
		"\t\tudp dport 16384-32768 accept comment \"bbb media rtp\"",
	},
	// TURN with the shared secret BBB signs with, relaying only to the
	// BBB node and never to private ranges.
	Turnserver: {
		"use-auth-secret", "static-auth-secret=" + fakeSecret, "realm=turn-1.example.org",
		"external-ip=203.0.113.20/10.0.0.20", "min-port=32769", "max-port=65535",
		"tls-listening-port=443", "no-loopback-peers", "no-multicast-peers",
		"denied-peer-ip=10.0.0.0-10.255.255.255", "denied-peer-ip=192.168.0.0-192.168.255.255",
		"allowed-peer-ip=203.0.113.10",
	},
	// Java properties: non-ASCII as \u escapes, a newline as \n, a
	// backslash doubled; otherwise bbb-web reads another value.
	BBBWeb: {
		"bigbluebutton.web.serverURL=https://bbb-1.example.org",
		"securitySalt=" + fakeSecret,
		`defaultWelcomeMessage=Willkommen, sch\u00f6n!\nZweite Zeile \\ Ende`,
	},
	FreeSWITCHVars: {
		`  <X-PRE-PROCESS cmd="set" data="external_rtp_ip=203.0.113.10"/>`,
		`  <X-PRE-PROCESS cmd="set" data="external_sip_ip=203.0.113.10"/>`,
	},
	Sshd:     {"PermitRootLogin prohibit-password", "PasswordAuthentication no", "PermitEmptyPasswords no"},
	Journald: {"[Journal]", "SystemMaxUse=1G", "MaxRetentionSec=1month"},
	// BBB's packages are never upgraded behind omc's back, nor is the
	// host rebooted.
	Unattended: {"\t\"bigbluebutton\";", "\t\"bbb-\";", "\t\"freeswitch\";", `Unattended-Upgrade::Automatic-Reboot "false";`},
	Sudoers:    {"alice ALL=(ALL:ALL) NOPASSWD: ALL", "bob ALL=(ALL:ALL) NOPASSWD: ALL"},
	Timesyncd:  {"[Time]", "NTP=0.pool.ntp.org 1.pool.ntp.org"},
	// Port 80 serves the ACME challenge and redirects the rest.
	NginxACME: {"\tserver_name bbb-1.example.org;", "\tlocation ^~ /.well-known/acme-challenge/ {", "\t\troot /var/www/omc-acme;", "\t\treturn 301 https://$host$request_uri;"},
	NginxBBB: {
		"\tlisten 443 ssl http2;",
		"\tssl_certificate /etc/letsencrypt/live/bbb-1.example.org/fullchain.pem;",
		"\tssl_certificate_key /etc/letsencrypt/live/bbb-1.example.org/privkey.pem;",
		"\tssl_protocols TLSv1.2 TLSv1.3;",
	},
	// A renewed certificate reaches coturn (readable by its group) and
	// nginx reloads.
	CertbotHook: {
		"live=/etc/letsencrypt/live/bbb-1.example.org",
		"\tinstall -m 0640 -o root -g turnserver \"$live/privkey.pem\" /etc/turnserver/privkey.pem",
		"if systemctl -q is-active nginx; then systemctl reload nginx; fi",
	},
	BandwidthScript: {"IFACE='eth0'", "EGRESS='500mbit'", "INGRESS='400mbit'"},
}

// mustNotHave are lines (alone, or followed by a space and more) whose
// presence would undo a template's job.
var mustNotHave = map[string][]string{
	Nftables:   {"\t\ttcp dport 22 accept"},
	Turnserver: {"no-tls", "no-dtls", "allow-loopback-peers"},
	Sshd:       {"PasswordAuthentication yes", "PermitRootLogin yes"},
}

func TestTemplatesSayWhatMatters(t *testing.T) {
	for name, want := range mustHave {
		t.Run(name, func(t *testing.T) {
			lines := renderLines(t, name, samples[name])
			for _, l := range want {
				if !slices.Contains(lines, l) {
					t.Errorf("no line %q", l)
				}
			}
			for _, bad := range mustNotHave[name] {
				for _, l := range lines {
					if l == bad || strings.HasPrefix(l, bad+" ") {
						t.Errorf("line %q", l)
					}
				}
			}
		})
	}
}

// The variants' own branches: ssh open to all without admin ranges, and
// no TLS lines for a TURN server without a certificate.
func TestTemplateVariantsSayWhatMatters(t *testing.T) {
	fw := renderLines(t, Nftables, Firewall{Node: "turn-1", SSHPort: 2222, Rules: []Rule{{"udp", "3478", "turn"}}})
	if !slices.Contains(fw, "\t\ttcp dport 2222 accept comment \"ssh (no admin_cidrs set)\"") || slices.ContainsFunc(fw, func(l string) bool { return strings.Contains(l, "@admin") }) {
		t.Errorf("open ssh on 2222 without admin sets:\n%s", strings.Join(fw, "\n"))
	}
	turn := renderLines(t, Turnserver, Turn{Node: "bbb-2", Realm: "bbb-2.example.org", Secret: fakeSecret, ListenIPs: []string{"203.0.113.11"},
		RelayIPs: []string{"203.0.113.11"}, MinPort: 32769, MaxPort: 65535, AllowedPeers: []string{"203.0.113.11"}})
	if !slices.Contains(turn, "no-tls") || !slices.Contains(turn, "no-dtls") || slices.ContainsFunc(turn, func(l string) bool {
		return strings.HasPrefix(l, "cert=") || strings.HasPrefix(l, "tls-listening-port=")
	}) {
		t.Errorf("TURN without a certificate:\n%s", strings.Join(turn, "\n"))
	}
}

// Each output is well-formed for what reads it: XML and YAML parse, shell
// scripts pass bash -n, the sudoers file passes visudo.
func TestTemplatesParse(t *testing.T) {
	dir := t.TempDir()
	for _, name := range Names() {
		out, err := Render(name, samples[name])
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(name, ".xml"):
			d := xml.NewDecoder(strings.NewReader(string(out)))
			for {
				if _, err := d.Token(); err != nil {
					if err.Error() != "EOF" {
						t.Errorf("%s is not XML: %v", name, err)
					}
					break
				}
			}
		case strings.HasSuffix(name, ".yml"):
			var v any
			if err := yaml.Unmarshal(out, &v); err != nil {
				t.Errorf("%s is not YAML: %v", name, err)
			}
		case strings.HasSuffix(name, ".sh"):
			if b, err := exec.Command("bash", "-n", "-c", string(out)).CombinedOutput(); err != nil {
				t.Errorf("bash -n %s: %v\n%s", name, err, b)
			}
		case name == Sudoers:
			visudo, err := exec.LookPath("visudo")
			if err != nil {
				if visudo = "/usr/sbin/visudo"; !fileExists(visudo) {
					testenv.Missing(t, "needs visudo to check the sudoers template (apt-get install sudo)")
				}
			}
			p := filepath.Join(dir, "sudoers")
			if err := os.WriteFile(p, out, 0o440); err != nil {
				t.Fatal(err)
			}
			if b, err := exec.Command(visudo, "-cf", p).CombinedOutput(); err != nil {
				t.Errorf("visudo refuses the sudoers template: %v\n%s", err, b)
			}
		}
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func renderLines(t *testing.T, name string, data any) []string {
	t.Helper()
	out, err := Render(name, data)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(out), "\n")
}
