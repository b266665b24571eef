package inventory

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// settingsSrc has a settings block at the defaults (line 4), group g
// (line 9) and node a (line 13), each replaced by a test.
func settingsSrc(defaults, group, node string) string {
	return "apiVersion: omc/v1\nname: coop\ndefaults:\n  settings: {" + defaults + "}\ngroups:\n  g:\n    provider: static\n    roles: [bbb]\n    settings: {" + group +
		"}\n    nodes:\n      - name: a\n        address: 192.0.2.1\n        settings: {" + node + "}\n"
}

func loadErrors(t *testing.T, src string) string {
	t.Helper()
	_, err := loadString(t, src)
	if err == nil {
		t.Fatalf("accepted:\n%s", src)
	}
	return err.Error()
}

// A misspelt setting is refused where it is written, at every level,
// with the key it was meant to be.
func TestMisspeltSettingsAreErrorsAtTheirLine(t *testing.T) {
	got := loadErrors(t, settingsSrc("bandwith: {egress: 1mbit}", "acme_emial: a@b.example", "bbb: {max_participant: 5}, backup: {repository: /r, retention: 3}"))
	for _, want := range []string{
		"t.yaml:4:14: defaults.settings.bandwith: unknown setting; did you mean bandwidth?",
		"t.yaml:9:16: groups.g.settings.acme_emial: unknown setting; did you mean acme_email?",
		"t.yaml:13:26: groups.g.nodes[0].settings.bbb.max_participant: unknown setting; did you mean max_participants?",
		"t.yaml:13:72: groups.g.nodes[0].settings.backup.retention: unknown setting (omc help settings lists them)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack\n%s\ngot:\n%s", want, got)
		}
	}
	// No close key: where the list is, and where free-form values go.
	got = loadErrors(t, settingsSrc("motd: hello", "", ""))
	if want := "t.yaml:4:14: defaults.settings.motd: unknown setting (omc help settings lists them; values for your own templates go under vars)"; !strings.Contains(got, want) {
		t.Errorf("got %s", got)
	}
	mustLoad(t, settingsSrc("vars: {motd: hello, any: {thing: [1]}}", "", ""))
}

// Wrong types and values are refused at the value, each with what it
// should be.
func TestSettingValuesAreCheckedWhereWritten(t *testing.T) {
	tests := []struct{ settings, want string }{
		{`firewall: "no"`, "t.yaml:13:30: groups.g.nodes[0].settings.firewall: expected true or false, got a string"},
		{`timezone: "Europe/Berlin; rm -rf /"`, `settings.timezone: "Europe/Berlin; rm -rf /" is not a time zone name`},
		{`admin_cidrs: [10.0.0.0/8, not-a-cidr]`, `t.yaml:13:46: groups.g.nodes[0].settings.admin_cidrs[1]: "not-a-cidr" is not an address range (CIDR)`},
		{`acme_email: "not an address"`, `settings.acme_email: "not an address" is not an e-mail address`},
		{`public_ip: 300.1.2.3`, `settings.public_ip: "300.1.2.3" is not an IP address`},
		{`bandwidth: {egress: 10mbit, ingress: fast}`, `t.yaml:13:57: groups.g.nodes[0].settings.bandwidth.ingress: "fast" is not a tc rate such as 500mbit`},
		{`bbb_repo: {url: "ftp://x"}`, `settings.bbb_repo.url: "ftp://x" is not an http(s) or file URL`},
		{`bbb_force: "yes"`, "settings.bbb_force: expected true or false"},
		{`sysctl: {"Bad Key": 1}`, `t.yaml:13:29: groups.g.nodes[0].settings.sysctl."Bad Key": not a sysctl name`},
		{`bbb: {max_participants: -5}`, "settings.bbb.max_participants: must not be negative"},
		{`bbb: {max_participants: many}`, "settings.bbb.max_participants: expected an integer, got a string"},
		{`bbb: {guest_policy: SOMETIMES}`, `settings.bbb.guest_policy: expected one of ALWAYS_ACCEPT, ALWAYS_DENY, ASK_MODERATOR, got "SOMETIMES"`},
		{`bbb: {disabled_features: ["chat, polls"]}`, `settings.bbb.disabled_features[0]: "chat, polls" is not a single word`},
		{`bbb: {properties: {a: [1]}}`, "settings.bbb.properties.a: expected a string, got a list"},
		{`monitoring: {listen: here, sources: [nowhere]}`, `settings.monitoring.listen: "here" is not an IP address`},
		{`backup: {repository: /r, environment: {RESTIC_PASSWORD: x}}`, "settings.backup.environment.RESTIC_PASSWORD: omc sets restic's own"},
		{`backup: {repository: /r, environment: {"a b": x}}`, "not an environment variable name"},
		{`backup: {repository: /r, environment: {AWS_X: [1]}}`, "settings.backup.environment.AWS_X: expected a string, got a list"},
		{`backup: {repository: /r, keep: {daily: -1}}`, "settings.backup.keep.daily: must not be negative"},
		{`backup: {repository: "/r'x"}`, `settings.backup.repository: "/r'x" is not a restic repository`},
		{`backup: {repository: /r, random_delay: soon}`, "settings.backup.random_delay"},
		{`backup: {repository: /r, paths: [etc/x]}`, "settings.backup.paths[0]: \"etc/x\" is not an absolute path"},
		{`greenlight: {imag: x}`, "settings.greenlight.imag: unknown setting; did you mean image?"},
		{`greenlight: "yes"`, "settings.greenlight: expected a mapping, got a string"},
	}
	for _, tt := range tests {
		t.Run(tt.settings, func(t *testing.T) {
			if got := loadErrors(t, settingsSrc("", "", tt.settings)); !strings.Contains(got, tt.want) {
				t.Errorf("errors lack\n%s\ngot:\n%s", tt.want, got)
			}
		})
	}
}

