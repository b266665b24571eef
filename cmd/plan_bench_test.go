package cmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/remote"
)

// BenchmarkPlan1000Nodes runs omc plan over 1,000 static nodes that
// each carry ten 80 KB inline files (from defaults.steps), every file
// one line away from what the "host" has, so every step shows a diff.
// The hosts are stood in by a local shell (the probes run for real, on
// files in a temp dir), so what is measured is omc's own work: building
// steps, rendering, planning, diffing, reporting. peak-heap-MiB is the
// largest live heap seen while it runs; it must depend on --parallel,
// not on the number of nodes times their content.
//
//	go test ./cmd -run '^$' -bench Plan1000 -benchtime 1x
func BenchmarkPlan1000Nodes(b *testing.B) {
	for _, c := range []struct {
		name  string
		nodes int
		// perNode puts the node's name in each file, so no two nodes'
		// content is alike and none can be shared.
		perNode  bool
		parallel int
	}{
		{"shared/p20", 1000, false, 20},
		{"per-node/p20", 1000, true, 20},
		{"per-node/p5", 1000, true, 5},
		// The same with a quarter of the fleet: the peak must not move much.
		{"per-node/p20/250-nodes", 250, true, 20},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := b.TempDir()
			b.Setenv("OMC_STATE_DIR", filepath.Join(d, "state"))
			b.Setenv("OMC_INVENTORY", "")
			b.Setenv("NO_COLOR", "1")
			inv := benchInventory(b, d, c.nodes, 10, 80<<10, c.perNode)

			peak := watchHeap()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				// The plan text goes to a counter, as to a terminal: kept,
				// 1,000 hosts' diffs would weigh on the heap measured.
				out := &lineCounter{word: "update content"}
				var errb bytes.Buffer
				s := &ui.Streams{In: strings.NewReader(""), Out: out, Err: &errb, CI: true}
				if code := mainWith(s, []string{"plan", "-i", inv, "--parallel", fmt.Sprint(c.parallel)}, localShell); code != ExitPending {
					b.Fatalf("code %d\n%s", code, errb.String())
				}
				if out.n != 10*c.nodes {
					b.Fatalf("%d content changes shown, want %d", out.n, 10*c.nodes)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MiB")
		})
	}
}

// localShell stands a local shell in for every host's SSH connection.
func localShell(f *factory) {
	f.Transport.Connect = func(context.Context, remote.Config) (provision.Conn, error) { return shellConn{}, nil }
}

// benchInventory writes an inventory of nodes static nodes whose
// defaults give each files files of size bytes, and the files as the
// hosts have them: each differs from what omc wants in one line.
func benchInventory(b *testing.B, d string, nodes, files, size int, perNode bool) string {
	var inv strings.Builder
	inv.WriteString("apiVersion: omc/v1\nname: bench\ndefaults:\n  steps:\n")
	for f := range files {
		path := filepath.Join(d, fmt.Sprintf("f%d.conf", f))
		var want, have strings.Builder
		for l := 0; want.Len() < size; l++ {
			line := fmt.Sprintf("file %d line %05d: setting_%d = %s\n", f, l, l, strings.Repeat("v", 40))
			want.WriteString(line)
			if l == 500 {
				line = "changed by hand\n"
			}
			have.WriteString(line)
		}
		if err := os.WriteFile(path, []byte(have.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&inv, "    - file:\n        path: %s\n        content: |\n", path)
		if perNode {
			// First line, so the diff (around line 501) stays alike.
			inv.WriteString("          # {{ .Node.Name }}\n")
		}
		for _, l := range strings.SplitAfter(want.String(), "\n") {
			if l != "" {
				inv.WriteString("          " + l)
			}
		}
		if perNode {
			if err := os.WriteFile(path, []byte("# node\n"+have.String()), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	inv.WriteString("groups:\n  g:\n    provider: static\n    nodes:\n")
	for n := range nodes {
		fmt.Fprintf(&inv, "      - {name: n%04d, address: 127.0.0.1}\n", n)
	}
	p := filepath.Join(d, "omc.yaml")
	if err := os.WriteFile(p, []byte(inv.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// watchHeap samples the live heap until the returned function is
// called, which returns the largest value seen.
func watchHeap() func() uint64 {
	const name = "/memory/classes/heap/objects:bytes"
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var peak uint64
	runtime.GC()
	wg.Add(1)
	go func() {
		defer wg.Done()
		sample := []metrics.Sample{{Name: name}}
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		wg.Wait()
		return peak
	}
}

// shellConn is a "host" that is this machine's /bin/sh: plan only reads.
type shellConn struct{}

func (shellConn) Run(ctx context.Context, script string) (provision.RunResult, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code, err = ee.ExitCode(), nil
	}
	return provision.RunResult{Stdout: out.Bytes(), Stderr: errb.Bytes(), ExitCode: code}, err
}

func (shellConn) Batch(context.Context, []provision.Op) ([]provision.RunResult, error) {
	return nil, fmt.Errorf("benchmark host: plan does not change anything")
}

func (shellConn) ReadFile(_ context.Context, path string) ([]byte, error) { return os.ReadFile(path) }

func (shellConn) WriteFile(context.Context, string, []byte, os.FileMode, int, int) error {
	return fmt.Errorf("benchmark host: plan does not write")
}

func (shellConn) Lock(context.Context, string) (string, error) { return "", nil }
func (shellConn) Unlock(context.Context) error                 { return nil }
func (shellConn) Close() error                                 { return nil }

// lineCounter counts the writes that contain word (the plan writes a
// line at a time) and drops them.
type lineCounter struct {
	word string
	n    int
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n += bytes.Count(p, []byte(c.word))
	return len(p), nil
}
