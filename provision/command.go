package provision

import (
	"fmt"
	"strconv"
	"strings"
	"time"

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
	// Timeout bounds one run of Run on the host (0: DefaultCommandTimeout).
	// Then the command, and what it started, is ended, and the step fails.
	Timeout time.Duration
}

// DefaultCommandTimeout is how long a command step may run when it sets
// no Timeout: more than any install takes, yet a command that waits for
// ever (a prompt, a lock, a dead mirror) fails the host, releasing its
// lock, instead of hanging the run.
const DefaultCommandTimeout = time.Hour

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
	limit := s.Timeout
	if limit <= 0 {
		limit = DefaultCommandTimeout
	}
	return &Change{Step: s, Summary: "run", Script: limited(s.Run, limit), Check: timeoutCheck(limit)}, nil
}

// limited runs script under coreutils timeout(1), in a process group of
// its own: TERM to all of it after d, KILL 10 s later; -v says so on
// stderr, which tells a timeout from a command that exits 124 itself.
// Without timeout(1) on the host, script runs unbounded.
func limited(script string, d time.Duration) string {
	secs := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
	return "omc_t=; if command -v timeout >/dev/null 2>&1; then omc_t='timeout -v -k 10 " + secs + "'; fi\n" +
		"$omc_t /bin/sh -c " + shell.Quote(script)
}

// timedOutLine is what timeout -v prints when it ends a command.
const timedOutLine = "timeout: sending signal"

// timeoutCheck is a limited command's outcome as an error.
func timeoutCheck(d time.Duration) func(stdout, stderr string, code int) error {
	return func(stdout, stderr string, code int) error {
		switch {
		case code == 0:
			return nil
		case code == 124 && strings.Contains(stderr, timedOutLine):
			return fmt.Errorf("timed out after %s and was ended (raise the step's timeout: if it needs longer)", d)
		}
		return scriptError("command failed", RunResult{Stdout: []byte(stdout), Stderr: []byte(stderr), ExitCode: code})
	}
}
