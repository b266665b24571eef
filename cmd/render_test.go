package cmd

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/omc-coop/omc/provision"
)

// hostileTemplates has, per node, a template that would loop for good
// (issue 21: validate passed it, plan grew memory until killed), one
// that calls itself, fields and keys that are not there, and a secret
// named at run time that is not declared.
const hostileTemplates = `apiVersion: omc/v1
name: t
groups:
  g:
    provider: static
    nodes:
      - name: a
        address: 192.0.2.1
        steps:
          - file:
              path: /etc/loop
              content: "{{ range 100000000 }}{{ range 10000000 }}xxxx{{ end }}{{ end }}"
          - file:
              path: /etc/self
              content: |
                {{ define "r" }}{{ template "r" . }}{{ end }}
                {{ template "r" . }}
      - name: b
        address: 192.0.2.2
        steps:
          - file:
              path: /etc/fields
              content: |
                {{ .Node.Name }}
                {{ .Node.NoSuchField }}
          - file: {path: /etc/key, content: "{{ .Settings.nokey }}"}
          - file: {path: /etc/secret, content: "{{ secret .Node.Name }}"}
`

// validate renders every template with the node's own data, under the
// render limits, and reports every node's errors at once, each at the
// line and column of the template text; plan and up refuse the same,
// before contacting any host.
func TestValidateRendersTemplatesUnderLimits(t *testing.T) {
	d := isolate(t)
	old := provision.MaxRenderSteps
	provision.MaxRenderSteps = 10_000 // the default stops it too, in about a second
	t.Cleanup(func() { provision.MaxRenderSteps = old })
	path := filepath.Join(d, "omc.yaml")
	writeFile(t, path, hostileTemplates)
	for _, args := range [][]string{{"validate"}, {"plan"}, {"up"}} {
		_, errs, code := run(t, "", append(args, "-i", path)...)
		if code != ExitInventory {
			t.Fatalf("%s: code %d, stderr %q", args[0], code, errs)
		}
		for _, want := range []string{
			path + ":12:55: node a: file /etc/loop: content: more than 10000 loop iterations",
			path + ":16:45: node a: file /etc/self: content: template \"r\" calls itself",
			path + ":25:25: node b: file /etc/fields: content: at <.Node.NoSuchField>: can't evaluate field NoSuchField",
			path + ":26:58: node b: file /etc/key: content: at <.Settings.nokey>: map has no entry for key \"nokey\"",
			path + ":27:52: node b: file /etc/secret: content: at <secret .Node.Name>: error calling secret: no secret named \"b\"",
		} {
			if !strings.Contains(errs, want) {
				t.Errorf("%s: stderr does not contain %q:\n%s", args[0], want, errs)
			}
		}
		if strings.Contains(errs, "connecting") {
			t.Errorf("%s contacted a host:\n%s", args[0], errs)
		}
	}
}
