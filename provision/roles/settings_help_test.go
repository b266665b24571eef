package roles

import (
	"strings"
	"testing"
)

func TestSettingsNotesAreThePackageDoc(t *testing.T) {
	h := SettingsNotes()
	for _, want := range []string{
		"How the roles read settings\n---------------------------\n",
		"inventory.Settings",
		"Backups make one snapshot",
		"Restarts\n--------\n",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("settings notes lack %q", want)
		}
	}
	for _, bad := range []string{"\n//", "package roles", "Package roles builds"} {
		if strings.Contains(h, bad) {
			t.Errorf("settings notes contain %q", bad)
		}
	}
}
