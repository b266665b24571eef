package ui

import (
	"io"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// Styles for one stream. lipgloss's default renderer looks at stdout
// only, so each stream gets its own renderer with the profile decided by
// ColorEnabled.
type Styles struct {
	OK, Changed, Pending, Failed, Dim, Bold, Add, Del lipgloss.Style
}

// NewStyles returns styles for w; with color false every style is plain.
func NewStyles(w io.Writer, color bool) Styles {
	r := lipgloss.NewRenderer(w)
	if color {
		r.SetColorProfile(termenv.ANSI256)
	} else {
		r.SetColorProfile(termenv.Ascii)
	}
	return Styles{
		OK:      r.NewStyle().Foreground(lipgloss.Color("2")),
		Changed: r.NewStyle().Foreground(lipgloss.Color("3")),
		Pending: r.NewStyle().Foreground(lipgloss.Color("3")),
		Failed:  r.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
		Dim:     r.NewStyle().Faint(true),
		Bold:    r.NewStyle().Bold(true),
		Add:     r.NewStyle().Foreground(lipgloss.Color("2")),
		Del:     r.NewStyle().Foreground(lipgloss.Color("1")),
	}
}

// Status styles a status word.
func (s Styles) Status(status string) string {
	switch status {
	case "ok":
		return s.OK.Render(status)
	case "changed":
		return s.Changed.Render(status)
	case "pending":
		return s.Pending.Render(status)
	case "failed":
		return s.Failed.Render(status)
	}
	return s.Dim.Render(status)
}
