package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/omc-coop/omc/internal/event"
)

// JSONLines is the one writer of `-o json` output, for every command:
// one JSON object per line, each carrying "v" (event.Version) and "type"
// (README, "Machine output"). Write refuses a value without them, so no
// command can drift from the contract; a failing command's last line is
// an "error" object written here too.
type JSONLines struct {
	mu     *sync.Mutex
	w      io.Writer
	redact func(string) string
}

func NewJSONLines(w io.Writer) *JSONLines { return &JSONLines{mu: &sync.Mutex{}, w: w} }

// Redacting is j masking secrets with red in every line it writes; both
// write to the same stream in turn.
func (j *JSONLines) Redacting(red func(string) string) *JSONLines {
	return &JSONLines{mu: j.mu, w: j.w, redact: red}
}

// Event writes an engine event. Its type carries "v" and "type", so only
// their values need a look, not a decode of the line as Write does.
func (j *JSONLines) Event(e event.Event) {
	if e.Type == "" {
		_ = j.Write(e) // refused there, as any value without a type
		return
	}
	b, err := json.Marshal(e)
	if err == nil {
		_ = j.line(b)
	}
}

// Write encodes v as one line. v must encode as an object with "v" and
// "type"; anything else is a bug in omc, reported as an error.
func (j *JSONLines) Write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("writing -o json output: %w", err)
	}
	var head struct {
		V    *int    `json:"v"`
		Type *string `json:"type"`
	}
	if json.Unmarshal(b, &head) != nil || head.V == nil || head.Type == nil || *head.Type == "" {
		return fmt.Errorf("internal error: -o json output %T has no \"v\" and \"type\"", v)
	}
	return j.line(b)
}

func (j *JSONLines) line(b []byte) error {
	line := string(b)
	if j.redact != nil {
		line = j.redact(line)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	_, err := io.WriteString(j.w, line+"\n")
	return err
}

// Lines prints one plain line per interesting event: for logs, pipes, CI.
// Steps that were already in sync are not printed; hosts' final states are.
type Lines struct {
	mu    sync.Mutex
	w     io.Writer
	st    Styles
	Plain bool // also print "ok" steps
}

func NewLines(w io.Writer, st Styles) *Lines { return &Lines{w: w, st: st} }

func (l *Lines) Event(e event.Event) {
	line := l.format(e)
	if line == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.w, line)
}

func (l *Lines) format(e event.Event) string {
	switch e.Type {
	case "host":
		switch e.Status {
		case "connecting", "checking":
			if e.Warning != "" {
				return fmt.Sprintf("%s: warning: %s", e.Host, e.Warning)
			}
			return ""
		case "failed":
			return fmt.Sprintf("%s: %s: %s", e.Host, l.st.Status("failed"), e.Error)
		}
		s := fmt.Sprintf("%s: %s", e.Host, l.st.Status(e.Status))
		if e.Summary != "" {
			s += " (" + e.Summary + ")"
		}
		return s + l.st.Dim.Render(fmt.Sprintf(" in %s", ms(e.DurationMS)))
	case "step", "handler":
		switch e.Status {
		case "ok":
			if !l.Plain {
				return ""
			}
			return fmt.Sprintf("%s: %s: %s", e.Host, e.Step, l.st.Status("ok"))
		case "failed":
			return fmt.Sprintf("%s: %s: %s: %s", e.Host, e.Step, l.st.Status("failed"), e.Error)
		}
		s := fmt.Sprintf("%s: %s: %s", e.Host, e.Step, l.st.Status(e.Status))
		if e.Summary != "" {
			s += " (" + e.Summary + ")"
		}
		return s
	}
	return ""
}

func ms(n int64) string {
	return (time.Duration(n) * time.Millisecond).Round(10 * time.Millisecond).String()
}

