package inventory

import (
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// textAt is where an inline template (a file step's content) sits in the
// inventory, kept so that an error found while rendering it, long after
// loading, can still point into the file.
type textAt struct {
	pos Pos // the scalar's first character (its quote, or | and >)
	// block: a | or > scalar, whose text starts on the next line at
	// column indent, each line of it on a line of its own.
	block  bool
	indent int
	quoted bool
}

// noteContent records where f's inline content is, for TemplatePos.
func (v *validator) noteContent(f *FileStep, n *yaml.Node) {
	if n == nil {
		return
	}
	at := textAt{pos: posOf(n), quoted: n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0}
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		at.block = true
		// The text's indentation is that of its first non-blank line.
		at.indent = 1
		for l := n.Line + 1; l <= n.Line+1+strings.Count(*f.Content, "\n"); l++ {
			if c, blank := v.columnOf(l); !blank {
				at.indent = c
				break
			}
		}
	}
	if v.inv.texts == nil {
		v.inv.texts = map[*FileStep]textAt{}
	}
	v.inv.texts[f] = at
}

// columnOf is the first non-blank column of line (1-based), and whether
// the line is blank. The first call indexes the lines of the file.
func (v *validator) columnOf(line int) (int, bool) {
	if v.lines == nil {
		v.lines = []int{0}
		for i, c := range v.src {
			if c == '\n' {
				v.lines = append(v.lines, i+1)
			}
		}
	}
	if line < 1 || line > len(v.lines) {
		return 1, true
	}
	col := 1
	for _, c := range v.src[v.lines[line-1]:] {
		switch c {
		case ' ', '\t':
			col++
			continue
		case '\n', '\r':
			return 1, true
		}
		return col, false
	}
	return 1, true
}

// TemplatePos is the file and position of line and col (1-based; col 0:
// unknown) of file step f's template text: in the inventory for inline
// content, in the template file otherwise. In a quoted or plain scalar
// the text's lines need not be the file's (escaped and folded line
// breaks): its second and later lines are placed at the scalar's start.
func (inv *Inventory) TemplatePos(f *FileStep, line, col int) (string, Pos) {
	if f.Content == nil {
		return filepath.Join(filepath.Dir(inv.Path), f.Template), Pos{max(line, 1), max(col, 1)}
	}
	at, ok := inv.texts[f]
	if !ok {
		return inv.Path, Pos{1, 1}
	}
	line = max(line, 1)
	switch {
	case at.block:
		return inv.Path, Pos{at.pos.Line + line, at.indent + max(col, 1) - 1}
	case line == 1:
		p := at.pos
		if col > 0 {
			p.Col += col - 1
			if at.quoted {
				p.Col++
			}
		}
		return inv.Path, p
	}
	return inv.Path, at.pos
}
