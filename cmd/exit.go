package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/omc-coop/omc/fleet"
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

// interrupted is the cause of a run's context once the first Ctrl-C or
// SIGTERM came: what it stopped then says "interrupted (Ctrl-C)", not
// "context canceled". It is a context.Canceled (exit code 130).
type interrupted struct{ sig os.Signal }

func (e interrupted) Error() string {
	if e.sig == os.Interrupt {
		return "interrupted (Ctrl-C)"
	}
	if s, ok := e.sig.(syscall.Signal); ok && s == syscall.SIGTERM {
		return "interrupted (SIGTERM)"
	}
	return "interrupted (" + e.sig.String() + ")"
}

func (interrupted) Is(target error) bool { return target == context.Canceled }

// signalContext is cancelled, with an interrupted cause, by the first
// SIGINT or SIGTERM. From then on, and after stop, signals get their
// default action, so a second one ends omc at once.
func signalContext() (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			signal.Stop(ch)
			cancel(interrupted{sig})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(context.Canceled)
	}
}

// timedOut is the cause of the deadline --timeout sets, so that what it
// stopped says "timed out after --timeout 8s". It is a
// context.DeadlineExceeded.
type timedOut struct{ d time.Duration }

func (e timedOut) Error() string { return "timed out after --timeout " + shortDuration(e.d) }

func (timedOut) Is(target error) bool { return target == context.DeadlineExceeded }

// withTimeout bounds ctx by the --timeout flag's d; 0 is no limit.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, d, timedOut{d})
}

// shortDuration is d as written on a command line: 30m, not 30m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
