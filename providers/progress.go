package providers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/omc-coop/omc/internal/event"
)

// Event is one thing a provider did or is waiting for (a logged line,
// Phase "log", or a node's wait for SSH, Phase "wait-ssh"). It lives in
// internal/event so the renderer need not import providers.
type Event = event.Provider

// DefaultProgressEvery is how often a wait reports that it still waits.
const DefaultProgressEvery = 5 * time.Second

// WaitSSH runs wait (a provider's wait until a node's SSH answers) and
// reports ev for node: at its start, every `every` while it runs, and at
// its end. A wait the context stopped (Ctrl-C, --timeout) says what it
// stopped: "interrupted (Ctrl-C) while waiting for SSH on NODE".
func WaitSSH(ctx context.Context, ev Event, report func(Event), every time.Duration, now func() time.Time, wait func(context.Context) error) error {
	if report == nil {
		report = func(Event) {}
	}
	if now == nil {
		now = time.Now
	}
	if every <= 0 {
		every = DefaultProgressEvery
	}
	start := now()
	ev.Phase = "wait-ssh"
	emit := func(state string, err error) {
		ev.State, ev.Elapsed, ev.Err = state, now().Sub(start), err
		report(ev)
	}
	emit("start", nil)
	done := make(chan error, 1)
	go func() { done <- wait(ctx) }()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			switch {
			case err == nil:
				emit("ready", nil)
			case ctx.Err() != nil:
				cause := context.Cause(ctx)
				if errors.Is(cause, context.DeadlineExceeded) {
					cause = fmt.Errorf("timed out (%w)", cause)
				}
				err = fmt.Errorf("%w while waiting for SSH on %s", cause, ev.Node)
				emit("interrupted", err)
			default:
				emit("failed", err)
			}
			return err
		case <-tick.C:
			emit("waiting", nil)
		}
	}
}
