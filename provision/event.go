package provision

// EventVersion is the version of the JSON event schema (`-o json`).
// Consumers should ignore fields they do not know; a field's meaning never
// changes within a version.
const EventVersion = 1

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
