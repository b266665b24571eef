package ui

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/event"
)

// On a terminal each server keeps one line, redrawn in place, and the
// provider's own lines go above them.
func TestWaitsLive(t *testing.T) {
	var b bytes.Buffer
	w := NewWaits(&b, true)
	w.Event(event.Provider{Node: "bbb-1", Phase: "wait-ssh", State: "start"})
	w.Event(event.Provider{Node: "bbb-22", Phase: "wait-ssh", State: "start"})
	w.Event(event.Provider{Phase: "log", Message: "hcloud: creating server bbb-3"})
	w.Event(event.Provider{Node: "bbb-1", Phase: "wait-ssh", State: "waiting", Elapsed: 70*time.Second + 400*time.Millisecond})
	w.Event(event.Provider{Node: "bbb-22", Phase: "wait-ssh", State: "ready", Elapsed: 80 * time.Second})
	w.Close()
	out := b.String()
	// The final frame: the cursor goes up over the two lines and redraws both.
	last := out[strings.LastIndex(out, "\x1b[2A\x1b[J"):]
	if want := "\x1b[2A\x1b[J\x1b[2Kbbb-1   waiting for SSH (1m10s)\n\x1b[2Kbbb-22  SSH answers (after 1m20s)\n"; last != want {
		t.Errorf("last frame %q, want %q", last, want)
	}
	if !strings.Contains(out, "\x1b[2A\x1b[Jhcloud: creating server bbb-3\n\x1b[2Kbbb-1 ") {
		t.Errorf("log line not above the board: %q", out)
	}
}

func TestWaitsPlain(t *testing.T) {
	var b bytes.Buffer
	w := NewWaits(&b, false)
	w.Event(event.Provider{Phase: "log", Message: "robot: bbb-1: activating rescue"})
	w.Event(event.Provider{Node: "bbb-1", Phase: "wait-ssh", State: "waiting", Elapsed: 70 * time.Second})
	w.Event(event.Provider{Node: "bbb-1", Phase: "wait-ssh", State: "failed", Elapsed: 300 * time.Second})
	if want := "robot: bbb-1: activating rescue\nbbb-1: waiting for SSH (1m10s)\nbbb-1: SSH does not answer (after 5m0s)\n"; b.String() != want {
		t.Errorf("%q", b.String())
	}
}
