package inventory

import "testing"

// A position in an inline template maps to the inventory's line and
// column: block scalars from the line after their key (blank lines
// kept, indentation from the first line with text), quoted ones past
// their quote; a flow scalar's later lines at its start.
func TestTemplatePosMapsInlineTextToTheFile(t *testing.T) {
	inv := mustLoad(t, `apiVersion: omc/v1
name: t
groups:
  g:
    provider: static
    nodes:
      - name: n1
        address: 192.0.2.1
        steps:
          - file:
              path: /etc/a
              content: |

                top
                  deeper
          - file: {path: /etc/b, content: "{{ .X }}"}
          - file:
              path: /etc/c
              content: one
                two
          - file: {path: /etc/d, content: "a\n{{ .X }}"}
`)
	steps := inv.Nodes()[0].Steps
	for _, c := range []struct {
		step, line, col int
		want            Pos
	}{
		{0, 2, 3, Pos{14, 19}},
		{0, 3, 3, Pos{15, 19}},
		{0, 3, 0, Pos{15, 17}},
		{1, 1, 4, Pos{16, 47}},
		{2, 1, 1, Pos{19, 24}},
		{2, 2, 1, Pos{19, 24}}, // "one two": no line 2 in the file
		{3, 2, 5, Pos{21, 43}}, // "a\n{{ .X }}": neither
	} {
		file, got := inv.TemplatePos(steps[c.step].File, c.line, c.col)
		if file != inv.Path || got != c.want {
			t.Errorf("step %d %d:%d: got %s:%v, want %v", c.step, c.line, c.col, file, got, c.want)
		}
	}
}
