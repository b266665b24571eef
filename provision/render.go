package provision

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/inventory"
)

// An inventory template is code: a range over a big number, ranges nested
// over a settings list, or templates calling each other can ask for
// unbounded time and memory, and Go cannot stop a goroutine that loops.
// So rendering counts: every range iteration and every template call
// spends one of a budget and looks at the clock; the output, and every
// string print, printf, html, js or urlquery makes, is capped; a template
// that calls itself is refused before it runs. Everything else a template
// can do takes time in proportion to its own text.
var (
	// MaxRenderBytes caps one rendered file (and any string made on the way).
	MaxRenderBytes = 32 << 20
	// MaxNodeRenderBytes caps all of a node's rendered files together.
	MaxNodeRenderBytes = 128 << 20
	// MaxRenderSteps caps range iterations and template calls per file.
	MaxRenderSteps = 1_000_000
	// RenderTimeout caps the time one file takes to render.
	RenderTimeout = 10 * time.Second
)

// TemplateData is what file templates see: {{ .Node.Name }},
// {{ .Settings.timezone }} (the settings as the inventory writes them),
// {{ .Settings.vars.motd }} (the free-form values kept for templates),
// {{ .Node.Settings.Timezone }} (the typed settings, defaults filled in),
// and {{ secret "name" }} for a named secret.
type TemplateData struct {
	Node     *inventory.Node
	Settings map[string]any
}

// TemplateError is a template that did not render, at a position of its
// text (Line and Col 1-based; 0 when not known). Secret values are masked.
type TemplateError struct {
	Name      string
	Line, Col int
	Msg       string
}

func (e *TemplateError) Error() string {
	if e.Line == 0 {
		return "template " + e.Name + ": " + e.Msg
	}
	return fmt.Sprintf("template %s:%d:%d: %s", e.Name, e.Line, e.Col, e.Msg)
}

// Render executes template text for a node, under the limits above.
// Missing keys are errors, not "<no value>" silently written to a host.
// Errors are *TemplateError.
func Render(inv *inventory.Inventory, n *inventory.Node, name, text string) ([]byte, error) {
	if !strings.Contains(text, "{{") {
		return []byte(text), nil // plain text: nothing to run
	}
	r := &renderer{name: name, text: text, deadline: time.Now().Add(RenderTimeout)}
	out, err := r.render(inv, n)
	if err != nil {
		te := r.templateError(err)
		te.Msg = redact.New(r.secrets...).String(te.Msg)
		return nil, te
	}
	return out, nil
}

// tickFunc is the function rendering inserts at the top of every range
// body and template: {{omcRenderTick N}}, N the index of its range.
const tickFunc = "omcRenderTick"

type renderer struct {
	name, text string
	deadline   time.Time
	steps      int
	where      []parse.Pos // of each range and template body, by tick index
	last       int         // the tick index seen last: where a write failed
	secrets    []string    // values the template asked for, masked in errors
}

// limitError is a limit the template ran into, at byte pos of its text.
type limitError struct {
	pos parse.Pos
	msg string
}

func (e *limitError) Error() string { return e.msg }

func (r *renderer) render(inv *inventory.Inventory, n *inventory.Node) ([]byte, error) {
	funcs := template.FuncMap{
		"secret": func(s string) (string, error) {
			v, ok := inv.Secret(s)
			if !ok {
				return "", inv.SecretError(s)
			}
			r.secrets = append(r.secrets, v)
			return v, nil
		},
		tickFunc:   r.tick,
		"print":    r.capped(fmt.Sprint, 1),
		"println":  r.capped(fmt.Sprintln, 1),
		"html":     r.capped(template.HTMLEscaper, 6),
		"js":       r.capped(template.JSEscaper, 6),
		"urlquery": r.capped(template.URLQueryEscaper, 3),
		"printf":   r.printf,
	}
	p, err := parseOnce(r.name, r.text, funcs)
	if err != nil {
		return nil, err
	}
	// A clone shares the parsed trees and takes this render's functions.
	t, err := p.t.Clone()
	if err != nil {
		return nil, err
	}
	t.Funcs(funcs)
	r.where = p.where
	w := &limitWriter{r: r}
	w.buf.Grow(min(len(r.text), MaxRenderBytes))
	if err := t.Execute(w, TemplateData{Node: n, Settings: n.Settings.Written()}); err != nil {
		return nil, err
	}
	out := w.buf.Bytes()
	if cap(out)-len(out) > len(out)/8 {
		out = bytes.Clone(out) // a host's files stay in memory: no slack
	}
	return out, nil
}

