package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Phases of a host's life, as written in its state file. A host stays in
// phaseCreating until its first boot answered on SSH; one found in that
// phase with nobody holding its inventory's lock was abandoned by a crash
// and is removed by Cleanup.
// A host is put in phaseDeleting before its tree is removed, so that a
// delete cut short (Ctrl-C, a crash) is finished by the next Cleanup
// instead of the host being booted again from a half-removed disk.
const (
	phaseCreating = "creating"
	phaseReady    = "ready"
	phaseDeleting = "deleting"
)

// state is a host's state.json: everything needed to find, stop and
// rebuild the host without the inventory.
type state struct {
	Version   int    `json:"version"`
	Inventory string `json:"inventory"`
	Group     string `json:"group"`
	Node      string `json:"node"`
	Image     string `json:"image"`
	Phase     string `json:"phase"`
	// NetNS is both the network namespace and the machine-side veth name.
	NetNS string `json:"netns"`
	// Subnet is the host's /30; MachineAddr and HostAddr are its .1 and .2.
	Subnet      string `json:"subnet"`
	MachineAddr string `json:"machine_addr"`
	HostAddr    string `json:"host_addr"`
	// Rootfs is "overlay" (upper/work over the image) or "copy".
	Rootfs  string `json:"rootfs"`
	HostKey string `json:"host_key"`
	// PID is systemd-nspawn's, 0 when never booted.
	PID int `json:"pid"`
	// Cgroups are the host's own cgroups (cgroup.go), removed when it stops.
	Cgroups []string  `json:"cgroups,omitempty"`
	Created time.Time `json:"created"`
	Booted  time.Time `json:"booted,omitzero"`

	dir string // the host dir; not stored
	// exited is closed when the nspawn this process booted ends; nil for
	// a host booted by an earlier omc. Not stored.
	exited <-chan struct{}
}

const stateVersion = 1

func readState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, err
	}
	st := &state{}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "state.json"), err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("%s: state version %d, this omc reads %d", filepath.Join(dir, "state.json"), st.Version, stateVersion)
	}
	st.dir = dir
	return st, nil
}

// write replaces state.json atomically, so a crash leaves the old or the
// new file, never half of one.
func (st *state) write() error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(st.dir, "state.json"), append(b, '\n'), 0o600)
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// running reports whether the recorded nspawn process is alive and is
// really the nspawn that boots this host (pids get reused).
func (st *state) running() bool {
	if st.exited != nil {
		// Booted by this process: /proc can lag right after the start.
		select {
		case <-st.exited:
			return false
		default:
			return true
		}
	}
	return st.PID > 0 && isOurNspawn(st.PID, st.rootDir())
}

func (st *state) rootDir() string { return filepath.Join(st.dir, "rootfs") }

// status is the word List reports.
func (st *state) status() string {
	switch {
	case st.running() && st.Phase == phaseReady:
		return "running"
	case st.Phase == phaseCreating:
		return "creating"
	}
	return "stopped"
}

// isOurNspawn checks /proc: a live (not zombie) systemd-nspawn whose
// command line names root as its directory.
func isOurNspawn(pid int, root string) bool {
	if !alive(pid) {
		return false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "systemd-nspawn" {
		return false
	}
	return cmdlineHas(pid, root)
}

func cmdlineHas(pid int, arg string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	for _, a := range strings.Split(string(b), "\x00") {
		if a == arg {
			return true
		}
	}
	return false
}

// alive is true for an existing process that is not a zombie: our own
// children stay in /proc as zombies until reaped.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Field 3, after the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] != 'Z' && s[i+2] != 'X'
}

// waitGone polls until pid is gone or d has passed.
func waitGone(ctx context.Context, pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive(pid) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return !alive(pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// fileLock is an flock(2) lock. The kernel drops it when the process
// dies, which is what lets Cleanup tell an abandoned host from one
// another omc is still making.
type fileLock struct{ f *os.File }

// lockFile takes an exclusive lock on path, polling until ctx ends.
func lockFile(ctx context.Context, path string) (*fileLock, error) {
	for {
		l, err := tryLockFile(path)
		if err != nil || l != nil {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for lock %s (another omc is using it): %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tryLockFile returns nil, nil when someone else holds the lock.
func tryLockFile(path string) (*fileLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	return &fileLock{f}, nil
}

func (l *fileLock) unlock() {
	if l != nil {
		l.f.Close()
	}
}
