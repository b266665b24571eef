package templates

import (
	"encoding/json"
	"strings"
	"testing"
)

// The scalelite role's samples join the shared table, so TestGolden pins
// them like every other template.
func init() {
	samples[ScaleliteEnv] = ScaleliteEnvData{Domain: "scalelite.example.org", SecretKeyBase: fakeSecret + "-key-base",
		LoadBalancerSecret: fakeSecret + "-lb", DBPassword: fakeSecret + "-pg", Tag: "v1.6.0", Port: 3000, PollInterval: 60, Multitenancy: true}
	samples[ScaleliteUnit] = ScaleliteService{Name: "scalelite-api", Description: "Scalelite API", Image: "blindsidenetwks/scalelite:v1.6.0-api", Recordings: true}
	samples[ScaleliteTarget] = nil
	samples[ScaleliteNginx] = ScaleliteSite{Domain: "scalelite.example.org", Cert: "/etc/letsencrypt/live/scalelite.example.org/fullchain.pem",
		Key: "/etc/letsencrypt/live/scalelite.example.org/privkey.pem", Port: 3000}
	samples[ScaleliteDB] = ScaleliteDBData{Password: fakeSecret + "-pg"}
	samples[DockerDaemon] = nil
}

// Docker refuses to start on a daemon.json it cannot parse, and with its
// own iptables rules it would fight omc's nftables ruleset (which flushes
// them) on a scalelite node.
func TestDockerDaemonJSON(t *testing.T) {
	b, err := Render(DockerDaemon, nil)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("daemon.json: %v\n%s", err, b)
	}
	if d["iptables"] != false {
		t.Fatalf("daemon.json leaves Docker's iptables on: %s", b)
	}
}

// Scalelite's Rails app reads these variables (docs/configuration-README.md
// at v1.6.0); a typo would leave it on a default, e.g. listening on every
// address, or the database unreachable.
func TestScaleliteEnvNamesWhatScaleliteReads(t *testing.T) {
	b, err := Render(ScaleliteEnv, samples[ScaleliteEnv])
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			env[k] = v
		}
	}
	want := map[string]string{
		"URL_HOST": "scalelite.example.org", "BIND": "tcp://127.0.0.1:3000", "REDIS_URL": "redis://127.0.0.1:6379",
		"DATABASE_URL":        "postgresql://scalelite:" + fakeSecret + "-pg@127.0.0.1:5432/scalelite_production",
		"LOADBALANCER_SECRET": fakeSecret + "-lb", "SECRET_KEY_BASE": fakeSecret + "-key-base",
		"MULTITENANCY_ENABLED": "true", "POLL_INTERVAL": "60",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
}

func init() {
	t := Transfer{Spool: "scalelite-spool@sl-1.example.org:", Key: "/etc/bigbluebutton/omc-scalelite/id_ed25519",
		KnownHosts: "/etc/bigbluebutton/omc-scalelite/known_hosts", Work: "/var/bigbluebutton/recording/scalelite", Script: "/usr/local/lib/omc/scalelite-transfer",
		Port: 22, Retry: "10min", Published: "/var/bigbluebutton/published", Status: "/var/bigbluebutton/recording/status/published"}
	samples[TransferScript] = t
	samples[TransferHook] = t
	samples[TransferUnit] = t
	samples[TransferTimer] = t
}
