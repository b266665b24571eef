package local

import (
	"os"
	"strconv"
	"strings"
)

// Every host's systemd takes several inotify instances of the machine's
// (root's) budget; Debian's default of 128 runs out at a few dozen hosts,
// and then a host's systemd dies at boot with "Too many open files".
const (
	inotifyPath      = "/proc/sys/fs/inotify/max_user_instances"
	inotifyInstances = 8192
)

// ensureInotify raises fs.inotify.max_user_instances when it is below what
// many hosts need, and says so. Failure is not fatal: a host that cannot
// boot reports its own console log.
func (p *Provider) ensureInotify() {
	b, err := os.ReadFile(inotifyPath)
	if err != nil {
		return
	}
	cur, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || cur >= inotifyInstances {
		return
	}
	if err := os.WriteFile(inotifyPath, []byte(strconv.Itoa(inotifyInstances)), 0o644); err != nil {
		p.logf("fs.inotify.max_user_instances is %d and cannot be raised (%v): many hosts may fail to boot", cur, err)
		return
	}
	p.logf("raised fs.inotify.max_user_instances from %d to %d: each local host's systemd needs its own", cur, inotifyInstances)
}
