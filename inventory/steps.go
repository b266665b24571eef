package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"
)

// stepKinds lists the kind keys of a Step, from its omc:"kind" tags.
func stepKinds() []string {
	var kinds []string
	for _, f := range fieldsOf(reflect.TypeOf(Step{})) {
		if f.kind {
			kinds = append(kinds, f.name)
		}
	}
	return kinds
}

func (v *validator) steps(steps []*Step) {
	for _, s := range steps {
		v.step(s)
	}
}

func (v *validator) step(s *Step) {
	var kinds []string
	sv := reflect.ValueOf(s).Elem()
	for _, f := range fieldsOf(sv.Type()) {
		if f.kind && !sv.Field(f.index).IsNil() {
			kinds = append(kinds, f.name)
		}
	}
	switch len(kinds) {
	case 0:
		v.errf(s, "a step needs one of %s", strings.Join(stepKinds(), ", "))
	case 1:
	default:
		v.errf(s, "a step does one thing, but this one has %s; split it into %d steps", strings.Join(kinds, " and "), len(kinds))
	}
	v.oneLine(&s.Name)
	if f := s.File; f != nil {
		v.file(f)
	}
	if d := s.Dir; d != nil {
		v.absPath(&d.Path)
		v.mode(&d.Mode)
		v.owner(&d.Owner)
		v.owner(&d.Group)
	}
	if s.Packages != nil {
		if len(s.Packages) == 0 {
			v.errf(&s.Packages, "an empty list; name at least one package")
		}
		for i, p := range s.Packages {
			if !packageName.MatchString(p) {
				v.errf(&s.Packages[i], "%q is not a Debian package name (name or name=version)", p)
			}
		}
	}
	if l := s.Line; l != nil {
		v.absPath(&l.Path)
		if v.at(&l.Line).set && l.Line == "" {
			v.errf(&l.Line, "must not be empty")
		}
		v.oneLine(&l.Line)
		if l.Match != "" {
			if _, err := regexp.Compile(l.Match); err != nil {
				v.errf(&l.Match, "not a Go regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			}
		}
		v.services(l.Notify)
	}
	if sv := s.Service; sv != nil && sv.Name != "" && !serviceName.MatchString(sv.Name) {
		v.errf(&sv.Name, "%q is not a systemd unit name", sv.Name)
	}
	if sc := s.Sysctl; sc != nil {
		if sc.Name != "" && !sysctlName.MatchString(sc.Name) {
			v.errf(&sc.Name, "%q is not a sysctl name such as net.core.somaxconn", sc.Name)
		}
		if v.at(&sc.Value).set && strings.TrimSpace(sc.Value) == "" {
			v.errf(&sc.Value, "must not be empty")
		}
		v.oneLine(&sc.Value)
	}
	if u := s.User; u != nil {
		if u.Name != "" && !unixName.MatchString(u.Name) {
			v.errf(&u.Name, "%q is not a valid user name", u.Name)
		}
		for i, g := range u.Groups {
			if !unixName.MatchString(g) {
				v.errf(&u.Groups[i], "%q is not a valid group name", g)
			}
		}
		if u.Shell != "" {
			v.absPath(&u.Shell)
		}
		for i, k := range u.AuthorizedKeys {
			if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
				v.errf(&u.AuthorizedKeys[i], "not an SSH public key in authorized_keys form (%v)", err)
			}
		}
	}
	if c := s.Command; c != nil {
		if v.at(&c.Run).set && strings.TrimSpace(c.Run) == "" {
			v.errf(&c.Run, "must not be empty")
		}
		// The engine refuses unguarded commands too; saying so here lets
		// omc validate catch it without a host.
		if c.Run != "" && c.Unless == "" && c.Creates == "" {
			v.errf(c, "needs a guard, unless or creates, or it would run on every converge")
		}
		if c.Creates != "" {
			v.absPath(&c.Creates)
		}
		if c.Timeout != "" {
			if d, err := time.ParseDuration(c.Timeout); err != nil || d < time.Second {
				v.errf(&c.Timeout, "%q is not a time limit of a second or more, such as 90m or 3h", c.Timeout)
			}
		}
	}
}

func (v *validator) oneLine(p *string) {
	if strings.ContainsAny(*p, "\r\n") {
		v.errf(p, "must be a single line")
	}
}

func (v *validator) absPath(p *string) {
	switch s := *p; {
	case s == "":
	case !strings.HasPrefix(s, "/"):
		v.errf(p, "%q must be an absolute path", s)
	case path.Clean(s) != s:
		v.errf(p, "%q must be a clean path (no '..', '//' or trailing '/'); did you mean %s?", s, path.Clean(s))
	}
}

func (v *validator) mode(p *string) {
	if *p != "" && !isMode(*p) {
		v.errf(p, "%q is not an octal file mode up to 07777, e.g. 0644", *p)
	}
}

func (v *validator) owner(p *string) {
	if *p != "" && !isOwner(*p) {
		v.errf(p, "%q is not a user or group name", *p)
	}
}

func (v *validator) services(names []string) {
	for i, n := range names {
		if !serviceName.MatchString(n) {
			v.errf(&names[i], "%q is not a systemd unit name", n)
		}
	}
}

func (v *validator) file(f *FileStep) {
	v.absPath(&f.Path)
	v.mode(&f.Mode)
	v.owner(&f.Owner)
	v.owner(&f.Group)
	v.services(f.Notify)
	switch {
	case f.Content != nil && f.Template != "":
		v.errf(f, "content and template exclude each other; keep one")
	case f.Content == nil && f.Template == "":
		v.errf(f, "needs content (inline text) or template (a file next to the inventory)")
	case f.Content != nil:
		w := v.at(f.Content)
		v.noteContent(f, w.node)
		if err := v.checkTemplate("content", *f.Content); err != nil {
			v.errs.add(v.contentPos(w.node, err.line), w.path, "template: %s", err.msg)
		}
	case filepath.IsAbs(f.Template):
		v.errf(&f.Template, "%q must be relative to the inventory file, so that the two travel together", f.Template)
	default:
		name := filepath.Join(v.dir, f.Template)
		// Many steps may share one template: read and parse it once.
		msg, done := v.tmplFiles[name]
		if !done {
			if text, err := readSmall(name, maxTemplateSize); err != nil {
				var pe *os.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				msg = fmt.Sprintf("cannot read %s: %v", name, err)
			} else if err := v.checkTemplate(f.Template, string(text)); err != nil {
				msg = fmt.Sprintf("template %s:%d: %s", f.Template, err.line, err.msg)
			}
			if v.tmplFiles == nil {
				v.tmplFiles = map[string]string{}
			}
			v.tmplFiles[name] = msg
		}
		if msg != "" {
			v.errf(&f.Template, "%s", msg)
		}
	}
}

// readSmall reads a regular file of at most limit bytes: a template or a
// secret must not be a device or a FIFO that blocks or never ends. It
// checks before opening (opening a FIFO blocks), and a file reported as
// empty, as /proc files are, is not read at all.
func readSmall(name string, limit int) ([]byte, error) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	switch {
	case !st.Mode().IsRegular():
		return nil, &os.PathError{Op: "read", Path: name, Err: errNotRegular}
	case st.Size() > int64(limit):
		return nil, &os.PathError{Op: "read", Path: name, Err: errTooLarge}
	case st.Size() == 0:
		return nil, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err == nil && len(b) > limit {
		return nil, &os.PathError{Op: "read", Path: name, Err: errTooLarge}
	}
	return b, err
}

type constErr string

func (e constErr) Error() string { return string(e) }

const (
	errNotRegular constErr = "not a regular file"
	errTooLarge   constErr = "file too large"
)

// tmplErr is a template problem at a line of the template text.
type tmplErr struct {
	line int
	msg  string
}

// checkTemplate parses text as the provision package will render it, with
// a stub secret function, and checks that every secret "name" it calls
// with a literal is declared. It does not execute: that needs a host's
// data, and a hostile template could loop.
func (v *validator) checkTemplate(name, text string) *tmplErr {
	key := [2]string{name, text}
	if e, ok := v.tmplTexts[key]; ok {
		return e
	}
	e := v.parseTemplate(name, text)
	if v.tmplTexts == nil {
		v.tmplTexts = map[[2]string]*tmplErr{}
	}
	v.tmplTexts[key] = e
	return e
}

func (v *validator) parseTemplate(name, text string) *tmplErr {
	t, err := template.New(name).Funcs(template.FuncMap{
		"secret": func(string) (string, error) { return "", nil },
	}).Parse(text)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "template: "+name+":")
		num, rest, _ := strings.Cut(msg, ": ")
		num, _, _ = strings.Cut(num, ":")
		line, cerr := strconv.Atoi(num)
		if cerr != nil {
			return &tmplErr{line: 1, msg: strings.TrimPrefix(err.Error(), "template: ")}
		}
		if rest == "unexpected EOF" {
			rest += " (an {{if}}, {{range}} or {{with}} without {{end}}?)"
		}
		// EOF is reported on the line after a final newline.
		return &tmplErr{line: min(line, strings.Count(strings.TrimRight(text, "\n"), "\n")+1), msg: rest}
	}
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		for _, s := range secretCalls(tt.Tree.Root) {
			if _, ok := v.inv.Secrets[s.name]; !ok {
				return &tmplErr{line: 1 + strings.Count(text[:min(int(s.pos), len(text))], "\n"),
					msg: "secret " + strconv.Quote(s.name) + " is not declared under secrets"}
			}
		}
	}
	return nil
}

