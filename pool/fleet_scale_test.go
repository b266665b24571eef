package pool_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/bbbapi"
	"github.com/omc-coop/omc/pool/fake"
)

// fleet makes n fake BBB nodes, each on a listener of its own (a host
// of its own, as real nodes are), answering after delay; the last one
// after slowest.
func fleet(t testing.TB, n int, delay, slowest time.Duration) (*fake.BBB, []pool.Member) {
	b := fake.NewBBB(t)
	var ms []pool.Member
	for i := range n {
		name := fmt.Sprintf("bbb-%d", i+1)
		node := b.AddNodeAlone(name, "secret-"+name, "3.0.4").RevealVersion(true)
		node.SetDelay(delay)
		if i == n-1 {
			node.SetDelay(slowest)
		}
		ms = append(ms, pool.Member{Node: name, URL: node.URL, Secret: "secret-" + name, ExpectVersion: "3.0"})
	}
	return b, ms
}

// The gate (omc status, up's and pool sync's health checks) calls at
// most Parallel nodes at once, and the shared client's keep-alive makes
// one connection per node: its two calls (the API root, getMeetings) and
// a second round over it, as status --watch makes, reuse it.
func TestCheckAllBoundsConcurrencyAndReusesConnections(t *testing.T) {
	const nodes, par = 60, 8
	b, ms := fleet(t, nodes, 5*time.Millisecond, 5*time.Millisecond)
	g := &pool.Gate{HTTP: bbbapi.NewHTTPClient(10 * time.Second), Parallel: par}
	for round := range 2 {
		for node, h := range g.CheckAll(context.Background(), ms) {
			if !h.OK {
				t.Fatalf("round %d: %s: %v", round, node, h.Problems)
			}
		}
	}
	if got := b.PeakInFlight(); got > par || got < 2 {
		t.Errorf("%d requests at once, want between 2 and Parallel=%d", got, par)
	}
	if got := b.Conns(); got != nodes {
		t.Errorf("%d connections for %d nodes × 2 calls × 2 rounds, want one per node", got, nodes)
	}

	// The default: every one of 200 nodes in one wave.
	b, ms = fleet(t, 200, 20*time.Millisecond, 20*time.Millisecond)
	g = &pool.Gate{HTTP: bbbapi.NewHTTPClient(10 * time.Second)}
	g.CheckAll(context.Background(), ms)
	if got := b.PeakInFlight(); got > bbbapi.FleetParallel || got < 100 {
		t.Errorf("default: %d requests at once for 200 nodes (FleetParallel %d)", got, bbbapi.FleetParallel)
	}
	if got := b.Conns(); got != 200 {
		t.Errorf("default: %d connections for 200 nodes, want 200", got)
	}
}

// BenchmarkCheckAll200 gates 200 fake nodes, each answering after 50 ms
// but one after 200 ms (omc status, up's pool sync). A node costs two
// calls one after the other (the API root, then getMeetings), so the
// slowest node alone takes 400 ms: over-ms is what the whole fleet took
// beyond that. "default" is the gate as omc runs it; "16-no-keepalive-pool"
// the gate before (16 at once, net/http's default transport: 2 idle
// connections per host, 100 in all).
//
//	go test ./pool -run '^$' -bench CheckAll200 -benchtime 5x
func BenchmarkCheckAll200(b *testing.B) {
	const slowest = 200 * time.Millisecond
	for _, c := range []struct {
		name string
		gate func() *pool.Gate
	}{
		{"default", func() *pool.Gate { return &pool.Gate{HTTP: bbbapi.NewHTTPClient(10 * time.Second)} }},
		{"16-no-keepalive-pool", func() *pool.Gate {
			return &pool.Gate{HTTP: &http.Client{Timeout: 10 * time.Second}, Parallel: 16}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			bb, ms := fleet(b, 200, 50*time.Millisecond, slowest)
			g := c.gate()
			ctx := context.Background()
			for b.Loop() {
				for node, h := range g.CheckAll(ctx, ms) {
					if !h.OK {
						b.Fatalf("%s: %v", node, h.Problems)
					}
				}
			}
			per := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(per/1e6, "wall-ms")
			b.ReportMetric((per-float64(2*slowest))/1e6, "over-ms")
			b.ReportMetric(float64(bb.Conns())/200/float64(b.N), "conns/node/run")
		})
	}
}
