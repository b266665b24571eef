package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/omc-coop/omc/inventory"
)

// Exit codes. Scripts and CI depend on these; they only ever grow.
const (
	ExitOK          = 0   // success; for plan: nothing would change
	ExitError       = 1   // a host failed or could not be checked, or another error
	ExitPending     = 2   // plan: changes are pending (drift)
	ExitInventory   = 3   // the inventory is invalid; nothing was contacted
	ExitUsage       = 4   // bad command line: unknown flag, missing argument
	ExitUnhealthy   = 5   // status: a pool node is unhealthy
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
  5    "omc status" only: a pool node is unhealthy (or Scalelite did
       not answer); use it from monitoring
  6    "omc backup status" only: a node's backup target has no snapshot
       newer than --max-age (a day), or its repository cannot be read
  130  interrupted by Ctrl-C or SIGTERM; hosts finish or abandon their
       current step atomically and release their locks
`

// ExitError carries an exit code with an error. Silent means the error
// was already reported (e.g. per host) and needs no extra line.
type exitError struct {
	Code   int
	Err    error
	Silent bool
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
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &ie):
		return ExitInventory
	case errors.Is(err, context.Canceled):
		return ExitInterrupt
	}
	return ExitError
}
