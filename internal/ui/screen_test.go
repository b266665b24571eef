package ui

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/charmbracelet/lipgloss"

	"github.com/omc-coop/omc/internal/event"
)

func TestScreenClearsOnceThenRedrawsInPlace(t *testing.T) {
	var b bytes.Buffer
	s := NewScreen(&b, func() (int, int) { return 10, 4 })
	if err := s.Draw("first\nframe\n"); err != nil {
		t.Fatal(err)
	}
	want := "\x1b[?25l\x1b[H\x1b[2Jfirst\x1b[K\nframe\x1b[K\n\x1b[J"
	if got := b.String(); got != want {
		t.Fatalf("first frame %q, want %q", got, want)
	}
	b.Reset()
	// Too wide and too tall: cropped to 10 columns and 3 lines (the
	// fourth is the cursor's), never scrolling the terminal.
	s.Draw("0123456789abcdef\n2\n3\n4\n5")
	want = "\x1b[H0123456789\x1b[K\n2\x1b[K\n3\x1b[K\n\x1b[J"
	if got := b.String(); got != want {
		t.Fatalf("second frame %q, want %q", got, want)
	}
	b.Reset()
	s.Close()
	if b.String() != "\x1b[?25h" {
		t.Fatalf("close wrote %q", b.String())
	}
}

func TestScreenCropKeepsColourCodesWhole(t *testing.T) {
	line := "\x1b[31mredredred\x1b[0m tail"
	got := Crop(line, func() (int, int) { return 5, 0 })
	if !strings.HasPrefix(got, "\x1b[31mredre") || strings.Contains(got, "tail") || lipgloss.Width(got) != 5 {
		t.Fatalf("cropped %q", got)
	}
}

func TestScreenUnknownSizeCropsNothingAndCloseBeforeDrawIsQuiet(t *testing.T) {
	var b bytes.Buffer
	s := NewScreen(&b, nil)
	s.Close()
	if b.Len() != 0 {
		t.Fatalf("close before draw wrote %q", b.String())
	}
	long := strings.Repeat("x", 500)
	s.Draw(long)
	if !strings.Contains(b.String(), long) {
		t.Fatal("a frame was cropped without a known size")
	}
}

// The live per-host view crops each line to the terminal's width: a
// wrapped line takes two rows, and moving up one row per host would then
// leave debris.
func TestLiveCropsLinesToTheWidth(t *testing.T) {
	var b syncBuffer
	l := newLive(&b, NewStyles(&b, false), []string{"bbb-1", "bbb-22"}, func() (int, int) { return 30, 24 })
	l.Event(event.Event{Host: "bbb-1", Type: "step", Step: strings.Repeat("a very long step name ", 5)})
	l.Stop()
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		line = strings.TrimPrefix(line, "\x1b[2K")
		if lipgloss.Width(line) > 30 {
			t.Errorf("line wider than the terminal (%d): %q", lipgloss.Width(line), line)
		}
	}
	if !strings.Contains(b.String(), "bbb-1   applying… a very") {
		t.Errorf("the line lost its start: %q", b.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
