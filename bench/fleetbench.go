package main

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// fleetBench is one figure of the fleet-command benchmark: the health
// gate of omc status and up's pool sync over 200 fake BBB nodes
// (pool.BenchmarkCheckAll200).
type fleetBench struct {
	Name         string  `json:"name"`
	WallMS       float64 `json:"wall_ms"`
	OverMS       float64 `json:"over_slowest_ms"`
	ConnsPerNode float64 `json:"connections_per_node_per_round"`
}

// runFleet runs pool's BenchmarkCheckAll200 and reads its figures.
func (b *bench) runFleet(ctx context.Context) error {
	b.logf("fleet commands: go test ./pool -bench CheckAll200")
	cmd := exec.CommandContext(ctx, "go", "test", "./pool", "-run", "^$", "-bench", "CheckAll200", "-benchtime", "5x", "-count", "1")
	cmd.Dir = b.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("fleet benchmark: %v\n%s", err, tail(string(out), 2000))
	}
	b.fleet = parseFleetBench(string(out))
	if len(b.fleet) == 0 {
		return fmt.Errorf("fleet benchmark: no figures in\n%s", tail(string(out), 2000))
	}
	for _, f := range b.fleet {
		b.logf("fleet commands %s: %.0f ms a round, %.0f ms over the slowest node, %.2f connections per node per round", f.Name, f.WallMS, f.OverMS, f.ConnsPerNode)
	}
	return nil
}

// parseFleetBench reads lines like
//
//	BenchmarkCheckAll200/default-2  5  476556017 ns/op  0.2000 conns/node/run  76.56 over-ms  476.6 wall-ms
func parseFleetBench(out string) []fleetBench {
	var res []fleetBench
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || !strings.HasPrefix(f[0], "BenchmarkCheckAll200/") {
			continue
		}
		name := strings.TrimPrefix(f[0], "BenchmarkCheckAll200/")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i] // the GOMAXPROCS suffix
		}
		fb := fleetBench{Name: name}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "wall-ms":
				fb.WallMS = v
			case "over-ms":
				fb.OverMS = v
			case "conns/node/run":
				fb.ConnsPerNode = v
			}
		}
		res = append(res, fb)
	}
	return res
}
