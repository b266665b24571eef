package fleet

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/event"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision/roles"
)

// SyncGroups prints nothing: each change to a FAKE Scalelite reaches
// PoolDeps.Change as an event.Pool (v1, type "pool"), in order, with the
// node's BBB secret masked out of its detail; a dry run reports the same
// changes and makes none.
func TestSyncGroupsReportsChangesAsEvents(t *testing.T) {
	r := newOpsRig(t, `    provider: static
    nodes:
      - {name: bbb-1, address: 127.0.0.1}
`)
	inv, sl := r.load(), r.sl
	secret, err := roles.APISecret(inv, inv.Nodes()[0])
	if err != nil {
		t.Fatal(err)
	}
	r.bbb.AddNode("bbb-1", secret, "3.0.4").RevealVersion(true)

	sync := func(dry bool) ([]event.Pool, int) {
		var got []event.Pool
		deps := &PoolDeps{Change: func(e event.Pool) { got = append(got, e) }}
		pending, err := SyncGroups(context.Background(), inv, inv.Nodes(), func(*inventory.Node) bool { return true }, deps, dry)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range got {
			if e.V != 1 || e.Type != "pool" || e.Pool != "eu" || e.Node != "bbb-1" || strings.Contains(e.Detail, secret) {
				t.Errorf("event %+v", e)
			}
		}
		return got, pending
	}
	planned, pending := sync(true)
	if len(planned) == 0 || pending == 0 || sl.Writes() != 0 {
		t.Fatalf("dry run: %+v, %d pending, %d writes", planned, pending, sl.Writes())
	}
	done, _ := sync(false)
	var actions []string
	for _, e := range done {
		actions = append(actions, e.Action)
	}
	if strings.Join(actions, ",") != "add,enable" || sl.Writes() != 2 {
		t.Fatalf("actions %v, %d writes; want add,enable and 2 writes", actions, sl.Writes())
	}
	if again, _ := sync(false); len(again) != 0 {
		t.Fatalf("a second sync reported %+v", again)
	}
}

// When up converged a scalelite node omc runs, its Scalelite may still be
// starting (nginx answers 502 while the API's container boots): the
// pool sync waits for it to answer, then registers the nodes. A pool
// that is not starting is not waited for.
func TestSyncWaitsForAScaleliteItStarted(t *testing.T) {
	var mu sync.Mutex
	starting := 2
	r := newPoolRig(t, `    provider: static
    nodes:
      - {name: sl-1, roles: [scalelite], address: 127.0.0.2}
      - {name: bbb-1, roles: [bbb], address: 127.0.0.1}
`, func(sl http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			busy := starting > 0
			if busy {
				starting--
			}
			mu.Unlock()
			if busy {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadGateway)
				fmt.Fprint(w, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx/1.22.1</center></body></html>")
				return
			}
			sl.ServeHTTP(w, r)
		})
	})
	inv, sl := r.load(), r.sl
	secret, err := roles.APISecret(inv, inv.Nodes()[1])
	if err != nil {
		t.Fatal(err)
	}
	r.bbb.AddNode("bbb-1", secret, "3.0.4").RevealVersion(true)
	deps := &PoolDeps{StartWait: time.Minute}
	only := func(names ...string) func(*inventory.Node) bool {
		return func(n *inventory.Node) bool { return slices.Contains(names, n.Name) }
	}
	// Without the scalelite node among the converged ones, a 502 is the
	// pool's answer, and the sync fails with it.
	if _, err := SyncGroups(context.Background(), inv, inv.Nodes(), only("bbb-1"), deps, false); err == nil || !strings.Contains(err.Error(), "HTTP 502") {
		t.Fatalf("sync of a pool answering 502: %v", err)
	}
	mu.Lock()
	starting = 2
	mu.Unlock()
	if _, err := SyncGroups(context.Background(), inv, inv.Nodes(), only("sl-1", "bbb-1"), deps, false); err != nil {
		t.Fatalf("sync after the scalelite node converged: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if starting != 0 || sl.Writes() != 2 {
		t.Fatalf("502s left %d, writes %d: want the sync to wait out both and then add and enable bbb-1", starting, sl.Writes())
	}
}
