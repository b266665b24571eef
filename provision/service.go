package provision

import (
	"fmt"
	"strings"

	"github.com/omc-coop/omc/internal/shell"
)

// ServiceStep wants a systemd unit enabled and/or running (or not).
type ServiceStep struct {
	Name    string
	Enabled bool
	Running bool
}

func (s *ServiceStep) ID() string { return "service " + s.Name }

// Probe has nothing of its own: is-enabled and is-active are facts, asked
// once for every unit of the host (each systemctl is an exec and a D-Bus
// round trip).
func (s *ServiceStep) Probe() string { return ":" }

func (s *ServiceStep) facts() []fact {
	return []fact{{factEnabled, s.Name}, {factActive, s.Name}}
}

// enabledStates count as enabled: units that cannot be enabled by hand
// (static, generated, indirect, alias) are started by something else.
var enabledStates = map[string]bool{"enabled": true, "enabled-runtime": true, "static": true, "generated": true, "indirect": true, "alias": true}

func (s *ServiceStep) Plan(obs []string) (*Change, error) {
	en, ok1 := field(obs, "enabled")
	act, ok2 := field(obs, "active")
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("unexpected probe output for %s", s.ID())
	}
	isEnabled, isActive := enabledStates[en], act == "active"
	enable, start := s.Enabled && !isEnabled, s.Running && !isActive
	var cmds, what, starts []string
	n := shell.Quote(s.Name)
	switch {
	case enable && start:
		// One systemctl, not two: each is a process and a D-Bus call on
		// a host that, on a cold run, is busy with everything else.
		return &Change{Step: s, Summary: "enable, start", Script: withJournal("systemctl enable --now -- "+n, s.Name), Starts: []string{s.Name}}, nil
	case enable:
		cmds, what = append(cmds, "systemctl enable -- "+n), append(what, "enable")
	case !s.Enabled && en == "enabled":
		cmds, what = append(cmds, "systemctl disable -- "+n), append(what, "disable")
	}
	switch {
	case start:
		cmds, what = append(cmds, withJournal("systemctl start -- "+n, s.Name)), append(what, "start")
		starts = []string{s.Name}
	case !s.Running && isActive:
		cmds, what = append(cmds, "systemctl stop -- "+n), append(what, "stop")
	}
	if len(cmds) == 0 {
		return nil, nil
	}
	return &Change{Step: s, Summary: strings.Join(what, ", "), Script: strings.Join(cmds, " && "), Starts: starts}, nil
}

// restartScript is a handler: restart a unit notified by changed files.
func restartScript(unit string) string {
	return withJournal("systemctl restart -- "+shell.Quote(unit), unit)
}

// withJournal adds, when cmd fails, the unit's last log lines to its
// stderr: systemctl's "see journalctl -xeu" helps nobody reading omc's
// output on another machine, and a unit that failed once under load
// is gone by the time anyone looks.
func withJournal(cmd, unit string) string {
	return cmd + " || { rc=$?; journalctl -u " + shell.Quote(unit) + " -n 6 --no-pager -o cat >&2 2>/dev/null; exit $rc; }"
}