// parsed is a template text parsed, checked for recursion and
// instrumented: done once per text, since a fleet's hundreds of nodes
// share a handful of texts and parsing cost more than running.
type parsed struct {
	t     *template.Template
	where []parse.Pos
}

// maxParsed bounds the texts kept parsed; past it a text is parsed on
// each render (a process renders one inventory's texts, far fewer).
const maxParsed = 1024

var parsedCache struct {
	sync.Mutex
	m map[[2]string]*parsed
}

// parseOnce returns text parsed as template name, from the cache when it
// was parsed before. funcs are only the names the parser checks; each
// render runs a clone with its own.
func parseOnce(name, text string, funcs template.FuncMap) (*parsed, error) {
	key := [2]string{name, text}
	parsedCache.Lock()
	p := parsedCache.m[key]
	parsedCache.Unlock()
	if p != nil {
		return p, nil
	}
	r := &renderer{name: name, text: text}
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(text)
	if err != nil {
		return nil, err
	}
	if err := r.refuseRecursion(t); err != nil {
		return nil, err
	}
	if err := r.instrument(t); err != nil {
		return nil, err
	}
	p = &parsed{t: t, where: r.where}
	parsedCache.Lock()
	if parsedCache.m == nil {
		parsedCache.m = map[[2]string]*parsed{}
	}
	if len(parsedCache.m) < maxParsed {
		parsedCache.m[key] = p
	}
	parsedCache.Unlock()
	return p, nil
}

// check spends one step of the budget and looks at the clock.
func (r *renderer) check(pos parse.Pos) error {
	r.steps++
	if r.steps > MaxRenderSteps {
		return &limitError{pos, fmt.Sprintf("more than %d loop iterations and template calls; a template this busy would never finish (a range over a huge number, or nested ranges?)", MaxRenderSteps)}
	}
	return r.clock(pos)
}

func (r *renderer) clock(pos parse.Pos) error {
	if time.Now().After(r.deadline) {
		return &limitError{pos, fmt.Sprintf("rendering took longer than %v; a template this slow would never finish (a range over a huge number, or nested ranges?)", RenderTimeout)}
	}
	return nil
}

func (r *renderer) tick(i int) (string, error) {
	if i < 0 || i >= len(r.where) {
		return "", fmt.Errorf("%s is omc's own", tickFunc)
	}
	r.last = i
	return "", r.check(r.where[i])
}

func (r *renderer) tooBig(what string) error {
	var pos parse.Pos
	if len(r.where) > 0 {
		pos = r.where[r.last]
	}
	return &limitError{pos, fmt.Sprintf("%s is larger than %d MiB; a file omc writes is far smaller (a range over a huge number, or nested ranges?)", what, MaxRenderBytes>>20)}
}

// capped wraps a function that makes a string from its arguments: it
// refuses when the result could be larger than MaxRenderBytes (grow: how
// many bytes it may make of one), before making it.
func (r *renderer) capped(f func(...any) string, grow int) func(...any) (string, error) {
	return func(args ...any) (string, error) {
		if err := r.clock(r.where[r.last]); err != nil {
			return "", err
		}
		size := len(args)
		for _, a := range args {
			size += grow * sizeOf(a, MaxRenderBytes-size)
			if size > MaxRenderBytes {
				return "", r.tooBig("a string the template makes")
			}
		}
		return f(args...), nil
	}
}

