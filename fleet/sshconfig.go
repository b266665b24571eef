package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/omc-coop/omc/remote"
)

// userSSHConfigPath is the OpenSSH client configuration omc honours, as
// ssh -F would take it: $OMC_SSH_CONFIG ("none": no file), else
// ~/.ssh/config under $HOME.
func userSSHConfigPath() string {
	if p := os.Getenv("OMC_SSH_CONFIG"); p != "" {
		if p == "none" {
			return ""
		}
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".ssh", "config")
}

// sshConfigs keeps the file parsed once for all of a run's nodes (and
// again only when it changes), so that a fleet costs one parse and a bad
// file one error.
var sshConfigs struct {
	sync.Mutex
	path string
	mod  time.Time
	size int64
	c    *remote.SSHConfig
	err  error
}

// userSSHConfig reads userSSHConfigPath.
func userSSHConfig() (*remote.SSHConfig, error) {
	path := userSSHConfigPath()
	var mod time.Time
	var size int64
	if fi, err := os.Stat(path); err == nil {
		mod, size = fi.ModTime(), fi.Size()
	}
	sshConfigs.Lock()
	defer sshConfigs.Unlock()
	if sshConfigs.c == nil && sshConfigs.err == nil || sshConfigs.path != path || !sshConfigs.mod.Equal(mod) || sshConfigs.size != size {
		sshConfigs.path, sshConfigs.mod, sshConfigs.size = path, mod, size
		sshConfigs.c, sshConfigs.err = remote.LoadSSHConfig(path)
		if sshConfigs.err != nil {
			sshConfigs.err = fmt.Errorf("%w (omc reads it as ssh does; OMC_SSH_CONFIG=none skips it, OMC_SSH_CONFIG=FILE reads another)", sshConfigs.err)
		}
	}
	return sshConfigs.c, sshConfigs.err
}
