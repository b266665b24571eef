package roles

import (
	"strings"
	"testing"
)

func TestSettingsHelpIsThePackageDoc(t *testing.T) {
	h := SettingsHelp()
	for _, want := range []string{
		"Settings\n--------\n",
		"\n    bbb_version: \"4.1\"", // a code line, indented
		"backup:",
		"Restarts\n--------\n",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("settings help lacks %q", want)
		}
	}
	for _, bad := range []string{"\n//", "package roles", "Package roles builds"} {
		if strings.Contains(h, bad) {
			t.Errorf("settings help contains %q", bad)
		}
	}
}