// printf is fmt.Sprintf, refused when its result could be too large: the
// format's own text, each verb's width and precision (fmt allows up to a
// million each), and the arguments (each time a verb names it again).
func (r *renderer) printf(format string, args ...any) (string, error) {
	if err := r.clock(r.where[r.last]); err != nil {
		return "", err
	}
	size, verbs := len(format), 0
	for _, m := range printfVerb.FindAllStringSubmatch(format, -1) {
		verbs++
		size += 64 // a number's digits, an error note
		for _, n := range m[1:] {
			if n == "*" {
				size += 1_000_000
			} else if v, err := strconv.Atoi(n); err == nil {
				size += v
			}
		}
		if size > MaxRenderBytes {
			return "", r.tooBig("printf's result")
		}
	}
	times := 1 // each argument printed once
	if strings.Contains(format, "%[") {
		times = verbs // or as often as a verb names one
	}
	for _, a := range args {
		size += times * sizeOf(a, MaxRenderBytes-size)
		if size > MaxRenderBytes {
			return "", r.tooBig("printf's result")
		}
	}
	return fmt.Sprintf(format, args...), nil
}

// printfVerb finds each verb's width and precision: %-08.3f, %*d.
var printfVerb = regexp.MustCompile(`%[-+# 0]*(?:\[\d+\])?(\*|\d*)(?:\.(?:\[\d+\])?(\*|\d*))?`)

// sizeOf is how many bytes fmt prints for a, or more than limit.
func sizeOf(a any, limit int) int {
	switch v := a.(type) {
	case string:
		return len(v)
	case []byte:
		return len(v)
	case nil, bool, int, int64, uint64, float64:
		return 24
	}
	// Settings lists and maps, the node: sized by printing them, as
	// what they hold is bounded by the inventory's size.
	rv := reflect.ValueOf(a)
	if (rv.Kind() == reflect.Map || rv.Kind() == reflect.Slice) && rv.Len() > limit {
		return limit + 1
	}
	return len(fmt.Sprint(a))
}

// limitWriter is the output: capped, and it stops a writing loop once
// the time is up.
type limitWriter struct {
	r   *renderer
	buf bytes.Buffer
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > MaxRenderBytes {
		return 0, w.r.tooBig("the rendered file")
	}
	var pos parse.Pos
	if len(w.r.where) > 0 {
		pos = w.r.where[w.r.last]
	}
	if err := w.r.clock(pos); err != nil {
		return 0, err
	}
	return w.buf.Write(p)
}

