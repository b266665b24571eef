package cmd

import (
	"fmt"
	"sync"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/event"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/providers"
)

// poolEnv is the factory's pool dependencies (a test's stand-ins, or
// none), its transport and provider opener, with what the command line
// renders filled in: the providers' lines, the engine's events and the
// host keys on stderr, each pool change as reportChange shows it.
func poolEnv(s *ui.Streams, g *globalOptions) *fleet.PoolDeps {
	f := g.deps()
	var e fleet.PoolDeps
	if f.Pool != nil {
		e = *f.Pool
	}
	e.Version = version
	e.Transport = f.Transport
	if e.ProviderEvents == nil {
		e.ProviderEvents = printProviderLines(s)
	}
	if e.Provider == nil {
		events := e.ProviderEvents
		e.Provider = func(grp *inventory.Group) (providers.Provider, error) {
			return f.openProvider(grp.Provider, fleet.ProviderOptions{Version: version, Events: events})
		}
	}
	if e.Observer == nil {
		e.Observer = ui.NewLines(s.Err, ui.NewStyles(s.Err, s.ErrColor))
	}
	if e.OnNewKey == nil {
		e.OnNewKey = newKeyReporter(s, nil)
	}
	if e.Change == nil {
		e.Change = func(ev event.Pool) { renderPoolChange(s, g, ev) }
	}
	return &e
}

var reportMu sync.Mutex

// reportChange tells what a pool operation did: a line on stderr, or a
// JSON line on stdout with -o json.
func reportChange(s *ui.Streams, g *globalOptions, red *redact.Redactor, group string, c pool.Change) {
	renderPoolChange(s, g, event.Pool{V: event.Version, Type: "pool", Pool: group, Node: c.Node, Action: c.Action, Detail: red.String(c.Detail)})
}

func renderPoolChange(s *ui.Streams, g *globalOptions, ev event.Pool) {
	reportMu.Lock()
	defer reportMu.Unlock()
	if g.json() {
		_ = g.jsonOut(s).Write(ev)
		return
	}
	fmt.Fprintf(s.Err, "%s: pool %s: %s %s\n", ev.Node, ev.Pool, ev.Action, ev.Detail)
}
