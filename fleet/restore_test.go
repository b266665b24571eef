package fleet

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/remote"
)

func TestPlanRestore(t *testing.T) {
	inv := loadBackupInventory(t)
	var ue *UsageError
	if _, err := PlanRestore(inv, inv.Nodes()[:2], "eu"); !errors.As(err, &ue) || !strings.Contains(err.Error(), "one node at a time") {
		t.Errorf("a group: %v", err)
	}
	var ie *InventoryError
	if _, err := PlanRestore(inv, inv.Nodes()[2:], "plain"); !errors.As(err, &ie) || !strings.Contains(err.Error(), "no backup settings") {
		t.Errorf("no backups: %v", err)
	}
	p, err := PlanRestore(inv, inv.Nodes()[:1], "bbb-1")
	if err != nil || p.Node.Name != "bbb-1" || len(p.Targets) != 1 || p.Targets[0].Name != "config" {
		t.Fatalf("%v: %+v", err, p)
	}
}

// Restore asks before it changes anything; when told no, nothing is
// dialled. Told yes, it runs the backup role's steps and the restore on
// the node: a node that cannot be reached is a failed result.
func TestRestore(t *testing.T) {
	inv := loadBackupInventory(t)
	p, err := PlanRestore(inv, inv.Nodes()[:1], "bbb-1")
	if err != nil {
		t.Fatal(err)
	}
	dials := 0
	dial := func(context.Context, remote.Config) (provision.Conn, error) {
		dials++
		return nil, errors.New("connection refused")
	}
	var asked []string
	confirm := func(yes bool) func(*RestorePlan) (bool, error) {
		return func(p *RestorePlan) (bool, error) {
			asked = append(asked, p.Node.Name)
			return yes, nil
		}
	}
	res, err := Restore(context.Background(), p, RestoreOptions{Confirm: confirm(false), Transport: Transport{Connect: dial}})
	if err != nil || res.Ran || res.Node != "bbb-1" || len(res.Targets) != 1 || dials != 0 || len(asked) != 1 {
		t.Fatalf("told no: %v %+v, %d dials", err, res, dials)
	}
	res, err = Restore(context.Background(), p, RestoreOptions{Confirm: confirm(true), Transport: Transport{Connect: dial}, Snapshot: "0123abcd"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Ran || len(res.Results) != 1 || res.Results[0].Host != "bbb-1" || res.Err() == nil ||
		!strings.Contains(res.Err().Error(), "connection refused") || dials == 0 {
		t.Fatalf("unreachable node: %+v (%v)", res, res.Err())
	}
}
