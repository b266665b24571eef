package fleet

import (
	"os"
	"path/filepath"
)

// StateDir is where omc keeps run state: known hosts, debug logs, host
// keys it generated. $OMC_STATE_DIR > $XDG_STATE_HOME/omc > ~/.local/state/omc.
func StateDir() string {
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

// KnownHostsPath is omc's own known-hosts file, in the state dir.
func KnownHostsPath() string { return StateDir() + "/known_hosts" }
