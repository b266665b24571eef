package main

import (
	"reflect"
	"testing"
	"time"
)

func TestColdRoundsTakeTurns(t *testing.T) {
	got := coldRounds([]string{"floor", "omc"}, map[string]int{"omc": 4, "floor": 4})
	want := [][]string{{"floor", "omc"}, {"omc", "floor"}, {"floor", "omc"}, {"omc", "floor"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestColdRoundsUnevenRuns(t *testing.T) {
	// Ansible has fewer cold runs than omc and the floor; an arm with none
	// (cold not wanted) never appears.
	got := coldRounds([]string{"ansible", "omc", "floor", "none"}, map[string]int{"omc": 3, "floor": 3, "ansible": 1})
	want := [][]string{{"ansible", "omc", "floor"}, {"omc", "floor"}, {"floor", "omc"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := coldRounds([]string{"omc"}, map[string]int{"omc": 0}); len(got) != 0 {
		t.Fatalf("no runs: got %v", got)
	}
}

// machineBusy counts the machine's busy CPU: it grows while this process
// spins.
func TestMachineBusyCountsWork(t *testing.T) {
	b0 := machineBusy()
	if b0 <= 0 {
		t.Fatalf("machineBusy = %v, want the machine's busy seconds since boot", b0)
	}
	var spent time.Duration
	for start := time.Now(); spent < 200*time.Millisecond; spent = time.Since(start) {
	}
	if d := machineBusy() - b0; d < 0.1 {
		t.Errorf("busy grew by %.2f s while spinning for %v", d, spent)
	}
}

func TestParseFleetBench(t *testing.T) {
	out := "goos: linux\nBenchmarkCheckAll200/default-2         \t       5\t 476556017 ns/op\t         0.2000 conns/node/run\t        76.56 over-ms\t       476.6 wall-ms\n" +
		"BenchmarkCheckAll200/16-no-keepalive-pool-2 5 1865420628 ns/op 1.000 conns/node/run 1465 over-ms 1865 wall-ms\nPASS\n"
	got := parseFleetBench(out)
	want := []fleetBench{{"default", 476.6, 76.56, 0.2}, {"16-no-keepalive-pool", 1865, 1465, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
