package provision

import "github.com/omc-coop/omc/internal/event"

// The engine's events live in internal/event, beneath the renderer
// (internal/ui), so that ui need not import provision. These names keep
// the engine's API as it was.

// EventVersion is the version of the JSON event schema (`-o json`).
const EventVersion = event.Version

// Event is one thing that happened to one host.
type Event = event.Event

// Observer receives events. It is called from many goroutines at once.
type Observer = event.Observer

// ObserverFunc adapts a function to Observer.
type ObserverFunc = event.ObserverFunc
