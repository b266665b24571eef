package provision

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/inventory"
)

const renderInv = `apiVersion: omc/v1
name: t
secrets:
  api: env:OMC_TEST_RENDER_SECRET
defaults:
  settings:
    vars:
      list: [a, b, c, d, e, f, g, h, i, j]
      big: 1000000000
groups:
  g:
    provider: static
    nodes:
      - name: n1
        address: 192.0.2.10
`

// render renders text for renderInv's node.
func render(t *testing.T, text string) ([]byte, error) {
	t.Helper()
	t.Setenv("OMC_TEST_RENDER_SECRET", "s3cr3t<&>value")
	inv := loadInv(t, renderInv)
	return Render(inv, inv.Nodes()[0], "content", text)
}

// limits sets the render limits for one test.
func limits(t *testing.T, bytes, steps int, timeout time.Duration) {
	oldB, oldS, oldT := MaxRenderBytes, MaxRenderSteps, RenderTimeout
	MaxRenderBytes, MaxRenderSteps, RenderTimeout = bytes, steps, timeout
	t.Cleanup(func() { MaxRenderBytes, MaxRenderSteps, RenderTimeout = oldB, oldS, oldT })
}

// wantTemplateError checks err's place (col 0: any column) and message.
func wantTemplateError(t *testing.T, err error, line, col int, msg string) {
	t.Helper()
	var te *TemplateError
	if !errors.As(err, &te) {
		t.Fatalf("want a TemplateError, got %v", err)
	}
	if te.Line != line || (col != 0 && te.Col != col) || !strings.Contains(te.Msg, msg) {
		t.Fatalf("got %d:%d %q, want %d:%d and %q", te.Line, te.Col, te.Msg, line, col, msg)
	}
}

