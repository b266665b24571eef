package cmd

import (
	"context"
	"log/slog"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/providers"
)

// How often a server's wait for SSH is reported: redrawn each second on a
// terminal, a plain line every 10 s otherwise (a CI log of a five-minute
// wait gets 30 lines per server, not 300).
const (
	liveProgressEvery  = time.Second
	plainProgressEvery = 10 * time.Second
)

// providerEvents takes what the cloud providers report while they make,
// rebuild and delete servers: shown on stderr (ui.Waits) and written to
// the run's debug log when there is one.
type providerEvents struct {
	waits *ui.Waits
	log   *slog.Logger
	every time.Duration
}

func newProviderEvents(ctx context.Context, s *ui.Streams) *providerEvents {
	pe := &providerEvents{waits: ui.NewWaits(s.Err, s.Live()), log: fleet.LogFrom(ctx), every: plainProgressEvery}
	if s.Live() {
		pe.every = liveProgressEvery
	}
	return pe
}

func (pe *providerEvents) event(e providers.Event) {
	pe.waits.Event(e)
	if pe.log == nil {
		return
	}
	if e.Phase == "log" {
		pe.log.Info("provider", "provider", e.Provider, "line", e.Message)
		return
	}
	level := slog.LevelInfo
	switch e.State {
	case "waiting":
		level = slog.LevelDebug
	case "failed", "interrupted":
		level = slog.LevelError
	}
	attrs := []any{"provider", e.Provider, "node", e.Node, "phase", e.Phase, "state", e.State, "elapsed", e.Elapsed.Round(time.Second).String()}
	if e.Err != nil {
		attrs = append(attrs, "error", e.Err.Error())
	}
	pe.log.Log(context.Background(), level, "provider", attrs...)
}

// close ends the live display.
func (pe *providerEvents) close() { pe.waits.Close() }
