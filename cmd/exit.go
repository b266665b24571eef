package cmd

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
)

// Exit codes. Scripts and CI depend on these; they only ever grow.
const (
	ExitOK          = 0   // success; for plan: nothing would change
	ExitError       = 1   // a host failed or could not be checked, or another error
	ExitPending     = 2   // plan: changes are pending (drift)
	ExitInventory   = 3   // the inventory is invalid; nothing was contacted
	ExitUsage       = 4   // bad command line: unknown flag, missing argument
	ExitUnhealthy   = 5   // status: a node is unhealthy
	ExitBackupStale = 6   // backup status: a backup is missing or too old
	ExitInterrupt   = 130 // interrupted (Ctrl-C / SIGTERM)
)

const exitCodesHelp = `omc exits with one of these codes:

  0    success; for "omc plan": nothing would change
  1    failure: at least one host failed or could not be checked, or
       another error (the message and the debug log say which)
  2    "omc plan" only: changes are pending (use it in CI to detect drift)
  3    the inventory is invalid (errors are printed as FILE:LINE:COL);
       nothing was contacted
  4    usage error: unknown command or flag, missing argument
  5    "omc status" only: a node is unhealthy (or its pool's Scalelite
       did not answer); use it from monitoring
  6    "omc backup status" only: a node's backup target has no snapshot
       newer than --max-age (a day), or its repository cannot be read
  130  interrupted by Ctrl-C or SIGTERM; each host stops at its current
       step (a file is written whole or not at all, a running command is
       ended on the host), its lock is released, and the message says
       which step on which host was interrupted
`

// verdict reports whether code answers the question a command asks
// (plan: pending, status: unhealthy, backup status: stale) rather than
// saying that it failed.
func verdict(code int) bool {
	return code == ExitOK || code == ExitPending || code == ExitUnhealthy || code == ExitBackupStale
}

// ExitError carries an exit code with an error. Silent means the error
// was already reported (e.g. per host) and needs no extra line.
type exitError struct {
	Code   int
	Err    error
	Silent bool
	// Failed are the hosts that failed, for the -o json error line; their
	// errors are masked with redact there.
	Failed []provision.Result
	redact func(string) string
}

func (e *exitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}
func (e *exitError) Unwrap() error { return e.Err }

// usageError marks a bad command line.
func usageError(format string, a ...any) error {
	return &exitError{Code: ExitUsage, Err: fmt.Errorf(format, a...)}
}

// exitCode maps an error to its documented code. This is the only place
// that does.
func exitCode(err error) int {
	var ee *exitError
	var ie *inventory.Errors
	var fe *fleet.InventoryError
	var fu *fleet.UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &ie), errors.As(err, &fe):
		return ExitInventory
	case errors.As(err, &fu):
		return ExitUsage
	case errors.Is(err, context.Canceled):
		return ExitInterrupt
	}
	return ExitError
}

// report is the one place a run's error becomes the exit code: it
// prints the error (unless it was reported already), under -o json ends
// stdout with the error record, and returns the documented code. args
// are the command line, for an -o json given with a command line cobra
// could not parse; ctx is the run's, cancelled by Ctrl-C.
func report(ctx context.Context, s *ui.Streams, g *globalOptions, args []string, err error) int {
	if err == nil {
		return ExitOK
	}
	var ue *exitError
	if !errors.As(err, &ue) && strings.HasPrefix(err.Error(), "unknown command ") {
		// cobra's own, for the root's unknown commands.
		err = usageError("%v (see 'omc --help')", err)
	}
	var ee *exitError
	if !(errors.As(err, &ee) && ee.Silent) {
		fmt.Fprintln(s.Err, errorText(err))
	}
	code := exitCode(err)
	if code == ExitError && ctx.Err() != nil {
		code = ExitInterrupt
	}
	// -o json: a failure's last line says so. A verdict (changes
	// pending, a node unhealthy, a backup stale) is the command's answer,
	// not a failure: its own record, last, says it.
	if !verdict(code) && (g.json() || wantsJSON(args)) {
		_ = g.jsonOut(s).Write(errorRecord(err, code))
	}
	return code
}

// filePos is the start of a FILE:LINE:COL: line.
var filePos = regexp.MustCompile(`^[^\s:]+:\d+:\d+: `)

// errorText is how an error is printed: "omc: " before it, except where
// it starts with FILE:LINE:COL, which must open the line so that editors
// and CI annotations find it (every such line of a multi-line error
// already does).
func errorText(err error) string {
	msg := err.Error()
	if filePos.MatchString(msg) {
		return msg
	}
	return "omc: " + msg
}
