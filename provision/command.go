package provision

import (
	"fmt"
	"strings"

	"github.com/omc-coop/omc/internal/shell"
)

// CommandStep runs a command only when its guard says the work is not done:
// Creates names a path the command makes; Unless is a check command that
// exits 0 when the work is done. A command without a guard would change
// something on every run, so it is refused when the steps are built.
type CommandStep struct {
	Label   string
	Run     string
	Unless  string
	Creates string
}

func (s *CommandStep) ID() string {
	if s.Label != "" {
		return "command " + s.Label
	}
	r := s.Run
	if len(r) > 60 {
		r = r[:57] + "..."
	}
	return "command " + r
}

func (s *CommandStep) Probe() string {
	var b strings.Builder
	if s.Creates != "" {
		b.WriteString("if [ -e " + shell.Quote(s.Creates) + " ]; then echo done=creates; el")
	}
	if s.Unless != "" {
		b.WriteString("if (" + s.Unless + "\n) </dev/null >/dev/null 2>&1; then echo done=unless; el")
	}
	if b.Len() == 0 {
		return "echo done=no"
	}
	b.WriteString("se echo done=no; fi")
	return b.String()
}

func (s *CommandStep) Plan(obs []string) (*Change, error) {
	d, ok := field(obs, "done")
	if !ok {
		return nil, fmt.Errorf("unexpected probe output for %s", s.ID())
	}
	if d != "no" {
		return nil, nil
	}
	return &Change{Step: s, Summary: "run", Script: s.Run}, nil
}
