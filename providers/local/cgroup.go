package local

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/omc-coop/omc/internal/shell"
)

// Each host's systemd-nspawn starts in a cgroup of its own. With
// --register=no --keep-unit, nspawn puts the container below the cgroup
// it was started in (payload/, supervisor/), so hosts started by one
// process all shared one payload/: every host's systemd managed the same
// payload/system.slice/UNIT.service cgroups, and a short-lived unit
// finishing on one host removed the cgroup another host was just starting
// the same unit in, which failed there with status=219/CGROUP (seen for
// nftables.service now and then, with 20 hosts converging at once).

// hostCgroups are the directories the host with key gets, one in each
// cgroup hierarchy nspawn uses (the unified v2 one, and v1's name=systemd
// where the machine has it), below this process's own cgroup there.
func hostCgroups(key string) ([]string, error) {
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return cgroupDirs(string(own), string(mounts), key), nil
}

// cgroupDirs reads /proc/self/cgroup (own) and /proc/self/mountinfo
// (mounts): for the v2 hierarchy and v1's name=systemd, where this process
// is and where that hierarchy is mounted, the directory key below it.
func cgroupDirs(own, mounts, key string) []string {
	// hierarchy ("" for v2, "name=systemd") → mount point and mount root
	type mnt struct{ point, root string }
	mounted := map[string]mnt{}
	sc := bufio.NewScanner(strings.NewReader(mounts))
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			continue
		}
		var h string
		switch {
		case g[0] == "cgroup2":
			h = ""
		case g[0] == "cgroup" && slices.Contains(strings.Split(g[2], ","), "name=systemd"):
			h = "name=systemd"
		default:
			continue
		}
		if _, seen := mounted[h]; !seen {
			mounted[h] = mnt{point: unescapeMount(f[4]), root: unescapeMount(f[3])}
		}
	}
	var dirs []string
	for _, l := range strings.Split(own, "\n") {
		// ID:CONTROLLERS:PATH
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		h := parts[1]
		if h != "" && h != "name=systemd" {
			continue
		}
		m, ok := mounted[h]
		if !ok {
			continue
		}
		rel, ok := strings.CutPrefix(parts[2], m.root)
		if !ok {
			continue
		}
		dirs = append(dirs, filepath.Join(m.point, rel, key))
	}
	slices.Sort(dirs)
	return dirs
}

// makeCgroups creates dirs; on the first that cannot be made (a read-only
// cgroupfs, say), it removes what it made and says why.
func makeCgroups(dirs []string) error {
	for i, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil && !os.IsExist(err) {
			removeCgroups(dirs[:i])
			return err
		}
	}
	return nil
}

// removeCgroups removes dirs and the cgroups nspawn and the host's systemd
// made below them, deepest first; a cgroup that still has processes stays.
func removeCgroups(dirs []string) {
	for _, d := range dirs {
		var all []string
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				all = append(all, p)
			}
			return nil
		})
		for i := len(all) - 1; i >= 0; i-- {
			os.Remove(all[i])
		}
	}
}

// intoCgroups is a shell script that moves the shell into dirs and then
// execs its arguments: a child cannot be moved between fork and exec from
// Go, and nspawn reads its own cgroup as soon as it starts. A move that
// fails is said (on the console log) and the host boots where it is.
func intoCgroups(dirs []string) string {
	var b strings.Builder
	for _, d := range dirs {
		f := shell.Quote(filepath.Join(d, "cgroup.procs"))
		b.WriteString("echo $$ > " + f + " || echo \"omc: could not enter cgroup \"" + f + " >&2\n")
	}
	b.WriteString(`exec "$0" "$@"`)
	return b.String()
}
