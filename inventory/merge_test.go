package inventory

import (
	"reflect"
	"strings"
	"testing"
)

const mergeSrc = `apiVersion: omc/v1
name: coop
defaults:
  ssh: {user: root, key: keys/id, bastion: jump.example.org}
  settings:
    timezone: UTC
    acme_directory: https://acme.example.org/dir
    bbb: {max_participants: 100, welcome: hi, disabled_features: [chat, polls]}
    vars: {tz: x, deep: {a: 1, b: [1, 2]}}
  steps:
    - {name: d, packages: [curl]}
groups:
  g:
    provider: local
    count: 2
    name: g-{n}
    roles: [bbb]
    domain: "{name}.example.org"
    ssh: {user: admin, port: 2222}
    settings:
      bbb: {max_participants: 50, disabled_features: [chat]}
      unattended_upgrades: false
      backup: {repository: "/srv/restic/{node}"}
      vars: {deep: {b: [3]}}
    steps:
      - {name: g, packages: [htop]}
    nodes:
      - name: special
        roles: [turn, scalelite]
        domain: turn.example.org
        ssh: {sudo: false, bastion: other.example.org}
        settings:
          timezone: Europe/Berlin
          acme_directory: null
          bbb: {welcome: hello}
          backup: null
        steps:
          - {name: n, packages: [vim]}
  plain:
    provider: static
    nodes:
      - {name: p, address: 192.0.2.1}
`

func TestMerge(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	inv, err := LoadReader("/srv/fleet/omc.yaml", strings.NewReader(mergeSrc))
	if err != nil {
		t.Fatal(err)
	}
	nodes := inv.Nodes()
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	if want := []string{"g-1", "g-2", "special", "p"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("nodes %v, want counted then named, per group: %v", names, want)
	}
	g1, special, p := nodes[0], nodes[2], nodes[3]

	t.Run("ssh field by field", func(t *testing.T) {
		sudo := func(b bool) *bool { return &b }
		for _, tt := range []struct {
			n    *Node
			want SSH
		}{
			{g1, SSH{User: "admin", Port: 2222, Key: "/srv/fleet/keys/id", Bastion: "jump.example.org", Sudo: sudo(true), DefaultSudo: true}},
			{special, SSH{User: "admin", Port: 2222, Key: "/srv/fleet/keys/id", Bastion: "other.example.org", Sudo: sudo(false)}},
			{p, SSH{User: "root", Port: 22, Key: "/srv/fleet/keys/id", Bastion: "jump.example.org", Sudo: sudo(false), DefaultPort: true, DefaultSudo: true}},
		} {
			if !reflect.DeepEqual(tt.n.SSH, tt.want) {
				t.Errorf("%s: ssh %+v (sudo %v), want %+v", tt.n.Name, tt.n.SSH, *tt.n.SSH.Sudo, tt.want)
			}
		}
	})
	t.Run("settings merged, defaults filled", func(t *testing.T) {
		gs, ss, ps := g1.Settings, special.Settings, p.Settings
		if gs.Timezone != "UTC" || ss.Timezone != "Europe/Berlin" || ps.Timezone != "UTC" {
			t.Errorf("timezone: %q %q %q", gs.Timezone, ss.Timezone, ps.Timezone)
		}
		// Nested settings merge key by key; lists are replaced.
		if *gs.BBB.MaxParticipants != 50 || *gs.BBB.Welcome != "hi" || !reflect.DeepEqual(gs.BBB.DisabledFeatures, []string{"chat"}) ||
			*ss.BBB.MaxParticipants != 50 || *ss.BBB.Welcome != "hello" {
			t.Errorf("bbb: g-1 %+v, special %+v", *gs.BBB, *ss.BBB)
		}
		// false overrides a default of true; a level that does not set a
		// key leaves it to its default.
		if gs.Unattended || ss.Unattended || !ps.Unattended || !gs.Firewall || ps.JournalMaxUse != "1G" {
			t.Errorf("unattended %v %v %v, firewall %v, journal %q", gs.Unattended, ss.Unattended, ps.Unattended, gs.Firewall, ps.JournalMaxUse)
		}
		// null goes back to the default, for a value and for a mapping.
		if gs.ACMEDirectory != "https://acme.example.org/dir" || ss.ACMEDirectory != "https://acme-v02.api.letsencrypt.org/directory" {
			t.Errorf("acme_directory %q %q", gs.ACMEDirectory, ss.ACMEDirectory)
		}
		if gs.Backup == nil || gs.Backup.Repository != "/srv/restic/{node}" || gs.Backup.Keep != (BackupKeep{7, 4, 6}) || gs.Backup.PasswordSecret != "restic_password" || ss.Backup != nil {
			t.Errorf("backup: g-1 %+v, special %+v", gs.Backup, ss.Backup)
		}
		want := map[string]any{"tz": "x", "deep": map[string]any{"a": 1, "b": []any{3}}}
		if !reflect.DeepEqual(gs.Vars, want) || !reflect.DeepEqual(ss.Vars, want) {
			t.Errorf("vars %v %v, want %v", gs.Vars, ss.Vars, want)
		}
		// Nodes do not share settings: changing one leaves the others.
		gs.Vars["deep"].(map[string]any)["a"] = 9
		gs.BBB.DisabledFeatures[0] = "x"
		*gs.BBB.MaxParticipants = 1
		if nodes[1].Settings.Vars["deep"].(map[string]any)["a"] != 1 || inv.Defaults.Settings.Vars["deep"].(map[string]any)["a"] != 1 ||
			nodes[1].Settings.BBB.DisabledFeatures[0] != "chat" || *nodes[1].Settings.BBB.MaxParticipants != 50 || *inv.Groups[0].Settings.BBB.MaxParticipants != 50 {
			t.Error("settings are shared between nodes")
		}
	})
	t.Run("templates see the settings as written", func(t *testing.T) {
		want := map[string]any{"timezone": "Europe/Berlin", "acme_directory": nil, "unattended_upgrades": false, "backup": nil,
			"bbb":  map[string]any{"max_participants": 50, "welcome": "hello", "disabled_features": []any{"chat"}},
			"vars": map[string]any{"tz": "x", "deep": map[string]any{"a": 1, "b": []any{3}}}}
		if got := special.Settings.Written(); !reflect.DeepEqual(got, want) {
			t.Errorf("written:\n got %v\nwant %v", got, want)
		}
		if w := p.Settings.Written(); !reflect.DeepEqual(w, map[string]any{"timezone": "UTC", "acme_directory": "https://acme.example.org/dir",
			"bbb":  map[string]any{"max_participants": 100, "welcome": "hi", "disabled_features": []any{"chat", "polls"}},
			"vars": map[string]any{"tz": "x", "deep": map[string]any{"a": 1, "b": []any{1, 2}}}}) {
			t.Errorf("p written: %v", w)
		}
	})
	t.Run("steps concatenated", func(t *testing.T) {
		var got []string
		for _, s := range special.Steps {
			got = append(got, s.Name)
		}
		if want := []string{"d", "g", "n"}; !reflect.DeepEqual(got, want) {
			t.Errorf("steps %v, want %v", got, want)
		}
		if len(g1.Steps) != 2 || len(p.Steps) != 1 {
			t.Errorf("g-1 has %d steps, p %d", len(g1.Steps), len(p.Steps))
		}
	})
	t.Run("roles, domain, position", func(t *testing.T) {
		if !reflect.DeepEqual(g1.Roles, []string{"bbb"}) || !reflect.DeepEqual(special.Roles, []string{"turn", "scalelite"}) || p.Roles != nil {
			t.Errorf("roles %v %v %v", g1.Roles, special.Roles, p.Roles)
		}
		if g1.Domain != "g-1.example.org" || special.Domain != "turn.example.org" || p.Domain != "" {
			t.Errorf("domains %q %q %q", g1.Domain, special.Domain, p.Domain)
		}
		if g1.Pos != (Pos{13, 3}) || special.Pos != (Pos{28, 9}) {
			t.Errorf("positions %v %v", g1.Pos, special.Pos)
		}
		if g1.Group != "g" || g1.Provider != "local" || p.Address != "192.0.2.1" {
			t.Errorf("g-1 %+v, p %+v", g1, p)
		}
	})
}

