package sshtest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// newCgroup makes a cgroup for a server: under cgroup v2 (unified, which
// always counts processor time) or v1's cpuacct controller. usage reads a
// cgroup's processor time.
func newCgroup() (dir string, usage func(string) (time.Duration, error), err error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "sshtest-" + hex.EncodeToString(b[:])
	var errs []error
	for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
			continue
		}
		dir = filepath.Join(root, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		return dir, v2Usage, nil
	}
	if _, err := os.Stat("/sys/fs/cgroup/cpuacct/cpuacct.usage"); err == nil {
		dir = filepath.Join("/sys/fs/cgroup/cpuacct", name)
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, v1Usage, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("neither cgroup v2 nor v1's cpuacct is mounted under /sys/fs/cgroup"))
	}
	return "", nil, errors.Join(errs...)
}

// v2Usage reads cpu.stat's usage_usec.
func v2Usage(dir string) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return time.Duration(n) * time.Microsecond, err
		}
	}
	return 0, fmt.Errorf("sshtest: no usage_usec in %s/cpu.stat", dir)
}

// v1Usage reads cpuacct.usage (nanoseconds).
func v1Usage(dir string) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cpuacct.usage"))
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return time.Duration(n), err
}

// removeCgroup removes a server's cgroup once its processes are gone
// (Stop has killed sshd; its sessions end soon after), waiting up to 5s.
func removeCgroup(dir string) {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return
		}
	}
}
