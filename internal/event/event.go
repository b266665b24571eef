// Package event holds what the domain reports while it works: the
// engine's per-host events and results, and the providers' progress. It
// sits beneath provision, providers and internal/ui so the renderer reads
// these types without importing the packages that emit them.
package event

import "time"

// Version is the version of the JSON event schema (`-o json`).
// Consumers should ignore fields they do not know; a field's meaning never
// changes within a version.
const Version = 1

// Event is one thing that happened to one host. It is the single source of
// every output form: live progress, plain lines and JSON lines.
type Event struct {
	V    int    `json:"v"`
	Type string `json:"type"` // "host", "step", "handler"
	Host string `json:"host"`
	Step string `json:"step,omitempty"`
	// Status of a host: "connecting", "checking", "applying", "ok",
	// "changed", "pending" (plan: changes to make), "failed".
	// Status of a step or handler: "ok", "changed", "pending", "failed".
	Status     string `json:"status"`
	Summary    string `json:"summary,omitempty"`
	Diff       string `json:"diff,omitempty"`
	Error      string `json:"error,omitempty"`
	Warning    string `json:"warning,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`
}

// Observer receives events. It is called from many goroutines at once.
type Observer interface {
	Event(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

func (f ObserverFunc) Event(e Event) { f(e) }

// Result is what happened on one host.
type Result struct {
	Host    string
	Changed int // steps changed (Apply) or pending (Plan)
	Err     error
	Elapsed time.Duration
}

// Failed reports whether the host failed.
func (r Result) Failed() bool { return r.Err != nil }

// Provider is one thing a provider did or is waiting for, for progress
// on the screen and the run's debug log: a line it logged (Phase "log"),
// or a node's wait for SSH (Phase "wait-ssh", State "start", "waiting",
// "ready", "failed" or "interrupted", with the time waited so far).
type Provider struct {
	Provider string
	Node     string
	Phase    string
	State    string
	Elapsed  time.Duration
	Message  string
	Err      error
}

// Pool is one change a pool operation made (or, in a dry run, would
// make) to a Scalelite pool, as a JSON line (version 1, type "pool"):
// Action "add", "update", "enable", "cordon", "remove", "skip", "held"…;
// Detail is masked before it is reported.
type Pool struct {
	V      int    `json:"v"`
	Type   string `json:"type"` // "pool"
	Pool   string `json:"pool"` // the group
	Node   string `json:"node"`
	Action string `json:"action"`
	Detail string `json:"detail,omitempty"`
}

// Drain is a node's state in its pool while a drain waits for its
// meetings to end, told each time Scalelite reports it changed.
type Drain struct {
	Pool  string // the group
	Node  string
	State string // "cordoned", "disabled"…
	Load  string
}
