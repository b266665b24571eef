package roles

import (
	_ "embed"
	"strings"
)

// docSource is this package's documentation, so that omc help settings
// shows, after the settings reference (inventory.SettingsHelp), the notes
// on how the roles use them that go doc shows, from one source.
//
//go:embed doc.go
var docSource string

// SettingsNotes is the package documentation from its first heading
// on, as plain text for a terminal: headings underlined, code
// blocks indented by four spaces.
func SettingsNotes() string {
	var b strings.Builder
	on := false
	for _, line := range strings.Split(docSource, "\n") {
		text, ok := strings.CutPrefix(line, "//")
		if !ok {
			continue
		}
		if h, ok := strings.CutPrefix(text, " # "); ok {
			on = true
			b.WriteString(h + "\n" + strings.Repeat("-", len(h)) + "\n")
			continue
		}
		if !on {
			continue
		}
		switch {
		case strings.HasPrefix(text, "\t"):
			text = "    " + text[1:]
		default:
			text = strings.TrimPrefix(text, " ")
		}
		b.WriteString(text + "\n")
	}
	return strings.TrimLeft(b.String(), "\n")
}
