package cmd

import (
	"net/http"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/providers"
)

// factory is everything a command reaches outside omc: the one seam
// between the commands and the world, as gh's cmdutil.Factory is. Main
// builds the real one (newFactory) once and the global options carry it;
// every command takes its dependencies from it and from nowhere else, so
// a test swaps a fake in one place (mainWith's with, or g.f for a test
// that calls a run function) and production code reads no test-only
// variable or environment. A nil field means fleet's default.
type factory struct {
	// Now is the clock of usage collect, invoice, backup status and
	// status (default time.Now).
	Now func() time.Time
	// HTTP is usage collect's client of Scalelite and the nodes' BBB
	// APIs (nil: fleet's, 10 s timeout).
	HTTP *http.Client
	// Provider opens a provider by name (default fleet.NewProvider):
	// up, plan, down, rebuild, restore, backup status, monitoring.
	Provider func(name string, o fleet.ProviderOptions) (providers.Provider, error)
	// Pool are the pool commands' stand-ins (status, drain, enable,
	// remove, upgrade, scale, tenant, pool sync, usage, up's pool step);
	// poolEnv fills in how they report. Nil: the real world.
	Pool *fleet.PoolDeps
	// Exec runs a script on a node (nil: over SSH, Transport.Exec):
	// backup status.
	Exec fleet.NodeExec
	// Restic is the restic program of backup secrets and backup status
	// --secrets ("": restic on PATH).
	Restic string
	// Lookup resolves names for omc install's DNS check (nil: the
	// system's DNS).
	Lookup fleet.Resolver
	// Ticker and Screen are omc status --watch's refresh and terminal
	// (default: a time.Ticker, ui.Screen on stdout).
	Ticker func(d time.Duration) (<-chan time.Time, func())
	Screen func(s *ui.Streams) frameWriter
	// Transport reaches the hosts over SSH: its dial and the hosts' lock
	// path (default: remote.Dial, remote's lock path).
	Transport fleet.Transport
}

// newFactory is the real world.
func newFactory() *factory {
	return &factory{
		Now:      time.Now,
		Provider: fleet.NewProvider,
		Ticker: func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		},
		Screen: func(s *ui.Streams) frameWriter { return ui.NewScreen(s.Out, ui.TermSize(s.Out)) },
	}
}

// deps is the run's factory; global options made without one (a test
// calling a run function) get the real one.
func (g *globalOptions) deps() *factory {
	if g.f == nil {
		g.f = newFactory()
	}
	return g.f
}

// provider opens provider name, its lines printed on stderr as they
// come, or with pe (non-nil) its lines and waits going there.
func (f *factory) provider(s *ui.Streams, pe *providerEvents, name string) (providers.Provider, error) {
	o := fleet.ProviderOptions{Version: version, Events: printProviderLines(s)}
	if pe != nil {
		o.Events, o.ProgressEvery = pe.event, pe.every
	}
	return f.openProvider(name, o)
}

func (f *factory) openProvider(name string, o fleet.ProviderOptions) (providers.Provider, error) {
	if f.Provider != nil {
		return f.Provider(name, o)
	}
	return fleet.NewProvider(name, o)
}
