package cmd

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/remote"
)

// omc upgrade --to LINE moves each node to its repository's latest: a
// node of the line whose repository has a newer BBB (asked on the node,
// with the BBB packages step's own probe) is drained and converged with
// the upgrade run option; those with nothing newer are skipped without a
// drain.
func TestUpgradeToALineMovesOnlyNodesWithANewerBBB(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.threeUp()
	r.sl.StartPoller(t, 5*time.Millisecond)
	waitUntil(t, func() bool {
		return r.state(t, "bbb-1").Online && r.state(t, "bbb-2").Online && r.state(t, "bbb-3").Online
	})
	var mu sync.Mutex
	var asked []string
	r.deps.Exec = func(_ context.Context, n *inventory.Node, _ providers.Machine, script string) (remote.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(script, "apt-cache policy") || !strings.Contains(script, "'bbb-*'") {
			t.Errorf("%s: not the upgrade probe:\n%s", n.Name, script)
		}
		asked = append(asked, n.Name)
		cand := "1:3.0-4"
		if n.Name == "bbb-2" {
			cand = "1:3.0-5"
		}
		return remote.Result{Stdout: []byte("pkg=bigbluebutton|ii |1:3.0-4\ncandidate=bigbluebutton|" + cand + "\npkg=bbb-html5|ii |1:3.0-9\ncandidate=bbb-html5|1:3.0-9\nmeetings=0\n")}, nil
	}
	var converged []string
	r.deps.Converge = func(_ context.Context, _ *inventory.Inventory, nodes []*inventory.Node, _ map[string]providers.Machine) map[string]error {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range nodes {
			if !n.Run.UpgradeBBB || n.Run.BBBVersion != "3.0" {
				t.Errorf("%s converged with run %+v", n.Name, n.Run)
			}
			if s := r.state(t, n.Name); s.State != pool.Disabled {
				t.Errorf("%s converged while %s", n.Name, s.State)
			}
			converged = append(converged, n.Name)
			r.bbb.Node(n.Name).SetVersion("3.0.5")
		}
		return nil
	}
	out, errs, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runUpgrade(context.Background(), s, g, &upgradeOptions{Group: "eu", To: "3.0", Batch: 1, Timeout: 10 * time.Second, Yes: true})
	})
	if code != 0 || out != "upgraded\tbbb-2\nskipped\tbbb-1,bbb-3\nfailed\t-\nuntouched\t-\n" {
		t.Fatalf("code %d\n%s\n%s", code, out, errs)
	}
	if strings.Join(converged, " ") != "bbb-2" || len(asked) != 3 {
		t.Errorf("converged %v, asked %v", converged, asked)
	}
	// An exact version is checked by the gate alone: nodes at it are not
	// asked.
	asked = nil
	r.bbb.Node("bbb-2").SetVersion("3.0.4")
	if _, errs, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runUpgrade(context.Background(), s, g, &upgradeOptions{Group: "eu", To: "3.0.4", Batch: 1, Timeout: 10 * time.Second, Yes: true})
	}); code != 0 || len(asked) != 0 {
		t.Errorf("--to 3.0.4: code %d, asked %v\n%s", code, asked, errs)
	}
}
