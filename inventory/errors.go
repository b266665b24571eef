package inventory

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in an inventory file. Its text is
// FILE:LINE:COL: message, the form editors and CI annotate.
type Error struct {
	File string
	Pos  Pos
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
}

// Errors is every problem found in one file, sorted by position, so that a
// single run shows the user all there is to fix.
type Errors struct {
	List []*Error
}

func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, x := range e.List {
		lines[i] = x.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find a single *Error.
func (e *Errors) Unwrap() []error {
	errs := make([]error, len(e.List))
	for i, x := range e.List {
		errs[i] = x
	}
	return errs
}

// maxErrors stops a hostile or badly broken file from producing an
// unbounded report; like a compiler, omc says so and stops.
const maxErrors = 100

var oneLine = strings.NewReplacer("\n", `\n`, "\r", `\r`)

// errList collects errors while parsing and validating one file.
type errList struct {
	file string
	list []*Error
	full bool
}

func (l *errList) add(p Pos, path, format string, args ...any) {
	if l.full {
		return
	}
	if len(l.list) == maxErrors {
		l.list = append(l.list, &Error{File: l.file, Pos: p, Msg: "too many errors; stopping"})
		l.full = true
		return
	}
	msg := fmt.Sprintf(format, args...)
	if r := []rune(path); len(r) > 100 { // deep nesting: keep both ends
		path = string(r[:60]) + "…" + string(r[len(r)-30:])
	}
	if path != "" {
		msg = path + ": " + msg
	}
	// One error, one line, whatever the file's keys and paths contain.
	msg = oneLine.Replace(msg)
	if p.Line < 1 {
		p = Pos{1, 1}
	}
	if p.Col < 1 {
		p.Col = 1
	}
	l.list = append(l.list, &Error{File: l.file, Pos: p, Msg: msg})
}

// err returns the collected errors sorted by position and without the
// repeats that aliases produce, or nil.
func (l *errList) err() error {
	if len(l.list) == 0 {
		return nil
	}
	sort.SliceStable(l.list, func(i, j int) bool {
		a, b := l.list[i], l.list[j]
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		return a.Pos.Col < b.Pos.Col
	})
	var out []*Error
	for _, e := range l.list {
		if len(out) > 0 && *e == *out[len(out)-1] {
			continue
		}
		out = append(out, e)
	}
	return &Errors{List: out}
}
