package inventory

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/omc-coop/omc/internal/golden"
)

const examplePath = "../examples/omc.yaml"

func loadExample(t *testing.T) *Inventory {
	t.Helper()
	t.Setenv("OMC_BBB_SEED", "example-seed-value")
	t.Setenv("HOME", "/home/test")
	inv, err := Load(examplePath)
	if err != nil {
		t.Fatalf("the documented example must load:\n%v", err)
	}
	return inv
}

func TestExample(t *testing.T) {
	inv := loadExample(t)
	nodes := inv.Nodes()
	byName := map[string]*Node{}
	var names []string
	for _, n := range nodes {
		byName[n.Name] = n
		names = append(names, n.Name)
	}
	want := []string{"bbb-eu-1-1", "bbb-eu-1-2", "bbb-eu-1-3", "turn-eu-1", "scalelite-eu-1", "school-bbb", "dev-1", "dev-2", "dev-3"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("nodes %v, want %v", names, want)
	}
	if n := byName["bbb-eu-1-2"]; n.Domain != "bbb-eu-1-2.bbb.example.org" || n.Provider != "hcloud" || n.SSH.Key != "" || n.SSH.User != "root" {
		t.Errorf("bbb-eu-1-2: %+v", n)
	}
	if n := byName["turn-eu-1"]; !reflect.DeepEqual(n.Roles, []string{"turn"}) || n.Domain != "turn-eu-1.bbb.example.org" {
		t.Errorf("turn-eu-1: roles %v domain %q", n.Roles, n.Domain)
	}
	if n := byName["school-bbb"]; n.SSH.User != "admin" || !*n.SSH.Sudo || n.Address != "203.0.113.10" || n.Domain != "bbb.school.example" {
		t.Errorf("school-bbb: %+v", n)
	}
	dev := byName["dev-2"]
	if dev.Settings.Timezone != "UTC" || byName["bbb-eu-1-1"].Settings.Timezone != "Europe/Berlin" {
		t.Errorf("timezone: dev %v, eu %v", dev.Settings.Timezone, byName["bbb-eu-1-1"].Settings.Timezone)
	}
	kinds := map[string]bool{}
	for _, s := range dev.Steps {
		sv := reflect.ValueOf(s).Elem()
		for _, f := range fieldsOf(sv.Type()) {
			if f.kind && !sv.Field(f.index).IsNil() {
				kinds[f.name] = true
			}
		}
	}
	for _, k := range []string{"file", "packages", "line", "service", "sysctl", "user", "command"} {
		if !kinds[k] {
			t.Errorf("the example shows no %s step", k)
		}
	}
	if v, ok := inv.Secret("bbb_seed"); !ok || v != "example-seed-value" {
		t.Errorf("bbb_seed = %q, %v", v, ok)
	}
}

// A missing secret does not stop a load (the dev group needs none), but
// MissingSecrets and SecretError name it, with its position.
func TestExampleMissingSecretIsReportedNotFatal(t *testing.T) {
	t.Setenv("OMC_BBB_SEED", "")
	inv, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := inv.Secret("bbb_seed"); ok {
		t.Fatal("an empty secret is available")
	}
	want := "secrets.bbb_seed: environment variable OMC_BBB_SEED is empty"
	// The position of the value, wherever the example keeps it.
	text, _ := os.ReadFile(examplePath)
	pos := ""
	for i, l := range strings.Split(string(text), "\n") {
		if c := strings.Index(l, "bbb_seed: env:OMC_BBB_SEED"); c >= 0 {
			pos = fmt.Sprintf("%s:%d:%d: ", examplePath, i+1, c+len("bbb_seed: ")+1)
		}
	}
	if err := inv.MissingSecrets(); pos == "" || err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), pos) {
		t.Errorf("MissingSecrets = %v", err)
	}
	if err := inv.SecretError("bbb_seed"); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("SecretError = %v", err)
	}
	if err := inv.SecretError("nope"); err == nil || !strings.Contains(err.Error(), `no secret named "nope"`) {
		t.Errorf("SecretError = %v", err)
	}
}

func TestShow(t *testing.T) {
	inv := loadExample(t)
	var out bytes.Buffer
	if err := Show(&out, inv, inv.Nodes()); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.Contains(got, "example-seed-value") {
		t.Fatal("Show printed a secret value")
	}
	if !strings.Contains(got, "bbb_seed: env:OMC_BBB_SEED (set)") {
		t.Error("Show does not list the secret by reference")
	}
	var back struct {
		Inventory string
		Nodes     map[string]struct {
			Group    string
			Domain   string
			SSH      map[string]any
			Settings map[string]any
			Steps    []map[string]any
		}
	}
	if err := yaml.Unmarshal(out.Bytes(), &back); err != nil {
		t.Fatalf("Show output is not YAML: %v", err)
	}
	if back.Inventory != "coop" || len(back.Nodes) != 9 || back.Nodes["dev-1"].SSH["user"] != "root" || len(back.Nodes["dev-3"].Steps) != 7 {
		t.Errorf("round trip: %+v", back)
	}
	golden.AssertString(t, "show.golden", got)
}
