package provision

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/omc-coop/omc/inventory"
)

// TemplateData is what file templates see: {{ .Node.Name }},
// {{ .Settings.timezone }}, and {{ secret "name" }} for a named secret.
type TemplateData struct {
	Node     *inventory.Node
	Settings map[string]any
}

// Steps builds a node's steps from its inventory entry, rendering
// templates. Errors name the inventory file, line and column of the step.
func Steps(inv *inventory.Inventory, n *inventory.Node) ([]Step, error) {
	var steps []Step
	var errs []string
	seen := map[string]inventory.Pos{}
	for _, sp := range n.Steps {
		s, err := buildStep(inv, n, sp)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s:%d:%d: node %s: %v", inv.Path, sp.Pos.Line, sp.Pos.Col, n.Name, err))
			continue
		}
		if p, dup := seen[s.ID()]; dup {
			errs = append(errs, fmt.Sprintf("%s:%d:%d: node %s: %s is also declared at line %d", inv.Path, sp.Pos.Line, sp.Pos.Col, n.Name, s.ID(), p.Line))
			continue
		}
		seen[s.ID()] = sp.Pos
		steps = append(steps, s)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return steps, nil
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
		l := &LineStep{Path: sp.Line.Path, Line: sp.Line.Line, Notify: sp.Line.Notify}
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

// Render executes template text for a node. Missing keys are errors, not
// "<no value>" silently written to a host.
func Render(inv *inventory.Inventory, n *inventory.Node, name, text string) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{
		"secret": func(s string) (string, error) {
			v, ok := inv.Secret(s)
			if !ok {
				return "", inv.SecretError(s)
			}
			return v, nil
		},
	}).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, TemplateData{Node: n, Settings: n.Settings}); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return b.Bytes(), nil
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