// Live redraws one line per host on a terminal: its state and current
// step. Finished hosts keep their final line.
type Live struct {
	mu     sync.Mutex
	w      io.Writer
	st     Styles
	order  []string
	state  map[string]string
	drawn  int
	stop   chan struct{}
	done   chan struct{}
	dirty  bool
	height int
	// size is the terminal's: each line is cropped to its width, since a
	// line that wraps takes two rows and breaks the redraw.
	size func() (width, height int)
}

// NewLive starts redrawing on w every 100 ms until Stop.
func NewLive(w io.Writer, st Styles, hosts []string) *Live {
	return newLive(w, st, hosts, TermSize(w))
}

func newLive(w io.Writer, st Styles, hosts []string, size func() (int, int)) *Live {
	l := &Live{w: w, st: st, order: hosts, state: map[string]string{}, stop: make(chan struct{}), done: make(chan struct{}), height: 40, size: size}
	for _, h := range hosts {
		l.state[h] = st.Dim.Render("waiting")
	}
	go l.loop()
	return l
}

func (l *Live) Event(e event.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s string
	switch {
	case e.Type == "host" && e.Status == "failed":
		s = l.st.Status("failed") + " " + e.Error
	case e.Type == "host" && (e.Status == "connecting" || e.Status == "checking"):
		s = l.st.Dim.Render(e.Status + "…")
	case e.Type == "host":
		s = l.st.Status(e.Status)
		if e.Summary != "" {
			s += " " + e.Summary
		}
		s += l.st.Dim.Render(" " + ms(e.DurationMS))
	case e.Status == "failed":
		s = l.st.Status("failed") + " " + e.Step + ": " + e.Error
	default:
		s = l.st.Dim.Render("applying… ") + e.Step
	}
	l.state[e.Host] = s
	l.dirty = true
}

func (l *Live) loop() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	defer close(l.done)
	for {
		select {
		case <-t.C:
			l.draw()
		case <-l.stop:
			l.draw()
			return
		}
	}
}

func (l *Live) draw() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.dirty && l.drawn > 0 {
		return
	}
	var b strings.Builder
	if l.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", l.drawn)
	}
	tw, th := l.size()
	height := l.height
	if th > 2 {
		height = th - 2 // and the "… more" line, and the cursor's
	}
	hosts := l.order
	if len(hosts) > height {
		hosts = hosts[:height]
	}
	width := 0
	for _, h := range hosts {
		width = max(width, len(h))
	}
	for _, h := range hosts {
		line := fmt.Sprintf("%-*s  %s", width, h, firstLine(l.state[h]))
		if tw > 0 && lipgloss.Width(line) > tw {
			line = lipgloss.NewStyle().MaxWidth(tw).Render(line)
		}
		fmt.Fprintf(&b, "\x1b[2K%s\n", line)
	}
	if n := len(l.order) - len(hosts); n > 0 {
		fmt.Fprintf(&b, "\x1b[2K… and %d more hosts\n", n)
		hosts = append(hosts, "")
	}
	l.drawn = len(hosts)
	l.dirty = false
	io.WriteString(l.w, b.String())
}

// Stop draws the final state and ends the redraw loop.
func (l *Live) Stop() {
	close(l.stop)
	<-l.done
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Multi fans events out to several observers.
type Multi []event.Observer

func (m Multi) Event(e event.Event) {
	for _, o := range m {
		o.Event(e)
	}
}

// Collector keeps every event per host, for reports rendered at the end
// in a stable order (plan text, summaries).
type Collector struct {
	mu     sync.Mutex
	events map[string][]event.Event
}

func NewCollector() *Collector { return &Collector{events: map[string][]event.Event{}} }

func (c *Collector) Event(e event.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events[e.Host] = append(c.events[e.Host], e)
}

// Host returns a host's events in the order they happened.
func (c *Collector) Host(h string) []event.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]event.Event(nil), c.events[h]...)
}

// Hosts returns the hosts seen, sorted.
func (c *Collector) Hosts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var hs []string
	for h := range c.events {
		hs = append(hs, h)
	}
	sort.Strings(hs)
	return hs
}
