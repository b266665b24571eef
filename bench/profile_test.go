package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omc-coop/omc/cmd"
	"github.com/omc-coop/omc/internal/ui"
)

// BenchmarkUpNoop runs omc up in this process (cmd.Main) against N
// loopback sshd hosts that are already converged: a no-op re-run, the
// hosts real sshd processes of their own, so that a CPU profile of this
// process is omc's controller and nothing else. N is $BENCH_N (default
// 200). It needs root and sshd, like the bench; it is skipped otherwise.
//
// $BENCH_CPUPROFILE names a CPU profile of the timed runs only (go test's
// -cpuprofile would include the hosts' setup and the converging run):
//
//	BENCH_N=200 BENCH_CPUPROFILE=/tmp/cpu.out go test ./bench -run '^$' -bench UpNoop -benchtime 5x -o /tmp/bench.test
//	go tool pprof -top /tmp/bench.test /tmp/cpu.out
func BenchmarkUpNoop(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (a mount namespace per host)")
	}
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		b.Skip("needs /usr/sbin/sshd")
	}
	n := 200
	if v := os.Getenv("BENCH_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("BENCH_N=%q", v)
		}
	}
	raiseNoFile()
	ctx := context.Background()
	work := b.TempDir()
	bb := &bench{c: config{work: work}}
	if err := bb.keys(); err != nil {
		b.Fatal(err)
	}
	f, err := newLoopFleet(ctx, filepath.Join(work, "fleet"), n, bb.keyFile+".pub")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close(ctx)
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	e := &env{work: filepath.Join(work, "n"), self: self, keyFile: bb.keyFile, fleet: f, hosts: f.Hosts(),
		steps: workload(false, bb.cert, bb.certKey)}
	if err := e.setup(); err != nil {
		b.Fatal(err)
	}
	if err := f.Reset(ctx, n); err != nil {
		b.Fatal(err)
	}
	// Converged by omc itself, in this process, once.
	state := filepath.Join(e.work, "omc-state")
	b.Setenv("CI", "true")
	b.Setenv("OMC_STATE_DIR", state)
	b.Setenv("OMC_INVENTORY", "")
	up := func() string {
		var out, errb bytes.Buffer
		s := &ui.Streams{In: strings.NewReader(""), Out: &out, Err: &errb, CI: true}
		if code := cmd.Main(s, append([]string{"up", "bench", "-i", e.omcInv, "-o", "json"}, strings.Fields(os.Getenv("BENCH_ARGS"))...)); code != 0 {
			b.Fatalf("omc up: exit %d\n%s", code, tail(out.String()+errb.String(), 3000))
		}
		return out.String()
	}
	up()
	// The profile covers the timed no-op runs only, not the setup.
	if p := os.Getenv("BENCH_CPUPROFILE"); p != "" {
		pf, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			b.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	b.ResetTimer()
	cpu0 := selfCPU()
	for b.Loop() {
		if out := up(); strings.Contains(out, `"status":"changed"`) {
			b.Fatalf("no-op changed something:\n%s", tail(out, 2000))
		}
	}
	// The controller's processor time per run, the figure the matrix
	// compares with the floor's (the hosts' sshd are other processes).
	b.ReportMetric(float64((selfCPU()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// selfCPU is this process's user and system time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
