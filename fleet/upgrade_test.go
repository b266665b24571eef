package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/event"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision/roles"
)

// A rolling upgrade plans which nodes to upgrade, in batches, and
// converges each with the upgrade's run options (never settings); its
// UpgradeResult says which were upgraded, which failed (why masked) and
// which were skipped on a second run.
func TestUpgradePlanThenApply(t *testing.T) {
	r := newOpsRig(t, opsStaticNodes)
	r.node("bbb-1", "3.0.4")
	r.node("bbb-2", "3.0.4")
	ctx := context.Background()
	inv := r.load()
	if _, err := SyncGroups(ctx, inv, inv.Nodes(), func(*inventory.Node) bool { return true }, r.deps, false); err != nil {
		t.Fatal(err)
	}
	r.sl.StartPoller(t, 5*time.Millisecond)
	waitFor(t, func() bool { return r.state("bbb-1").Online && r.state("bbb-2").Online })
	secret, err := roles.APISecret(inv, inv.Nodes()[1])
	if err != nil {
		t.Fatal(err)
	}
	var converged []string
	r.deps.Converge = func(_ context.Context, _ *inventory.Inventory, nodes []*inventory.Node, _ map[string]providers.Machine) map[string]error {
		failed := map[string]error{}
		for _, n := range nodes {
			if n.Run != (inventory.Run{UpgradeBBB: true, BBBVersion: "3.0"}) || n.Settings.BBBVersion != "3.0" {
				t.Errorf("%s converged with run %+v, bbb_version %q", n.Name, n.Run, n.Settings.BBBVersion)
			}
			if s := r.state(n.Name); s.State != pool.Disabled {
				t.Errorf("%s converged while %s", n.Name, s.State)
			}
			converged = append(converged, n.Name)
			if n.Name == "bbb-2" {
				failed[n.Name] = fmt.Errorf("apt failed near secret %s", secret)
				continue
			}
			r.bbb.Node(n.Name).SetVersion("3.0.5")
		}
		return failed
	}
	var skips []event.Pool
	r.deps.Change = func(e event.Pool) {
		if e.Action == "skip" {
			skips = append(skips, e)
		}
	}
	plan := func() *UpgradePlan {
		t.Helper()
		p, err := PlanUpgrade(ctx, r.load(), UpgradeOptions{Group: "eu", To: "3.0.5", Batch: 1, Timeout: 10 * time.Second, Deps: r.deps})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}

	p := plan()
	if p.Line != "3.0" || strings.Join(p.Todo, " ") != "bbb-1 bbb-2" || len(p.Skipped) != 0 || fmt.Sprint(p.Batches()) != "[[bbb-1] [bbb-2]]" ||
		!p.Now["bbb-1"].Answered || len(converged) != 0 {
		t.Fatalf("plan %+v", p)
	}
	res, err := p.Apply(ctx)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("apply: %v", err)
	}
	if strings.Join(res.Upgraded, " ") != "bbb-1" || fmt.Sprint(res.FailedNodes()) != "[bbb-2]" || res.Behind ||
		!strings.Contains(res.Failed["bbb-2"], "apt failed") || strings.Contains(res.Failed["bbb-2"], secret) {
		t.Fatalf("result %+v", res)
	}
	if r.state("bbb-1").State != pool.Enabled || r.state("bbb-2").State != pool.Disabled {
		t.Fatalf("pool: bbb-1 %s, bbb-2 %s", r.state("bbb-1").State, r.state("bbb-2").State)
	}

	// Again: the node at the version is skipped, and says so.
	p = plan()
	if strings.Join(p.Skipped, " ") != "bbb-1" || strings.Join(p.Todo, " ") != "bbb-2" || len(skips) != 1 || skips[0].Detail != "already at 3.0.5 and healthy" {
		t.Fatalf("second plan %+v, skips %+v", p, skips)
	}

	// Options no upgrade can run with are the user's mistake.
	var ue *UsageError
	for _, o := range []UpgradeOptions{{Group: "eu", Batch: 1}, {Group: "eu", To: "latest", Batch: 1}, {Group: "eu", To: "3.0"}} {
		if _, err := PlanUpgrade(ctx, r.load(), o); !errors.As(err, &ue) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}
