package cmd

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

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
