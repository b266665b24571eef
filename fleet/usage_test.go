package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool/fake"
	"github.com/omc-coop/omc/pool/scalelite"
)

// meteredInventory is one pool of one fake BBB node behind a fake
// multitenant Scalelite with tenant school, and a billing block.
func meteredInventory(t *testing.T) (*inventory.Inventory, *fake.Node, string) {
	t.Helper()
	d := t.TempDir()
	t.Setenv("OMC_STATE_DIR", filepath.Join(d, "state"))
	t.Setenv("OMC_FLEET_T_LB", "FAKE-lb-secret")
	t.Setenv("OMC_FLEET_T_BBB", "FAKE-bbb-secret")
	bbb := fake.NewBBB(t)
	n := bbb.AddNode("bbb-1", "FAKE-bbb-secret", "3.0.4")
	sl := fake.NewScalelite(t, "FAKE-lb-secret")
	sl.SetMultitenancy(true)
	school, err := (&scalelite.Client{URL: sl.URL, Secret: "FAKE-lb-secret"}).AddTenant(context.Background(), "school", []string{"FAKE-school"})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(d, "omc.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf(`apiVersion: omc/v1
name: coop
secrets:
  bbb: env:OMC_FLEET_T_BBB
groups:
  eu:
    provider: static
    roles: [bbb]
    pool: {url: %s, secret: env:OMC_FLEET_T_LB, bbb_url: "%s/{name}/bigbluebutton/api", checks: []}
    nodes:
      - {name: bbb-1, address: 127.0.0.1, settings: {api_secret: bbb}}
billing:
  database: usage.db
  currency: EUR
  vat_rate: 0.19
  prices: {participant_minute: 0.01, monthly_fee: 10}
`, sl.URL, bbb.Server.URL)), 0o644)
	inv, err := inventory.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return inv, n, school.ID
}

// toLoopback sends every host name to 127.0.0.1: collect asks a
// multitenant Scalelite at each tenant's host.
func toLoopback() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if _, port, err := net.SplitHostPort(addr); err == nil {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return d.DialContext(ctx, network, addr)
		}}}
}

// CollectUsage samples each node once a minute; the report and the
// invoices price what it counted.
func TestCollectUsageThenInvoice(t *testing.T) {
	inv, node, schoolID := meteredInventory(t)
	start := time.Date(2026, 11, 30, 23, 50, 0, 0, time.UTC)
	node.CreateMeetingAt("room", 10, 1, start)
	node.SetMetadata("room", map[string]string{"tenant-id": schoolID})
	at := start
	o := UsageOptions{Now: func() time.Time { return at }, HTTP: toLoopback()}
	for _, m := range []time.Duration{0, 2 * time.Minute, 2*time.Minute + 30*time.Second} {
		at = start.Add(m)
		res, err := CollectUsage(context.Background(), inv, o)
		if err != nil {
			t.Fatal(err)
		}
		want := "sampled"
		if m == 2*time.Minute+30*time.Second {
			want = "already" // the same minute: nothing counted twice
		}
		if len(res.Nodes) != 1 || res.Nodes[0].Node != "bbb-1" || res.Nodes[0].Status != want || res.Failed() != 0 {
			t.Fatalf("at %s: %+v", at.Format(time.TimeOnly), res.Nodes)
		}
	}

	r, pl, err := UsageReport(context.Background(), inv, "2026-11", "")
	if err != nil {
		t.Fatal(err)
	}
	if pl.Currency != "EUR" || len(r.Tenants) != 1 || r.Tenants[0].Tenant != "school" || r.Tenants[0].ParticipantMinutes != 20 {
		t.Fatalf("report %+v", r.Tenants)
	}
	var ue *UsageError
	if _, _, err := UsageReport(context.Background(), inv, "2026-13", ""); !errors.As(err, &ue) {
		t.Errorf("bad month: %v", err)
	}

	dir := filepath.Join(t.TempDir(), "invoices")
	res, err := Invoice(context.Background(), inv, InvoiceOptions{Month: "2026-11", Out: dir, IssueDate: "2026-11-30"})
	if err != nil {
		t.Fatal(err)
	}
	// 10 + 20 × 0.01 = 10.20, VAT 1.94: 12.14.
	if !res.Early || len(res.Invoices) != 1 || res.Invoices[0].Tenant != "school" || res.Invoices[0].Charges.Total.String() != "12.14" ||
		res.Report.Total != res.Invoices[0].Charges.Total || len(res.Files) != 3 || !strings.HasPrefix(res.Files[0], dir) {
		t.Fatalf("invoices %+v", res)
	}
	if res, err := Invoice(context.Background(), inv, InvoiceOptions{Month: "2026-11", Out: dir, IssueDate: "2026-12-01"}); err != nil || res.Early {
		t.Errorf("issued after the month: %v, early %v", err, res.Early)
	}
}

func TestCollectUsageNeedsBilling(t *testing.T) {
	inv, _, _ := meteredInventory(t)
	inv.Billing = nil
	var ie *InventoryError
	if _, err := CollectUsage(context.Background(), inv, UsageOptions{}); !errors.As(err, &ie) || !strings.Contains(err.Error(), "has no billing block") {
		t.Fatalf("%v", err)
	}
}
