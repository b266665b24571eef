package cmd

import (
	"context"
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

	_, errs, code = run(t, "", "down", "eu", "--yes", "-i", invPath)
	if code != 0 || !strings.Contains(errs, "eu: deleted web-1\n") || strings.Contains(errs, "deleted web-1, web-2") || len(hc.Servers()) != 0 {
		t.Fatalf("down --yes: code %d servers %d\n%s", code, len(hc.Servers()), errs)
	}

	// Nothing left: says so and succeeds, reporting no deletion.
	_, errs, code = run(t, "", "down", "eu", "--yes", "-i", invPath)
	if code != 0 || strings.Contains(errs, "deleted") || !strings.Contains(errs, "nothing to take down") {
		t.Fatalf("second down: code %d\n%s", code, errs)
	}
}
