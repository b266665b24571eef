package cmd

// The soak (docs/reliability.md): kills of omc and of the SSH server
// during `omc up`, hostile inventories, and a hostile Scalelite and BBB,
// repeated with randomness from a fixed seed. It runs only when asked:
//
//	OMC_SOAK=short go test -run Soak ./cmd/    # CI, about a minute
//	OMC_SOAK=full  go test -run Soak -timeout 2h ./cmd/
//
// OMC_SOAK_SEED changes the seed (default 21). Each category logs one
// "soak:" line with its runs, failures, checks and time; a failure is a
// test error carrying the seed and the run, so it can be replayed.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// soakSeed is the default seed: every run of the soak makes the same
// choices unless OMC_SOAK_SEED says otherwise.
const soakSeed = 21

// soak is one category's run: its random source, its counts and the
// checks it made, logged as one line when the test ends.
type soak struct {
	t        *testing.T
	Full     bool
	Seed     uint64
	R        *rand.Rand
	start    time.Time
	runs     int
	failures int
	checks   map[string]int
	seen     map[string]int // what happened, for the record (not checks)
}

// startSoak skips unless OMC_SOAK is short or full; stream separates the
// categories' random sequences, so one category's runs do not shift
// another's.
func startSoak(t *testing.T, stream uint64) *soak {
	t.Helper()
	full := false
	switch os.Getenv("OMC_SOAK") {
	case "":
		t.Skip("soak: set OMC_SOAK=short (about a minute) or OMC_SOAK=full (docs/reliability.md)")
	case "short":
	case "full":
		full = true
	default:
		t.Fatalf("OMC_SOAK=%q: want short or full", os.Getenv("OMC_SOAK"))
	}
	seed := uint64(soakSeed)
	if s := os.Getenv("OMC_SOAK_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("OMC_SOAK_SEED=%q: %v", s, err)
		}
		seed = v
	}
	s := &soak{t: t, Full: full, Seed: seed, R: rand.New(rand.NewPCG(seed, stream)), start: time.Now(), checks: map[string]int{}, seen: map[string]int{}}
	t.Cleanup(s.report)
	return s
}

// n picks the number of runs: short for CI, full for the record.
func (s *soak) n(short, full int) int {
	if s.Full {
		return full
	}
	return short
}

// check counts a check made; ok false is a failure, reported with the
// run's description so it can be replayed from the seed.
func (s *soak) check(name string, ok bool, format string, args ...any) bool {
	s.t.Helper()
	s.checks[name]++
	if !ok {
		s.failures++
		s.t.Errorf("seed %d: %s: %s", s.Seed, name, fmt.Sprintf(format, args...))
	}
	return ok
}

// saw counts an outcome worth recording, such as where a kill landed.
func (s *soak) saw(what string) { s.seen[what]++ }

func (s *soak) report() {
	names := make([]string, 0, len(s.checks))
	total := 0
	for k, v := range s.checks {
		names = append(names, fmt.Sprintf("%s %d", k, v))
		total += v
	}
	sort.Strings(names)
	var seen []string
	for k, v := range s.seen {
		seen = append(seen, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(seen)
	s.t.Logf("soak: %s: seed %d, %d runs, %d checks, %d failures, %s; checks: %s; seen: %s",
		s.t.Name(), s.Seed, s.runs, total, s.failures, time.Since(s.start).Round(100*time.Millisecond), strings.Join(names, ", "), strings.Join(seen, ", "))
}

// fileHash is the hex SHA-256 of a file, "absent" when it does not exist.
func fileHash(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return "absent"
	}
	if err != nil {
		t.Fatalf("soak: %v", err)
	}
	return textHash(string(b))
}

func textHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// tempFiles lists omc's upload temp files (remote.TempName) under dir.
func tempFiles(dir string) []string {
	var l []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".omc-tmp") {
			l = append(l, p)
		}
		return nil
	})
	return l
}

// taggedProcesses lists the live processes whose environment holds
// OMC_SOAK_TAG=tag: a soak command and everything it started, even
// after they were re-parented.
func taggedProcesses(tag string) []int {
	want := []byte("OMC_SOAK_TAG=" + tag + "\x00")
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && strings.Contains(string(b), string(want)) && running(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// descendants lists pid's live descendants, from /proc's parent links.
func descendants(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	sort.Ints(out)
	return out
}

// cmdline is a process's command line, arguments joined by spaces.
func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// pidsWith lists live processes whose command line contains s.
func pidsWith(s string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err == nil && p != os.Getpid() && strings.Contains(cmdline(p), s) && running(p) {
			out = append(out, p)
		}
	}
	return out
}

// until polls ok every 20 ms for at most d; it reports whether ok held.
func until(d time.Duration, ok func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		if ok() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// maxRSSKiB is the peak resident memory of an exited child, in KiB.
func maxRSSKiB(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss
	}
	return 0
}
