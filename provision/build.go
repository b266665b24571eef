package provision

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/omc-coop/omc/inventory"
)

// Steps builds a node's steps from its inventory entry, rendering
// templates. Errors name the inventory file, line and column of the step.
func Steps(inv *inventory.Inventory, n *inventory.Node) ([]Step, error) {
	var steps []Step
	var errs []string
	seen := map[string]inventory.Pos{}
	rendered := 0
	for _, sp := range n.Steps {
		s, err := buildStep(inv, n, sp)
		if err != nil {
			errs = append(errs, stepError(inv, n, sp, err))
			continue
		}
		if p, dup := seen[s.ID()]; dup {
			errs = append(errs, fmt.Sprintf("%s:%d:%d: node %s: %s is also declared at line %d", inv.Path, sp.Pos.Line, sp.Pos.Col, n.Name, s.ID(), p.Line))
			continue
		}
		if f, ok := s.(*FileStep); ok {
			if rendered += len(f.Content); rendered > MaxNodeRenderBytes {
				errs = append(errs, fmt.Sprintf("%s:%d:%d: node %s: the node's files add up to more than %d MiB; omc keeps a host's files in memory while it works on it", inv.Path, sp.Pos.Line, sp.Pos.Col, n.Name, MaxNodeRenderBytes>>20))
				break
			}
		}
		seen[s.ID()] = sp.Pos
		steps = append(steps, s)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return steps, nil
}

// stepError places a step's error: a template's at the line and column
// of the template text it is about (in the inventory for inline content,
// in the template file otherwise), anything else at the step.
func stepError(inv *inventory.Inventory, n *inventory.Node, sp *inventory.Step, err error) string {
	var te *TemplateError
	if !errors.As(err, &te) || sp.File == nil {
		return fmt.Sprintf("%s:%d:%d: node %s: %v", inv.Path, sp.Pos.Line, sp.Pos.Col, n.Name, err)
	}
	file, p := inv.TemplatePos(sp.File, te.Line, te.Col)
	what := "content"
	if sp.File.Content == nil {
		what = fmt.Sprintf("template of the step at %s:%d:%d", inv.Path, sp.Pos.Line, sp.Pos.Col)
	}
	return fmt.Sprintf("%s:%d:%d: node %s: file %s: %s: %s", file, p.Line, p.Col, n.Name, sp.File.Path, what, te.Msg)
}

func buildStep(inv *inventory.Inventory, n *inventory.Node, sp *inventory.Step) (Step, error) {
	switch {
	case sp.File != nil:
		f := sp.File
		text, name := "", "content"
		if f.Content != nil {
			text = *f.Content
		} else {
			b, err := os.ReadFile(filepath.Join(filepath.Dir(inv.Path), f.Template))
			if err != nil {
				return nil, fmt.Errorf("template: %w", err)
			}
			text, name = string(b), f.Template
		}
		content, err := Render(inv, n, name, text)
		if err != nil {
			return nil, err
		}
		mode, err := parseMode(f.Mode, 0o644)
		if err != nil {
			return nil, err
		}
		return &FileStep{Path: f.Path, Content: content, Mode: mode, Owner: or(f.Owner, "root"), Group: or(f.Group, "root"), Notify: f.Notify}, nil
	case sp.Dir != nil:
		mode, err := parseMode(sp.Dir.Mode, 0o755)
		if err != nil {
			return nil, err
		}
		return &DirStep{Path: sp.Dir.Path, Mode: mode, Owner: or(sp.Dir.Owner, "root"), Group: or(sp.Dir.Group, "root")}, nil
	case len(sp.Packages) > 0:
		return &PackagesStep{Names: sp.Packages}, nil
	case sp.Line != nil:
		// A line is a template as a file's content is, so that one
		// group-level step can name each node (as Ansible's lineinfile
		// line is Jinja).
		line, err := Render(inv, n, "line", sp.Line.Line)
		if err != nil {
			return nil, err
		}
		if bytes.ContainsAny(line, "\r\n") {
			return nil, fmt.Errorf("line: rendered to more than one line; a line step writes one")
		}
		l := &LineStep{Path: sp.Line.Path, Line: string(line), Notify: sp.Line.Notify}
		if sp.Line.Match != "" {
			re, err := regexp.Compile(sp.Line.Match)
			if err != nil {
				return nil, fmt.Errorf("line match: %w", err)
			}
			l.Match = re
		}
		return l, nil
	case sp.Service != nil:
		return &ServiceStep{Name: sp.Service.Name, Enabled: boolOr(sp.Service.Enabled, true), Running: boolOr(sp.Service.Running, true)}, nil
	case sp.Sysctl != nil:
		return &SysctlStep{Name: sp.Sysctl.Name, Value: sp.Sysctl.Value}, nil
	case sp.User != nil:
		u := sp.User
		return &UserStep{Name: u.Name, Groups: u.Groups, Shell: u.Shell, System: u.System, AuthorizedKeys: u.AuthorizedKeys}, nil
	case sp.Command != nil:
		c := sp.Command                             // the inventory refuses commands without a guard
		timeout, _ := time.ParseDuration(c.Timeout) // validated by the inventory
		return &CommandStep{Label: sp.Name, Run: c.Run, Unless: c.Unless, Creates: c.Creates, Timeout: timeout}, nil
	}
	return nil, fmt.Errorf("step has no kind")
}

func parseMode(s string, def os.FileMode) (os.FileMode, error) {
	if s == "" {
		return def, nil
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o7777 {
		return 0, fmt.Errorf("mode %q is not an octal file mode", s)
	}
	return os.FileMode(m), nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}