// Some checks need the merged settings: a key at one level may complete
// a mapping begun at another. They point at the mapping.
func TestMergedSettingsAreChecked(t *testing.T) {
	mustLoad(t, settingsSrc("bandwidth: {interface: eth1}, backup: {keep: {daily: 3}}", "bandwidth: {egress: 1mbit}", `backup: {repository: /r}`))
	for _, tt := range []struct{ d, g, n, want string }{
		{"bandwidth: {interface: eth1}", "", "", "t.yaml:4:25: defaults.settings.bandwidth: set egress, ingress or both"},
		{"", "backup: {keep: {daily: 3}}", "", "t.yaml:9:24: groups.g.settings.backup: repository is required"},
		{"", "backup: {repository: /r}", "backup: {keep: {daily: 0, weekly: 0, monthly: 0}}", "t.yaml:13:35: groups.g.nodes[0].settings.backup.keep: would keep no snapshot at all"},
	} {
		if got := loadErrors(t, settingsSrc(tt.d, tt.g, tt.n)); !strings.Contains(got, tt.want) {
			t.Errorf("errors lack\n%s\ngot:\n%s", tt.want, got)
		}
	}
}

func TestGreenlightIsTrueFalseOrAMapping(t *testing.T) {
	inv := mustLoad(t, settingsSrc("greenlight: true", "", "greenlight: false"))
	if w := inv.Nodes()[0].Settings.Written(); w["greenlight"] != false {
		t.Errorf("templates see greenlight: %v, as written: false", w["greenlight"])
	}
	inv = mustLoad(t, settingsSrc("greenlight: true", "", ""))
	if w := inv.Nodes()[0].Settings.Written(); w["greenlight"] != true {
		t.Errorf("templates see greenlight: %v, as written: true", w["greenlight"])
	}
	for _, tt := range []struct{ d, n, want string }{
		{"greenlight: true", "", "bigbluebutton/greenlight:v3"},
		{"greenlight: true", "greenlight: {image: example/gl:v3}", "example/gl:v3"},
		{"greenlight: {image: example/gl:v3}", "greenlight: false", ""},
		{"", "", ""},
	} {
		inv := mustLoad(t, settingsSrc(tt.d, "", tt.n))
		gl := inv.Nodes()[0].Settings.Greenlight
		if got := ""; gl != nil {
			got = gl.Image
			if got != tt.want || tt.want == "" {
				t.Errorf("%s < %s: image %q, want %q", tt.d, tt.n, got, tt.want)
			}
		} else if tt.want != "" {
			t.Errorf("%s < %s: no greenlight", tt.d, tt.n)
		}
	}
}

// Schema and omc help settings describe every setting, from the same
// tags: type, default and doc.
func TestSchemaAndHelpCoverEverySetting(t *testing.T) {
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	defs := s["$defs"].(map[string]any)
	help := SettingsHelp()
	keys := settingKeys()
	if len(keys) < 60 {
		t.Fatalf("only %d settings walked", len(keys))
	}
	for _, k := range keys {
		if k.f.desc == "" {
			t.Errorf("%s has no desc tag", k.key)
		}
		def, ok := defs[k.owner.Name()].(map[string]any)
		if !ok {
			t.Fatalf("no $defs entry for %s", k.owner.Name())
		}
		p, ok := def["properties"].(map[string]any)[k.f.name].(map[string]any)
		if !ok {
			t.Errorf("%s missing from the schema", k.key)
			continue
		}
		if p["description"] != k.f.desc {
			t.Errorf("%s: schema description %v", k.key, p["description"])
		}
		if k.f.def != "" && p["default"] == nil {
			t.Errorf("%s: schema has no default", k.key)
		}
		if p["type"] == nil && p["$ref"] == nil && p["oneOf"] == nil {
			t.Errorf("%s: schema has no type: %v", k.key, p)
		}
		line := strings.Repeat("  ", strings.Count(k.key, ".")) + k.f.name + ": "
		if !strings.Contains(help, "\n"+line) || !strings.Contains(help, k.f.desc) {
			t.Errorf("help lacks %s (%q)", k.key, line)
		}
		if k.f.def != "" && !strings.Contains(help, "(default "+k.f.def+")") {
			t.Errorf("help lacks the default of %s", k.key)
		}
	}
	// The schema refuses unknown settings, as the decoder does.
	for _, name := range []string{"Settings", "BBBTuning", "BackupSettings"} {
		if defs[name].(map[string]any)["additionalProperties"] != false {
			t.Errorf("%s: additional properties allowed", name)
		}
	}
	settings := defs["Defaults"].(map[string]any)["properties"].(map[string]any)["settings"].(map[string]any)
	if settings["$ref"] != "#/$defs/Settings" {
		t.Errorf("defaults.settings: %v", settings)
	}
}

// settingKeys is the list the reference walks: every field of every
// settings struct, so a field added without a desc tag fails above.
func TestSettingKeysWalkEveryField(t *testing.T) {
	n := 0
	for t2 := range settingTypes {
		n += len(fieldsOf(t2))
	}
	seen := map[reflect.Type]map[string]bool{}
	for _, k := range settingKeys() {
		if seen[k.owner] == nil {
			seen[k.owner] = map[string]bool{}
		}
		seen[k.owner][k.f.name] = true
	}
	m := 0
	for _, fs := range seen {
		m += len(fs)
	}
	if m != n {
		t.Errorf("settingKeys covers %d of %d fields", m, n)
	}
}
