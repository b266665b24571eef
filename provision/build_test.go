package provision

import (
	"strings"
	"testing"

	"github.com/omc-coop/omc/inventory"
)

func loadInv(t *testing.T, text string) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.LoadReader("omc.yaml", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestStepsRenderTemplatesWithNodeSettingsAndSecrets(t *testing.T) {
	t.Setenv("OMC_TEST_SECRET", "s3cr3t-from-env")
	inv := loadInv(t, `apiVersion: omc/v1
name: t
defaults:
  settings: {vars: {greeting: hello}}
secrets:
  api: env:OMC_TEST_SECRET
groups:
  g:
    provider: static
    nodes:
      - name: n1
        address: 192.0.2.10
        steps:
          - file: {path: /etc/x, content: "{{ .Settings.vars.greeting }} {{ .Node.Name }} {{ secret \"api\" }}\n", mode: "0600"}
          - packages: [nginx]
          - command: {run: "true", creates: /x}
`)
	steps, err := Steps(inv, inv.Nodes()[0])
	if err != nil {
		t.Fatal(err)
	}
	f := steps[0].(*FileStep)
	if string(f.Content) != "hello n1 s3cr3t-from-env\n" || f.Mode != 0o600 || f.Owner != "root" {
		t.Fatalf("%+v %q", f, f.Content)
	}
	if len(steps) != 3 {
		t.Fatalf("%d steps", len(steps))
	}
}

// A line is a template as a file's content is: one group-level step
// names each node, and a line that renders to two is refused at the step.
func TestLineStepsAreTemplatesPerNode(t *testing.T) {
	inv := loadInv(t, `apiVersion: omc/v1
name: t
groups:
  g:
    provider: static
    steps:
      - line: {path: /etc/hosts, line: "127.0.1.1 {{ .Node.Name }}", match: '^127\.0\.1\.1\s'}
    nodes:
      - {name: n1, address: 192.0.2.10}
      - {name: n2, address: 192.0.2.11}
      - name: n3
        address: 192.0.2.12
        steps:
          - line: {path: /etc/motd, line: '{{ printf "%s\n%s" .Node.Name .Node.Name }}'}
`)
	for i, want := range []string{"127.0.1.1 n1", "127.0.1.1 n2"} {
		steps, err := Steps(inv, inv.Nodes()[i])
		if err != nil {
			t.Fatal(err)
		}
		if l := steps[0].(*LineStep); l.Line != want || l.Match == nil {
			t.Errorf("node %d: line %q (match %v), want %q", i, l.Line, l.Match, want)
		}
	}
	_, err := Steps(inv, inv.Nodes()[2])
	if err == nil || !strings.Contains(err.Error(), "omc.yaml:14:13: node n3: line: rendered to more than one line") {
		t.Fatalf("a line rendering to two lines: %v", err)
	}
}

func TestStepsErrorsNameFileLineAndNode(t *testing.T) {
	inv := loadInv(t, `apiVersion: omc/v1
name: t
groups:
  g:
    provider: static
    nodes:
      - name: n1
        address: 192.0.2.10
        steps:
          - file: {path: /etc/y, content: "{{ .Settings.missing }}"}
          - file: {path: /etc/x, content: "one"}
          - file: {path: /etc/x, content: "dup"}
`)
	_, err := Steps(inv, inv.Nodes()[0])
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"omc.yaml:10:", "node n1", "missing", "omc.yaml:12:", "file /etc/x is also declared at line 11"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not contain %q:\n%s", want, msg)
		}
	}
}
