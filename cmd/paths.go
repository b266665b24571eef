package cmd

import (
	"os"
	"path/filepath"
)

// stateDir is where omc keeps run state: known hosts, debug logs, host
// keys it generated. $OMC_STATE_DIR > $XDG_STATE_HOME/omc > ~/.local/state/omc.
func stateDir() string {
	if d := os.Getenv("OMC_STATE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "omc")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "omc-state")
	}
	return filepath.Join(home, ".local", "state", "omc")
}
