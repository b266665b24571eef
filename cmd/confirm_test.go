package cmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omc-coop/omc/inventory"
)

// hcloudDownInventory is a counted hcloud group of three nodes.
func hcloudDownInventory(t *testing.T, d string) string {
	p := filepath.Join(d, "omc.yaml")
	os.WriteFile(p, []byte(`apiVersion: omc/v1
name: t
groups:
  eu:
    provider: hcloud
    location: fsn1
    server_type: cx22
    image: ubuntu-22.04
    count: 3
    name: web-{n}
`), 0o644)
	return p
}

// down lists the provider's machines first: it confirms, deletes and
// reports only those that exist, and --dry-run changes nothing.
func TestDownOnlyExistingMachines(t *testing.T) {
	d := isolate(t)
	hc, endpoint := hcloudFake(t)
	t.Setenv("HCLOUD_ENDPOINT", endpoint)
	t.Setenv("HCLOUD_TOKEN", testHcloudToken)
	invPath := hcloudDownInventory(t, d)
	inv, err := inventory.Load(invPath)
	if err != nil {
		t.Fatal(err)
	}
	nodes, _ := inv.Select([]string{"web-1"}, nil)
	if _, err := newTestHcloud(t, endpoint, testPubKey(t)).Create(context.Background(), inv, inv.Group("eu"), nodes); err != nil {
		t.Fatal(err)
	}
	hc.ResetCalls()

	// Not on a terminal: refuses, naming only the machine that exists.
	_, errs, code := run(t, "", "down", "eu", "-i", invPath)
	if code != ExitUsage || !strings.Contains(errs, "Delete 1 machine(s): web-1") || !strings.Contains(errs, "pass --yes") || len(hc.Servers()) != 1 {
		t.Fatalf("without --yes: code %d\n%s", code, errs)
	}
	if !strings.Contains(errs, "no machine to delete for web-2, web-3") {
		t.Fatalf("absent nodes not named:\n%s", errs)
	}

	out, errs, code := run(t, "", "down", "eu", "--dry-run", "-i", invPath)
	if code != 0 || out != "would delete\tweb-1\n" || !strings.Contains(errs, "nothing was changed") {
		t.Fatalf("dry run: code %d\n%s\n%s", code, out, errs)
	}
	if w := hc.Writes(); w != 0 || len(hc.Servers()) != 1 {
		t.Fatalf("dry run wrote %d times to the API: %v", w, hc.WriteCalls())
	}
	args := []string{"down", "eu", "--dry-run", "-o", "json", "-i", invPath}
	out, _, code = run(t, "", args...)
	if got := downStates(checkJSONContract(t, args, out, code)); code != 0 || got != "web-2=absent web-3=absent web-1=would-delete" {
		t.Fatalf("dry run -o json: code %d, %s\n%s", code, got, out)
	}

	args = []string{"down", "eu", "--yes", "-o", "json", "-i", invPath}
	out, errs, code = run(t, "", args...)
	if code != 0 || !strings.Contains(errs, "eu: deleted web-1\n") || strings.Contains(errs, "deleted web-1, web-2") || len(hc.Servers()) != 0 {
		t.Fatalf("down --yes: code %d servers %d\n%s", code, len(hc.Servers()), errs)
	}
	if got := downStates(checkJSONContract(t, args, out, code)); got != "web-2=absent web-3=absent web-1=deleted" {
		t.Fatalf("down -o json: %s\n%s", got, out)
	}

	// Nothing left: says so and succeeds, reporting no deletion.
	_, errs, code = run(t, "", "down", "eu", "--yes", "-i", invPath)
	if code != 0 || strings.Contains(errs, "deleted") || !strings.Contains(errs, "nothing to take down") {
		t.Fatalf("second down: code %d\n%s", code, errs)
	}
}

