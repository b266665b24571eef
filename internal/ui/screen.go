package ui

import (
	"io"
	"os"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"golang.org/x/term"
)

// Screen redraws whole frames in place on a terminal (omc status
// --watch): the first frame clears the screen, every later one starts
// again at the top left and clears what the previous frame left below
// it. Each frame is cropped to the terminal's size so it never scrolls.
// Close shows the cursor again and leaves the last frame on the screen.
type Screen struct {
	w       io.Writer
	size    func() (width, height int)
	started bool
}

// NewScreen draws on w; size reports the terminal's size (0 = unknown,
// nothing is cropped).
func NewScreen(w io.Writer, size func() (width, height int)) *Screen {
	if size == nil {
		size = func() (int, int) { return 0, 0 }
	}
	return &Screen{w: w, size: size}
}

// TermSize returns a size func for w: the terminal's when w is one.
func TermSize(w io.Writer) func() (int, int) {
	return func() (int, int) {
		f, ok := w.(*os.File)
		if !ok {
			return 0, 0
		}
		wd, ht, err := term.GetSize(int(f.Fd()))
		if err != nil {
			return 0, 0
		}
		return wd, ht
	}
}

const (
	escHome       = "\x1b[H"
	escClear      = "\x1b[2J"
	escClearLine  = "\x1b[K"
	escClearBelow = "\x1b[J"
	escHideCursor = "\x1b[?25l"
	escShowCursor = "\x1b[?25h"
)

// Draw replaces what is on the screen with frame.
func (s *Screen) Draw(frame string) error {
	var b strings.Builder
	if !s.started {
		b.WriteString(escHideCursor + escHome + escClear)
		s.started = true
	} else {
		b.WriteString(escHome)
	}
	b.WriteString(Crop(frame, s.size))
	b.WriteString(escClearBelow)
	_, err := io.WriteString(s.w, b.String())
	return err
}

// Close shows the cursor again, below the last frame.
func (s *Screen) Close() error {
	if !s.started {
		return nil
	}
	_, err := io.WriteString(s.w, escShowCursor)
	return err
}

// Crop cuts frame to the terminal's width (ANSI-aware) and to one line
// less than its height (the cursor's line), ends every line with a
// clear-to-end-of-line, and ends the frame with a newline.
func Crop(frame string, size func() (int, int)) string {
	width, height := size()
	lines := strings.Split(strings.TrimRight(frame, "\n"), "\n")
	if height > 1 && len(lines) > height-1 {
		lines = lines[:height-1]
	}
	var b strings.Builder
	for _, l := range lines {
		if width > 0 && lipgloss.Width(l) > width {
			l = lipgloss.NewStyle().MaxWidth(width).Render(l)
		}
		b.WriteString(l + escClearLine + "\n")
	}
	return b.String()
}