func TestRenderKeepsOutputOfLoopsAndTemplates(t *testing.T) {
	out, err := render(t, `{{ define "item" }}<{{ . }}>{{ end }}{{ range $i, $v := .Settings.vars.list }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ template "item" $v }}{{ end }}|{{ range 3 }}{{ . }}{{ end }}|{{ range .Node.Roles }}x{{ else }}none{{ end }}|{{ printf "%03d" 7 }} {{ html "<a>" }} {{ secret "api" | urlquery }}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `<a><b><c>|012|none|007 &lt;a&gt; s3cr3t%3C%26%3Evalue`; string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

// The loop of issue 21 grew memory until the process died; the budget
// stops it at the inner range, whose pipeline is at column 41.
func TestRenderStopsARangeOverAHugeNumber(t *testing.T) {
	limits(t, MaxRenderBytes, 10_000, RenderTimeout)
	_, err := render(t, `{{ range 100000000 }}{{ range 10000000 }}xxxx{{ end }}{{ end }}`)
	wantTemplateError(t, err, 1, 31, "more than 10000 loop iterations")
	// A range over a number from the settings, writing nothing.
	_, err = render(t, "\n{{ range .Settings.vars.big }}{{ end }}")
	wantTemplateError(t, err, 2, 10, "loop iterations")
}

func TestRenderStopsNestedRangesOverASettingsList(t *testing.T) {
	limits(t, MaxRenderBytes, 10_000, RenderTimeout)
	_, err := render(t, `{{ range .Settings.vars.list }}{{ range $.Settings.vars.list }}{{ range $.Settings.vars.list }}{{ range $.Settings.vars.list }}{{ range $.Settings.vars.list }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}`)
	wantTemplateError(t, err, 1, 0, "loop iterations")
}

// Templates that call each other twice over, writing nothing, are not
// recursive but take 2^30 calls: every call spends the budget.
func TestRenderStopsTemplateCallsThatFanOut(t *testing.T) {
	limits(t, MaxRenderBytes, 10_000, RenderTimeout)
	var b strings.Builder
	b.WriteString(`{{ define "t0" }}{{ end }}`)
	for i := 1; i <= 30; i++ {
		b.WriteString(`{{ define "t` + strconv.Itoa(i) + `" }}{{ template "t` + strconv.Itoa(i-1) + `" }}{{ template "t` + strconv.Itoa(i-1) + `" }}{{ end }}`)
	}
	b.WriteString(`{{ template "t30" }}`)
	_, err := render(t, b.String())
	wantTemplateError(t, err, 1, 0, "template calls")
}

func TestRenderRefusesRecursiveTemplates(t *testing.T) {
	_, err := render(t, "{{ define \"a\" }}{{ template \"b\" . }}{{ end }}\n{{ define \"b\" }}x{{ template \"a\" . }}{{ end }}{{ template \"a\" . }}")
	wantTemplateError(t, err, 2, 0, `calls itself ("a" → "b" → "a")`)
	_, err = render(t, `{{ define "self" }}{{ template "self" }}{{ end }}`)
	wantTemplateError(t, err, 1, 0, `template "self" calls itself`)
}

func TestRenderCapsOutput(t *testing.T) {
	limits(t, 100_000, MaxRenderSteps, RenderTimeout)
	_, err := render(t, "{{ range 10 }}\n{{ range 1000 }}{{ printf \"%050d\" 0 }}{{ end }}{{ end }}")
	wantTemplateError(t, err, 2, 0, "the rendered file is larger than")
}

// A string that doubles on each turn of a loop never reaches the
// output: the functions that make strings refuse before making one too
// large (without it the 34th turn asks for 16 GiB).
func TestRenderCapsStringsTheTemplateMakes(t *testing.T) {
	for _, f := range []string{`printf "%s%s" $x $x`, `print $x $x`, `printf "%[1]s%[1]s" $x`, `html $x $x $x`, `js $x`, `printf "%0999999d%0999999d" 1 2`} {
		limits(t, 1<<20, MaxRenderSteps, RenderTimeout)
		_, err := render(t, `{{ $x := "<x>" }}{{ range 64 }}{{ $x = `+f+` }}{{ end }}{{ len $x }}`)
		var te *TemplateError
		if !errors.As(err, &te) || !strings.Contains(te.Msg, "larger than 1 MiB") {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// A loop that writes stops once the time is up (here: before it starts).
func TestRenderStopsAtItsDeadline(t *testing.T) {
	limits(t, MaxRenderBytes, MaxRenderSteps, -time.Second)
	_, err := render(t, `{{ range 10 }}x{{ end }}`)
	wantTemplateError(t, err, 1, 0, "rendering took longer than -1s")
}

func TestRenderErrorsMaskSecrets(t *testing.T) {
	_, err := render(t, `{{ range secret "api" }}{{ end }}`)
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "***") {
		t.Fatalf("%v", err)
	}
}

// Errors name the inventory line and column of the template text they
// are about (the field, here), or the template file's.
func TestStepsPlaceTemplateErrorsInTheText(t *testing.T) {
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "motd.tmpl"), []byte("hello\n  {{ .Node.Nope }}\n"), 0o644)
	path := filepath.Join(d, "omc.yaml")
	os.WriteFile(path, []byte(`apiVersion: omc/v1
name: t
groups:
  g:
    provider: static
    nodes:
      - name: n1
        address: 192.0.2.10
        steps:
          - file:
              path: /etc/a
              content: |
                line one
                  {{ .Node.NoSuchField }}
          - file: {path: /etc/b, content: "x {{ .Settings.missing }}"}
          - file: {path: /etc/c, template: motd.tmpl}
`), 0o644)
	inv, err := inventory.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Steps(inv, inv.Nodes()[0])
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		inv.Path + ":14:27: node n1: file /etc/a: content: at <.Node.NoSuchField>: can't evaluate field NoSuchField",
		inv.Path + ":15:58: node n1: file /etc/b: content: at <.Settings.missing>: map has no entry for key \"missing\"",
		filepath.Join(d, "motd.tmpl") + ":2:11: node n1: file /etc/c: template of the step at " + inv.Path + ":16:13: at <.Node.Nope>",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%s", want, err)
		}
	}
}

func TestStepsCapANodesRenderedFiles(t *testing.T) {
	old := MaxNodeRenderBytes
	MaxNodeRenderBytes = 10
	t.Cleanup(func() { MaxNodeRenderBytes = old })
	inv := loadInv(t, `apiVersion: omc/v1
name: t
groups:
  g:
    provider: static
    nodes:
      - name: n1
        address: 192.0.2.10
        steps:
          - file: {path: /etc/a, content: "123456"}
          - file: {path: /etc/b, content: "123456"}
`)
	_, err := Steps(inv, inv.Nodes()[0])
	if err == nil || !strings.Contains(err.Error(), "omc.yaml:11:13: node n1: the node's files add up to more than") {
		t.Fatalf("%v", err)
	}
}