// instrument puts a tick at the top of every range body and every
// template, so that loops and calls spend the budget.
func (r *renderer) instrument(t *template.Template) error {
	tick := func(pos parse.Pos) (parse.Node, error) {
		r.where = append(r.where, pos)
		tt, err := template.New("tick").Funcs(template.FuncMap{tickFunc: r.tick}).Parse(fmt.Sprintf("{{%s %d}}", tickFunc, len(r.where)-1))
		if err != nil {
			return nil, err
		}
		return tt.Tree.Root.Nodes[0], nil
	}
	var walk func(n parse.Node) error
	walk = func(n parse.Node) error {
		var lists []*parse.ListNode
		switch n := n.(type) {
		case *parse.ListNode:
			for _, c := range n.Nodes {
				if err := walk(c); err != nil {
					return err
				}
			}
		case *parse.IfNode:
			lists = append(lists, n.List, n.ElseList)
		case *parse.WithNode:
			lists = append(lists, n.List, n.ElseList)
		case *parse.RangeNode:
			lists = append(lists, n.List, n.ElseList)
			if n.List != nil {
				tn, err := tick(n.Position())
				if err != nil {
					return err
				}
				defer func() { n.List.Nodes = append([]parse.Node{tn}, n.List.Nodes...) }()
			}
		}
		for _, l := range lists {
			if l != nil {
				if err := walk(l); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		if err := walk(tt.Tree.Root); err != nil {
			return err
		}
		tn, err := tick(tt.Tree.Root.Position())
		if err != nil {
			return err
		}
		tt.Tree.Root.Nodes = append([]parse.Node{tn}, tt.Tree.Root.Nodes...)
	}
	return nil
}

// refuseRecursion refuses a template that calls itself, directly or
// through others: the budget would stop it, but only after a deep and
// costly descent, and no file needs it.
func (r *renderer) refuseRecursion(t *template.Template) error {
	calls := map[string][]*parse.TemplateNode{}
	for _, tt := range t.Templates() {
		if tt.Tree != nil && tt.Tree.Root != nil {
			calls[tt.Name()] = templateCalls(tt.Tree.Root)
		}
	}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var path []string
	var visit func(name string) error
	visit = func(name string) error {
		state[name] = visiting
		path = append(path, name)
		for _, c := range calls[name] {
			switch state[c.Name] {
			case visiting:
				i := 0
				for path[i] != c.Name {
					i++
				}
				chain := append(append([]string(nil), path[i:]...), c.Name)
				return &limitError{c.Position(), fmt.Sprintf("template %q calls itself (%s); omc does not render recursive templates", c.Name, strings.Join(quoteAll(chain), " → "))}
			case 0:
				if err := visit(c.Name); err != nil {
					return err
				}
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return nil
	}
	// The one that runs first, then the others by name: the same
	// template gets the same error every time.
	names := slices.Sorted(maps.Keys(calls))
	for _, name := range append([]string{t.Name()}, names...) {
		if state[name] == 0 {
			if err := visit(name); err != nil {
				return err
			}
		}
	}
	return nil
}

func quoteAll(s []string) []string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return q
}

// templateCalls lists the {{template "name"}} calls under n.
func templateCalls(n parse.Node) []*parse.TemplateNode {
	var calls []*parse.TemplateNode
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.IfNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			calls = append(calls, n)
		}
	}
	walk(n)
	return calls
}

// execMsg reads text/template's "NAME:LINE:COL: executing "T" at <X>: MSG".
var execMsg = regexp.MustCompile(`(?s)^template: (.*):(\d+):(\d+): executing "((?:[^"\\]|\\.)*)" at <(.*?)>: (.*)$`)

// parseMsg reads text/template's "NAME:LINE: MSG".
var parseMsg = regexp.MustCompile(`(?s)^template: (.*):(\d+): (.*)$`)

// templateError says where in the text err happened.
func (r *renderer) templateError(err error) *TemplateError {
	te := &TemplateError{Name: r.name}
	var le *limitError
	if errors.As(err, &le) {
		te.Line, te.Col = r.lineCol(le.pos)
		te.Msg = le.msg
		return te
	}
	var ee template.ExecError
	if errors.As(err, &ee) {
		if m := execMsg.FindStringSubmatch(ee.Err.Error()); m != nil {
			te.Line, _ = strconv.Atoi(m[2])
			te.Col, _ = strconv.Atoi(m[3])
			te.Col++ // text/template counts columns from 0
			te.Msg = "at <" + m[5] + ">: " + m[6]
			if name, _ := strconv.Unquote(`"` + m[4] + `"`); name != r.name {
				te.Msg = "in template " + strconv.Quote(name) + " " + te.Msg
			}
			return te
		}
	}
	if m := parseMsg.FindStringSubmatch(err.Error()); m != nil {
		te.Line, _ = strconv.Atoi(m[2])
		te.Line = min(te.Line, strings.Count(strings.TrimRight(r.text, "\n"), "\n")+1)
		te.Msg = m[3]
		return te
	}
	te.Msg = strings.TrimPrefix(err.Error(), "template: ")
	return te
}

// lineCol is the line and column (1-based) of byte pos of the text.
func (r *renderer) lineCol(pos parse.Pos) (int, int) {
	p := min(max(int(pos), 0), len(r.text))
	before := r.text[:p]
	return 1 + strings.Count(before, "\n"), p - strings.LastIndexByte(before, '\n')
}
