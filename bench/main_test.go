package main

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
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

// A 500-host bench inventory is the workload once, at the group: omc
// loads it, and every node gets the same steps, its own name rendered in.
func TestOmcInventoryAt500HostsLoads(t *testing.T) {
	d := t.TempDir()
	var hosts []*Host
	for i := 1; i <= 500; i++ {
		name := fmt.Sprintf("loop-%d", i)
		hosts = append(hosts, &Host{Name: name, Addr: "127.0.0.1", Port: 22200 + i, Root: filepath.Join(d, "roots", name), In: filepath.Join(d, "host-root"),
			HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINN5kn6Yb8ggbQ+snYMMP33Qc9ToV8R3xTxNJujey4B9"})
	}
	steps := workload(false, filepath.Join(d, "cert.pem"), filepath.Join(d, "key.pem"))
	path := filepath.Join(d, "omc.yaml")
	if err := writeOmcInventory(path, hosts, steps, false, filepath.Join(d, "id")); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(path)
	if err != nil {
		t.Fatalf("omc refuses the bench's inventory: %v", err)
	}
	nodes := inv.Nodes()
	if len(nodes) != 500 {
		t.Fatalf("%d nodes", len(nodes))
	}
	first, last := nodes[0], nodes[499]
	if len(first.Steps) != len(steps) || len(last.Steps) != len(steps) {
		t.Fatalf("steps: %d and %d, want %d", len(first.Steps), len(last.Steps), len(steps))
	}
	a, err := provision.Steps(inv, first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := provision.Steps(inv, last)
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	for i := range a {
		la, ok := a[i].(*provision.LineStep)
		if !ok {
			continue
		}
		lb := b[i].(*provision.LineStep)
		if !strings.HasPrefix(la.Path, hosts[0].In+"/") || la.Path != lb.Path {
			t.Errorf("line step %d: at %s and %s, want one path under %s", i, la.Path, lb.Path, hosts[0].In)
		}
		if la.Line == lb.Line {
			continue
		}
		lines++
		if !strings.Contains(la.Line, "loop-1") || !strings.Contains(lb.Line, "loop-500") {
			t.Errorf("line step %d: %q and %q, want each node's own name", i, la.Line, lb.Line)
		}
	}
	if lines == 0 {
		t.Fatal("the workload has no line step naming the node")
	}
}
