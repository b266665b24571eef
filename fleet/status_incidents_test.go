package fleet

import (
	"fmt"
	"testing"
	"time"
)

func TestStatusIncidentLogRecordsOnlyTurns(t *testing.T) {
	healthy := func(ok ...bool) *StatusResult {
		p := PoolStatus{Group: "eu"}
		for i, h := range ok {
			p.Nodes = append(p.Nodes, NodeStatus{Node: fmt.Sprintf("n%d", i), Healthy: h, Problems: map[bool][]string{false: {"down"}}[h]})
		}
		return &StatusResult{Pools: []PoolStatus{p}}
	}
	l := NewIncidentLog()
	at := time.Date(2026, 11, 5, 9, 30, 0, 0, time.UTC)
	steps := []struct {
		st      *StatusResult
		changed bool
		total   int
	}{
		{healthy(true, true), true, 0},  // first sight, healthy: no incident
		{healthy(true, true), false, 0}, // nothing turned: nothing to write
		{healthy(true, false), true, 1},
		{healthy(true, false), false, 1},
		{&StatusResult{Pools: []PoolStatus{{Group: "eu", Error: "connection refused"}}}, true, 2}, // nodes unknown: kept
		{healthy(true, true), true, 4}, // n1 recovered, Scalelite answers
		{healthy(true), true, 4},       // n1 left the inventory: forgotten, no incident
	}
	for i, s := range steps {
		at = at.Add(time.Minute)
		if ch := l.Observe(s.st, at); ch != s.changed || len(l.Incidents) != s.total {
			t.Fatalf("step %d: changed %v, %d incidents %+v", i, ch, len(l.Incidents), l.Incidents)
		}
	}
	if in, _ := l.Latest("eu"); in.Node != "" || !in.Healthy {
		t.Fatalf("latest %+v", in)
	}
	for i := 0; i < 2*KeepIncidents; i++ {
		l.Observe(healthy(i%2 == 0), at.Add(time.Duration(i)*time.Second))
	}
	if len(l.Incidents) != KeepIncidents || !l.Incidents[len(l.Incidents)-1].At.Equal(at.Add(time.Duration(2*KeepIncidents-1)*time.Second)) {
		t.Fatalf("trim kept %d, last %v", len(l.Incidents), l.Incidents[len(l.Incidents)-1].At)
	}
}