// Off a terminal, every destructive command refuses without --yes,
// saying what it would do (the meetings that would end, read from the
// nodes' BBB APIs) and changing nothing; --dry-run says it and succeeds.
func TestDestructiveCommandsNeedYes(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.threeUp()
	r.sl.SetMultitenancy(true)
	if _, errs, code := run(t, "", "tenant", "add", "school", "--secret-file", filepath.Join(r.dir, "s"), "-i", r.inv); code != 0 {
		t.Fatal(errs)
	}
	r.bbb.Node("bbb-1").CreateMeeting("maths", 3, 1)
	r.sl.Poll(context.Background())
	writes, secrets := r.sl.Writes(), r.sl.Tenants()[0].Secrets

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"remove", "bbb-1"}, "Remove bbb-1 from pool eu: drain it (its meetings are waited for up to 2h; now bbb-1: 1 meeting(s)"},
		{[]string{"drain", "bbb-1", "--force", "--timeout", "0"}, "Drain bbb-1 and end the meetings still running at once (now bbb-1: 1 meeting(s)"},
		{[]string{"upgrade", "eu", "--to", "3.0.5"}, "Upgrade 3 node(s) of eu to 3.0.5, 1 at a time: bbb-1, bbb-2, bbb-3; each batch is drained first (their meetings are waited for up to 2h; now bbb-1: 1 meeting(s)"},
		{[]string{"tenant", "rotate", "school"}, "Rotate tenant school's secret: its 1 current secret(s) stop working now"},
		{[]string{"up", "bbb-1", "--force"}, "Converge 1 node(s) with --force: BBB restarts or upgrades even under live meetings, which end (now bbb-1: 1 meeting(s)"},
	} {
		out, errs, code := run(t, "", append(c.args, "-i", r.inv)...)
		r.seen.WriteString(out + errs)
		if code != ExitUsage || !strings.Contains(errs, c.want) || !strings.Contains(errs, "pass --yes to go ahead") {
			t.Errorf("%v: code %d\n%s", c.args, code, errs)
		}
	}
	if w := r.sl.Writes(); w != writes || strings.Join(r.sl.Tenants()[0].Secrets, ",") != strings.Join(secrets, ",") {
		t.Fatalf("refused commands wrote to Scalelite (%d writes, was %d)", w, writes)
	}

	out, errs, code := run(t, "", "remove", "bbb-1", "--dry-run", "-i", r.inv)
	r.seen.WriteString(out + errs)
	if code != 0 || out != "would remove\tbbb-1\tenabled\n" || !strings.Contains(errs, "dry run: remove bbb-1 from pool eu") {
		t.Fatalf("remove --dry-run: code %d\n%s\n%s", code, out, errs)
	}
	out, errs, code = run(t, "", "upgrade", "eu", "--to", "3.0.5", "--batch", "2", "--dry-run", "-i", r.inv)
	r.seen.WriteString(out + errs)
	if code != 0 || out != "would upgrade\tbbb-1,bbb-2\nwould upgrade\tbbb-3\n" || !strings.Contains(errs, "nothing was changed") {
		t.Fatalf("upgrade --dry-run: code %d\n%s\n%s", code, out, errs)
	}
	if w := r.sl.Writes(); w != writes {
		t.Fatalf("dry runs wrote to Scalelite (%d writes, was %d)", w, writes)
	}
	out, errs, code = run(t, "", "status", "-i", r.inv)
	if code != 0 || strings.Contains(out, "drained by an operator") || strings.Contains(out, "cordoned") {
		t.Fatalf("a dry run left a hold or a drain:\n%s\n%s", out, errs)
	}
}

// restore says which files it would replace; off a terminal it needs
// --yes, and --dry-run contacts nothing.
func TestRestoreConfirmsAndDryRun(t *testing.T) {
	inv := writeOps(t)
	_, errs, code := run(t, "", "restore", "bbb-1", "-i", inv)
	if code != ExitUsage || !strings.Contains(errs, "Restore config (") || !strings.Contains(errs, "replacing the files there now, refused while meetings are live on it") || !strings.Contains(errs, "pass --yes") {
		t.Fatalf("restore without --yes: code %d\n%s", code, errs)
	}
	out, errs, code := run(t, "", "restore", "bbb-1", "--snapshot", "4f2a9c1e", "--dry-run", "-i", inv)
	if code != 0 || !strings.HasPrefix(out, "would restore\tconfig\t/") || !strings.Contains(errs, "from snapshot 4f2a9c1e") {
		t.Fatalf("restore --dry-run: code %d\n%s\n%s", code, out, errs)
	}
}

// downStates is "node=state ..." of down's JSON records.
func downStates(recs []map[string]any) string {
	var s []string
	for _, r := range recs {
		if r["type"] == "down" {
			s = append(s, fmt.Sprintf("%v=%v", r["node"], r["state"]))
		}
	}
	return strings.Join(s, " ")
}
