package templates

import (
	"slices"
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/golden"
)

// fakeSecret is an obviously fake sample secret: goldens never hold real ones.
const fakeSecret = "FAKE-SAMPLE-SECRET-not-a-real-one"

// samples is one fixed sample node's data per template: the node bbb-1 of
// group eu (203.0.113.10, behind NAT as 10.0.0.10), its TURN server
// turn-1 (203.0.113.20) and an admin range.
var samples = map[string]any{
	Nftables: Firewall{Node: "bbb-1", SSHPort: 22, AdminV4: []string{"198.51.100.0/24", "192.0.2.7/32"}, AdminV6: []string{"2001:db8::/32"},
		Rules: []Rule{{"tcp", "80", "http (ACME, redirect)"}, {"tcp", "443", "https"}, {"udp", "16384-32768", `bbb media "rtp"`}}},
	Turnserver: Turn{Node: "turn-1", Realm: "turn-1.example.org", Secret: fakeSecret, ListenIPs: []string{"10.0.0.20"}, RelayIPs: []string{"10.0.0.20"},
		ExternalIP: "203.0.113.20/10.0.0.20", TLS: true, TLSPort: 443, Cert: "/etc/turnserver/fullchain.pem", Key: "/etc/turnserver/privkey.pem",
		MinPort: 32769, MaxPort: 65535, DeniedPeers: []string{"10.0.0.0-10.255.255.255", "192.168.0.0-192.168.255.255"}, AllowedPeers: []string{"203.0.113.10"}},
	CoturnUnit: nil,
	TurnStunServers: TurnStun{Stun: []string{"stun:turn-1.example.org"}, Turn: []TurnServer{
		{URL: "turns:turn-1.example.org:443?transport=tcp", Secret: fakeSecret, TTL: 86400},
		{URL: "turn:turn-1.example.org:3478", Secret: fakeSecret, TTL: 86400}}},
	BBBWeb: Properties{Node: "bbb-1", Entries: []KV{{"bigbluebutton.web.serverURL", "https://bbb-1.example.org"}, {"securitySalt", fakeSecret},
		{"defaultMaxUsers", "100"}, {"defaultWelcomeMessage", "Willkommen, schön!\nZweite Zeile \\ Ende"}}},
	BBBHTML5:       YAMLOverride{Node: "bbb-1", Body: "public:\n    app:\n        clientTitle: Co-op BBB\n"},
	WebRTCSFU:      YAMLOverride{Node: "bbb-1", Body: "freeswitch:\n    ip: 203.0.113.10\n"},
	FreeSWITCHVars: FreeSWITCH{ExternalRTPIP: "203.0.113.10", ExternalSIPIP: "203.0.113.10", DefaultPassword: fakeSecret},
	Sshd:           SSHD{PermitRootLogin: "prohibit-password"},
	Journald:       Journal{SystemMaxUse: "1G", MaxRetention: "1month"},
	Unattended:     UnattendedUpgrades{Enabled: true, Hold: []string{"bigbluebutton", "bbb-", "freeswitch"}},
	Sudoers:        Admins{Names: []string{"alice", "bob"}},
	Timesyncd:      NTP{Servers: []string{"0.pool.ntp.org", "1.pool.ntp.org"}},
	NginxACME:      Nginx{Domain: "bbb-1.example.org", Webroot: "/var/www/omc-acme", Redirect: true},
	NginxBBB: Nginx{Domain: "bbb-1.example.org", Webroot: "/var/www/omc-acme", Redirect: true,
		Cert: "/etc/letsencrypt/live/bbb-1.example.org/fullchain.pem", Key: "/etc/letsencrypt/live/bbb-1.example.org/privkey.pem"},
	CertbotHook:       CertHook{Domain: "bbb-1.example.org"},
	HAProxyCfg:        HAProxy{Node: "bbb-2", Bundle: "/etc/haproxy/certbundle.pem", TURN: "203.0.113.11:3478", Nginx: "127.0.0.1:81"},
	BandwidthScript:   Bandwidth{Interface: "eth0", Egress: "500mbit", Ingress: "400mbit"},
	BandwidthUnit:     nil,
	ImageMagickPolicy: nil,
}

func TestGolden(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			data, ok := samples[name]
			if !ok {
				t.Fatalf("template %s has no sample: add one so its output is pinned", name)
			}
			got, err := Render(name, data)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, name+".golden", got)
		})
	}
	for name := range samples {
		if !slices.Contains(Names(), name) {
			t.Errorf("sample for %s, which is not a template", name)
		}
	}
}

// The TURN-less and admin-less variants take other branches of the
// templates; pin them too.
func TestGoldenVariants(t *testing.T) {
	cases := map[string]struct {
		name string
		data any
	}{
		"nftables-open-ssh": {Nftables, Firewall{Node: "turn-1", SSHPort: 2222, Rules: []Rule{{"udp", "3478", "turn"}}}},
		"turnserver-no-tls": {Turnserver, Turn{Node: "bbb-2", Realm: "bbb-2.example.org", Secret: fakeSecret, ListenIPs: []string{"203.0.113.11"},
			RelayIPs: []string{"203.0.113.11"}, MinPort: 32769, MaxPort: 65535, AllowedPeers: []string{"203.0.113.11"}}},
		"bandwidth-auto-egress-only": {BandwidthScript, Bandwidth{Egress: "100mbit"}},
		"nginx-bbb-behind-haproxy": {NginxBBB, Nginx{Domain: "bbb-2.example.org", Webroot: "/var/www/omc-acme", Redirect: true, Behind: "127.0.0.1:81",
			Frontend: "/etc/bigbluebutton/nginx/omc-greenlight.frontend", Apps: "/etc/nginx/omc-lti.nginx"}},
	}
	for file, c := range cases {
		t.Run(file, func(t *testing.T) {
			got, err := Render(c.name, c.data)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, file+".golden", got)
		})
	}
}

func TestMissingFieldIsAnError(t *testing.T) {
	// A map without the field the template reads must fail, not render "<no value>".
	if _, err := Render(Journald, map[string]any{"MaxRetention": "1d"}); err == nil {
		t.Fatal("rendering without SystemMaxUse succeeded")
	}
	if _, err := Render("nope", nil); err == nil || !strings.Contains(err.Error(), "no template") {
		t.Fatalf("unknown template: err = %v", err)
	}
}

func TestPropEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain":       "plain",
		"ä":           `\u00e4`,
		"a\nb":        `a\nb`,
		`c:\x`:        `c:\\x`,
		" lead":       `\ lead`,
		"😀":           `\ud83d\ude00`,
		"a=b:c#d!e f": "a=b:c#d!e f",
	} {
		if got := propEscape(in); got != want {
			t.Errorf("propEscape(%q) = %q, want %q", in, got, want)
		}
	}
}
