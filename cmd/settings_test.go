package cmd

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// omc validate refuses a misspelt setting at whichever level it is
// written, at its line, with the key it was meant to be; nothing else
// about the file is wrong.
func TestValidateRefusesMisspeltSettings(t *testing.T) {
	d := isolate(t)
	path := filepath.Join(d, "omc.yaml")
	writeFile(t, path, `apiVersion: omc/v1
name: coop
defaults:
  settings:
    bandwith: {egress: 500mbit}
groups:
  g:
    provider: static
    settings:
      acme_emial: ops@example.org
    nodes:
      - name: a
        address: 192.0.2.1
        settings:
          monitoring: {listen: 192.0.2.1, sorces: [192.0.2.0/24]}
          timezone: "Europe Berlin"
`)
	_, errs, code := run(t, "", "validate", "-i", path)
	if code != ExitInventory {
		t.Fatalf("exit %d, want %d:\n%s", code, ExitInventory, errs)
	}
	for _, want := range []string{
		path + ":5:5: defaults.settings.bandwith: unknown setting; did you mean bandwidth?",
		path + ":10:7: groups.g.settings.acme_emial: unknown setting; did you mean acme_email?",
		path + ":15:43: groups.g.nodes[0].settings.monitoring.sorces: unknown setting; did you mean sources?",
		path + `:16:21: groups.g.nodes[0].settings.timezone: "Europe Berlin" is not a time zone name`,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks\n%s\ngot:\n%s", want, errs)
		}
	}
}

// omc schema describes the settings an editor completes: each key with
// its doc, default and type.
func TestSchemaDescribesSettings(t *testing.T) {
	isolate(t)
	out, errs, code := run(t, "", "schema")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var s struct {
		Defs map[string]struct {
			Properties           map[string]map[string]any `json:"properties"`
			AdditionalProperties any                       `json:"additionalProperties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	set := s.Defs["Settings"]
	tz := set.Properties["timezone"]
	if tz["default"] != "UTC" || tz["type"] != "string" || !strings.Contains(tz["description"].(string), "Time zone") || set.AdditionalProperties != false {
		t.Errorf("settings.timezone: %v (additionalProperties %v)", tz, set.AdditionalProperties)
	}
	if eg := s.Defs["Bandwidth"].Properties["egress"]; eg["pattern"] == nil {
		t.Errorf("bandwidth.egress: %v", eg)
	}
}
