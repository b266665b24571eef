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
    tz: UTC
    bbb: {max: 100, welcome: hi, extra: [1, 2]}
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
      bbb: {max: 50, extra: [3]}
    steps:
      - {name: g, packages: [htop]}
    nodes:
      - name: special
        roles: [turn, scalelite]
        domain: turn.example.org
        ssh: {sudo: false, bastion: other.example.org}
        settings:
          tz: Europe/Berlin
          bbb: {welcome: hello}
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
	t.Run("settings deep merged", func(t *testing.T) {
		want := map[string]any{"tz": "UTC", "bbb": map[string]any{"max": 50, "welcome": "hi", "extra": []any{3}}}
		if !reflect.DeepEqual(g1.Settings, want) {
			t.Errorf("g-1 settings %v, want %v", g1.Settings, want)
		}
		want = map[string]any{"tz": "Europe/Berlin", "bbb": map[string]any{"max": 50, "welcome": "hello", "extra": []any{3}}}
		if !reflect.DeepEqual(special.Settings, want) {
			t.Errorf("special settings %v, want %v", special.Settings, want)
		}
		// Nodes do not share settings: changing one leaves the others.
		g1.Settings["bbb"].(map[string]any)["max"] = 1
		if nodes[1].Settings["bbb"].(map[string]any)["max"] != 50 || inv.Defaults.Settings["bbb"].(map[string]any)["max"] != 100 {
			t.Error("settings are shared between nodes")
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
		if g1.Pos != (Pos{11, 3}) || special.Pos != (Pos{23, 9}) {
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