// TestNodesWithoutLoad: an Inventory built in code (as other packages'
// tests do) merges on first use.
func TestNodesWithoutLoad(t *testing.T) {
	inv := &Inventory{Groups: []*Group{{Name: "g", Provider: "local", Count: 2, NamePattern: "n{n}", SSH: SSH{User: "deploy"}}}}
	nodes := inv.Nodes()
	if len(nodes) != 2 || nodes[1].Name != "n2" || nodes[0].SSH.Port != 22 || !*nodes[0].SSH.Sudo {
		t.Errorf("nodes %+v", nodes)
	}
}

func TestSelect(t *testing.T) {
	inv := mustLoad(t, minimal+`  eu-1: {provider: local, count: 3, name: "bbb-{n}", nodes: [{name: turn-1}]}
  eu-2: {provider: local, count: 2, name: "edu-{n}"}
  school: {provider: static, nodes: [{name: school, address: 192.0.2.1}]}
`)
	tests := []struct {
		name           string
		targets, limit []string
		want           string // node names, or the error
	}{
		{"all", nil, nil, "bbb-1 bbb-2 bbb-3 turn-1 edu-1 edu-2 school"},
		{"a group", []string{"eu-2"}, nil, "edu-1 edu-2"},
		{"groups and nodes, in inventory order, once", []string{"school", "bbb-2", "eu-1"}, nil, "bbb-1 bbb-2 bbb-3 turn-1 school"},
		{"limit narrows", []string{"eu-1"}, []string{"bbb-[12]"}, "bbb-1 bbb-2"},
		{"several limits", nil, []string{"turn-*", "edu-2"}, "turn-1 edu-2"},
		{"unknown target", []string{"eu-1", "eu-3", "bbb-9"}, nil, `error: no group or node named "eu-3", "bbb-9" (groups: eu-1, eu-2, school)`},
		{"limit matching nothing", []string{"eu-2"}, []string{"bbb-*"}, `error: limit "bbb-*" matches none of the selected nodes`},
		{"bad pattern", nil, []string{"[a"}, `error: limit "[a": syntax error in pattern`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes, err := inv.Select(tt.targets, tt.limit)
			got := ""
			if err != nil {
				got = "error: " + err.Error()
			} else {
				var names []string
				for _, n := range nodes {
					names = append(names, n.Name)
				}
				got = strings.Join(names, " ")
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