type secretCall struct {
	name string
	pos  parse.Pos
}

// secretCalls finds {{ secret "name" }} calls with a literal name.
func secretCalls(root parse.Node) []secretCall {
	var calls []secretCall
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			if len(n.Args) >= 2 {
				id, ok1 := n.Args[0].(*parse.IdentifierNode)
				s, ok2 := n.Args[1].(*parse.StringNode)
				if ok1 && ok2 && id.Ident == "secret" {
					calls = append(calls, secretCall{s.Text, s.Pos})
				}
			}
			for _, a := range n.Args {
				walk(a)
			}
		}
	}
	walk(root)
	return calls
}

// contentPos maps line k of an inline template to the file: block
// scalars (| and >) start on the line after their key, other styles on
// the key's line.
func (v *validator) contentPos(n *yaml.Node, k int) Pos {
	if n == nil {
		return Pos{1, 1}
	}
	line := n.Line + k - 1
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		line = n.Line + k
	} else if k == 1 {
		return posOf(n)
	}
	return Pos{line, firstNonBlank(v.src, line)}
}

func firstNonBlank(src []byte, line int) int {
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			return 1
		}
		src = src[i+1:]
	}
	col := 1
	for _, c := range src {
		if c != ' ' && c != '\t' {
			break
		}
		col++
	}
	return col
}
