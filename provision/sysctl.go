package provision

import (
	"fmt"
	"strings"

	"github.com/omc-coop/omc/internal/shell"
)

// SysctlStep wants a kernel parameter set now and after reboots (in
// /etc/sysctl.d/90-omc-NAME.conf). Where the kernel refuses the write (a
// container's read-only /proc/sys), the step fails and says so: "persisted
// but not applied" is never reported as success.
type SysctlStep struct {
	Name  string
	Value string
}

func (s *SysctlStep) ID() string { return "sysctl " + s.Name }

func (s *SysctlStep) confPath() string { return "/etc/sysctl.d/90-omc-" + s.Name + ".conf" }
func (s *SysctlStep) conf() []byte     { return []byte(s.Name + " = " + s.Value + "\n") }

func (s *SysctlStep) Probe() string {
	p := s.procPath()
	// The value is a fact (one grep for all); the conf file is printed
	// with builtins, as "conf=" and its first line, then the others.
	return `[ -e ` + shell.Quote(p) + ` ] || echo 'value=<unknown>'
f=` + shell.Quote(s.confPath()) + `; if [ -f "$f" ]; then p=conf=; while IFS= read -r l || [ -n "$l" ]; do echo "$p$l"; p=; done < "$f"; [ -n "$p" ] && echo conf=; fi`
}

func (s *SysctlStep) facts() []fact { return []fact{{factValue, s.procPath()}} }

func (s *SysctlStep) Plan(obs []string) (*Change, error) {
	val, _ := field(obs, "value") // none: the kernel file is empty
	if val == "<unknown>" {
		return nil, fmt.Errorf("sysctl %s does not exist on this host", s.Name)
	}
	conf, _ := field(obs, "conf")
	var what []string
	c := &Change{Step: s}
	if conf+"\n" != string(s.conf()) {
		what = append(what, "persist in "+s.confPath())
		c.Write = &FileWrite{Path: s.confPath(), Mode: 0o644, Owner: "root", Group: "root", ContentChanged: true,
			Content: func([]byte) ([]byte, error) { return s.conf(), nil }}
	}
	if strings.Join(strings.Fields(val), " ") != strings.Join(strings.Fields(s.Value), " ") {
		what = append(what, "set "+strings.Join(strings.Fields(val), " ")+"→"+s.Value)
		c.Script = "sysctl -w " + shell.Quote(s.Name+"="+s.Value)
		c.Check = func(_, stderr string, code int) error {
			if code == 0 {
				return nil
			}
			if strings.Contains(stderr, "ermission denied") || strings.Contains(stderr, "ead-only") {
				return fmt.Errorf("sysctl %s: not permitted on this host (read-only /proc/sys, e.g. a container); persisted in %s but NOT applied", s.Name, s.confPath())
			}
			return fmt.Errorf("sysctl -w %s failed: %s", s.Name, strings.TrimSpace(stderr))
		}
	}
	if len(what) == 0 {
		return nil, nil
	}
	c.Summary = strings.Join(what, ", ")
	return c, nil
}
