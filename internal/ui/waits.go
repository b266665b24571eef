package ui

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/omc-coop/omc/internal/event"
)

// Waits shows the provider phase: each server's wait for SSH after it
// was made, which can take minutes. On a terminal (live) it keeps one
// redrawn line per server, its state and the time waited, with the
// provider's own lines printed above them; otherwise it prints a plain
// line each time a server reports ("bbb-1: waiting for SSH (1m10s)") and
// the provider's lines as they come.
type Waits struct {
	mu    sync.Mutex
	w     io.Writer
	live  bool
	size  func() (int, int)
	order []string
	state map[string]string
	drawn int
}

// NewWaits reports on w; live redraws in place (a terminal).
func NewWaits(w io.Writer, live bool) *Waits {
	return &Waits{w: w, live: live, size: TermSize(w), state: map[string]string{}}
}

// Event takes a provider's event.
func (w *Waits) Event(e event.Provider) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e.Phase == "log" {
		w.above(e.Message)
		return
	}
	if e.Phase != "wait-ssh" || e.Node == "" {
		return
	}
	line := waitText(e)
	if !w.live {
		fmt.Fprintf(w.w, "%s: %s\n", e.Node, line)
		return
	}
	if _, ok := w.state[e.Node]; !ok {
		w.order = append(w.order, e.Node)
	}
	w.state[e.Node] = line
	w.draw()
}

func waitText(e event.Provider) string {
	el := e.Elapsed.Round(time.Second)
	switch e.State {
	case "ready":
		return fmt.Sprintf("SSH answers (after %s)", el)
	case "failed":
		return fmt.Sprintf("SSH does not answer (after %s)", el)
	case "interrupted":
		return fmt.Sprintf("stopped waiting for SSH (after %s)", el)
	}
	return fmt.Sprintf("waiting for SSH (%s)", el)
}

// above prints a line above the redrawn ones (or just prints it).
func (w *Waits) above(msg string) {
	if !w.live {
		fmt.Fprintln(w.w, msg)
		return
	}
	w.clear()
	fmt.Fprintln(w.w, msg)
	w.draw()
}

func (w *Waits) clear() {
	if w.drawn > 0 {
		fmt.Fprintf(w.w, "\x1b[%dA\x1b[J", w.drawn)
		w.drawn = 0
	}
}

func (w *Waits) draw() {
	w.clear()
	width := 0
	for _, n := range w.order {
		width = max(width, len(n))
	}
	tw, _ := w.size()
	var b strings.Builder
	for _, n := range w.order {
		line := fmt.Sprintf("%-*s  %s", width, n, w.state[n])
		if tw > 0 && lipgloss.Width(line) > tw {
			line = lipgloss.NewStyle().MaxWidth(tw).Render(line)
		}
		b.WriteString("\x1b[2K" + line + "\n")
	}
	w.drawn = len(w.order)
	io.WriteString(w.w, b.String())
}

// Close ends the redrawing; the last lines stay on the screen.
func (w *Waits) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.drawn = 0
	w.order, w.state = nil, map[string]string{}
}
