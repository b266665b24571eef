package cmd

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/pool/fake"
	"github.com/omc-coop/omc/pool/scalelite"
	"github.com/omc-coop/omc/usage"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// usageFleet is a pool group of two fake BBB nodes behind a fake
// Scalelite with two tenants, and an inventory with a billing block.
func usageFleet(t *testing.T) (inv string, clk *testClock, bbb *fake.BBB, sl *fake.Scalelite, schoolID, uniID string) {
	t.Helper()
	d := isolate(t)
	t.Setenv("OMC_T_LB", "lb-secret-not-for-eyes")
	t.Setenv("OMC_T_BBB1", "bbb1-secret-not-for-eyes")
	t.Setenv("OMC_T_BBB2", "bbb2-secret-not-for-eyes")
	clk = &testClock{t: time.Date(2026, 11, 30, 23, 50, 0, 0, time.UTC)}
	bbb = fake.NewBBB(t)
	bbb.Now = clk.Now
	// Nodes that give recording sizes (Mconf's build; stock BBB gives
	// none: usage/unknown_test.go).
	bbb.AddNode("bbb-1", "bbb1-secret-not-for-eyes", "3.0.4").ServeSizes(true)
	bbb.AddNode("bbb-2", "bbb2-secret-not-for-eyes", "3.0.4").ServeSizes(true)
	sl = fake.NewScalelite(t, "lb-secret-not-for-eyes")
	sl.SetMultitenancy(true)
	c := &scalelite.Client{URL: sl.URL, Secret: "lb-secret-not-for-eyes"}
	school, err := c.AddTenant(context.Background(), "school", []string{"school-tenant-secret"})
	if err != nil {
		t.Fatal(err)
	}
	uni, err := c.AddTenant(context.Background(), "uni", []string{"uni-tenant-secret"})
	if err != nil {
		t.Fatal(err)
	}
	inv = filepath.Join(d, "omc.yaml")
	src := fmt.Sprintf(`apiVersion: omc/v1
name: coop
secrets:
  lb: env:OMC_T_LB
  bbb1: env:OMC_T_BBB1
  bbb2: env:OMC_T_BBB2
groups:
  eu-1:
    provider: static
    roles: [bbb]
    pool:
      url: %s
      secret: env:OMC_T_LB
      bbb_url: %s/{name}/bigbluebutton/api
      checks: []
    nodes:
      - {name: bbb-1, address: 127.0.0.1, settings: {api_secret: bbb1}}
      - {name: bbb-2, address: 127.0.0.1, settings: {api_secret: bbb2}}
billing:
  database: state/usage.db
  currency: EUR
  vat_rate: 0.19
  issuer: "Coop Video eG"
  vat_id: DE123456789
  payment_days: 30
  bank: {iban: DE89 3704 0044 0532 0130 00, bic: COBADEFFXXX}
  prices:
    participant_minute: 0.0035
    peak_user: 1.25
    monthly_fee: 25
  tenants:
    uni: {vat_rate: 0, vat_id: FR12345678901, prices: {monthly_fee: 0}}
`, sl.URL, bbb.Server.URL)
	if err := os.WriteFile(inv, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return inv, clk, bbb, sl, school.ID, uni.ID
}

// tenantDNS is an HTTP client that sends every host name to 127.0.0.1:
// collect asks a multitenant Scalelite at each tenant's host
// (school.127.0.0.1:PORT here), which the tenants' DNS would resolve.
func tenantDNS() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err == nil && net.ParseIP(host) == nil {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return d.DialContext(ctx, network, addr)
		}}}
}

func collectAt(t *testing.T, inv string, clk *testClock, at time.Time, jsonOut bool) (string, string, error) {
	t.Helper()
	clk.Set(at)
	var out, errb bytes.Buffer
	s := &ui.Streams{In: strings.NewReader(""), Out: &out, Err: &errb, CI: true}
	g := &globalOptions{Inventory: inv, Output: "text", f: testFactory()}
	g.f.Now, g.f.HTTP = clk.Now, tenantDNS()
	if jsonOut {
		g.Output = "json"
	}
	err := runUsageCollect(context.Background(), s, g, &usageCollectOptions{})
	return out.String(), errb.String(), err
}

func TestUsageCollectReportInvoice(t *testing.T) {
	inv, clk, bbb, sl, schoolID, uniID := usageFleet(t)
	n1, n2 := bbb.Node("bbb-1"), bbb.Node("bbb-2")
	start := time.Date(2026, 11, 30, 23, 50, 0, 0, time.UTC)
	n1.CreateMeetingAt("Dr Jane Doe's room", 10, 1, start)
	n1.SetMetadata("Dr Jane Doe's room", map[string]string{"tenant-id": schoolID})
	n2.CreateMeetingAt("lecture", 4, 1, start)
	n2.SetMetadata("lecture", map[string]string{"tenant-id": uniID})
	// school's recording: on bbb-1, then (from 23:52) in Scalelite only;
	// uni has one Scalelite got elsewhere, of unknown size.
	n1.AddRecording(fake.Recording{RecordID: "rec-1", MeetingID: "m", Size: 2_000_000_000, Metadata: map[string]string{"tenant-id": schoolID}})
	sl.AddRecording(fake.Recording{RecordID: "rec-old", MeetingID: "m0", Metadata: map[string]string{"tenant-id": uniID}})

	// 23:50 (age 0), 23:52, 23:53, then across midnight 00:01.
	var all strings.Builder
	for _, m := range []int{50, 52, 53} {
		if m == 52 {
			sl.Import(n1, "rec-1")
		}
		out, errs, err := collectAt(t, inv, clk, start.Add(time.Duration(m-50)*time.Minute), false)
		if err != nil {
			t.Fatalf("collect: %v\n%s", err, errs)
		}
		if !strings.Contains(errs, "Scalelite 127.0.0.1:") || !strings.Contains(errs, "1 of unknown size") ||
			!strings.Contains(errs, "warning: Scalelite") {
			t.Errorf("collect at 23:%d: no Scalelite sample or warning:\n%s", m, errs)
		}
		all.WriteString(out + errs)
	}
	// The same minute again: nothing counted twice.
	out, errs, err := collectAt(t, inv, clk, start.Add(3*time.Minute+20*time.Second), true)
	if err != nil || !strings.Contains(out, `"status":"already"`) || strings.Contains(out, `"status":"sampled"`) {
		t.Fatalf("repeat: %v\n%s%s", err, out, errs)
	}
	all.WriteString(out + errs)
	// December's sample (a gap of 8 minutes counts 5) is not November's.
	if _, errs, err := collectAt(t, inv, clk, time.Date(2026, 12, 1, 0, 1, 0, 0, time.UTC), false); err != nil {
		t.Fatalf("collect: %v\n%s", err, errs)
	}
	// A node down: exit 1, the other node still sampled.
	n2.SetDown(true)
	out, errs, err = collectAt(t, inv, clk, time.Date(2026, 12, 1, 0, 2, 0, 0, time.UTC), false)
	if exitCode(err) != ExitError || !strings.Contains(errs, "bbb-1: sampled") || !strings.Contains(errs, "bbb-2: failed") {
		t.Fatalf("node down: %v\n%s", err, errs)
	}
	all.WriteString(out + errs)
	n2.SetDown(false)

	// November: school 10×(2+1) = 30 participant-minutes, uni 4×3 = 12.
	out, errs, code := run(t, "", "usage", "report", "--month", "2026-11", "-i", inv, "-o", "json")
	if code != 0 {
		t.Fatalf("report: %d\n%s", code, errs)
	}
	all.WriteString(out + errs)
	var rep struct {
		Type       string `json:"type"`
		TotalCents int64  `json:"total_cents"`
		Tenants    []struct {
			Tenant             string `json:"tenant"`
			Meetings           int64  `json:"meetings"`
			ParticipantMinutes int64  `json:"participant_minutes"`
			PeakUsers          int64  `json:"peak_users"`
			PeakRecordingBytes int64  `json:"peak_recording_bytes"`
			UnknownRecordings  int64  `json:"unknown_recordings"`
			Charges            struct {
				TotalCents int64 `json:"total_cents"`
			} `json:"charges"`
		} `json:"tenants"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(rep.Tenants) != 2 || rep.Tenants[0].Tenant != "school" || rep.Tenants[0].ParticipantMinutes != 30 || rep.Tenants[0].PeakUsers != 10 ||
		rep.Tenants[0].Meetings != 1 || rep.Tenants[1].Tenant != "uni" || rep.Tenants[1].ParticipantMinutes != 12 {
		t.Fatalf("report %s", out)
	}
	// The recording counts at its size on bbb-1 after the import too;
	// uni's of unknown size is reported, not guessed.
	if rep.Tenants[0].PeakRecordingBytes != 2_000_000_000 || rep.Tenants[0].UnknownRecordings != 0 ||
		rep.Tenants[1].PeakRecordingBytes != 0 || rep.Tenants[1].UnknownRecordings != 1 {
		t.Errorf("recordings: %s", out)
	}
	// school: 25 + 0.105→0.11 + 12.50 = 37.61, VAT 7.1459 → 7.15 = 44.76;
	// uni: 0.042→0.04 + 5.00 = 5.04, no VAT.
	if rep.Tenants[0].Charges.TotalCents != 4476 || rep.Tenants[1].Charges.TotalCents != 504 || rep.TotalCents != 4980 {
		t.Errorf("charges %s", out)
	}

	csvOut, errs, code := run(t, "", "usage", "report", "--month", "2026-11", "--tenant", "uni", "-i", inv, "-o", "csv")
	rows, err := csv.NewReader(strings.NewReader(csvOut)).ReadAll()
	if code != 0 || err != nil || len(rows) != 2 || rows[1][1] != "uni" || rows[1][4] != "12" || rows[1][9] != "5.04" {
		t.Fatalf("csv: %d %v\n%s%s", code, err, csvOut, errs)
	}
	text, _, code := run(t, "", "usage", "report", "--month", "2026-11", "-i", inv)
	if code != 0 || !strings.Contains(text, "school") || !strings.Contains(text, "49.80") {
		t.Fatalf("text: %s", text)
	}

	// Invoices: their totals are the report's, to the cent.
	dir := filepath.Join(t.TempDir(), "inv")
	out, errs, code = run(t, "", "invoice", "--month", "2026-11", "--issue-date", "2026-12-02", "--out", dir, "-i", inv, "-o", "json")
	if code != 0 || strings.Contains(errs, "warning: issued") {
		t.Fatalf("invoice: %d\n%s", code, errs)
	}
	all.WriteString(out + errs)
	var invs struct {
		TotalCents int64 `json:"total_cents"`
		Invoices   []struct {
			Invoice    string `json:"invoice"`
			TotalCents int64  `json:"total_cents"`
		} `json:"invoices"`
		Files []string `json:"files"`
	}
	if err := json.Unmarshal([]byte(out), &invs); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, x := range invs.Invoices {
		sum += x.TotalCents
	}
	if invs.TotalCents != rep.TotalCents || sum != rep.TotalCents || len(invs.Files) != 5 {
		t.Errorf("invoices %s", out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "invoice-2026-11-school.csv"))
	if err != nil || !strings.Contains(string(b), "Total,,,,44.76,EUR") {
		t.Errorf("school CSV: %v\n%s", err, b)
	}
	h, err := os.ReadFile(filepath.Join(dir, "invoice-2026-11-uni.html"))
	// uni's FR VAT ID makes it a reverse charge; the issuer's bank account
	// is held by the issuer's first line unless said otherwise.
	for _, want := range []string{"5.04 EUR", "Issue date 2026-12-02", "Due date 2027-01-01", "VAT ID DE123456789", "VAT ID FR12345678901",
		"DE89 3704 0044 0532 0130 00", "<dd>Coop Video eG</dd>", usage.ReverseChargeNote} {
		if err != nil || !strings.Contains(string(h), want) {
			t.Errorf("uni page lacks %q: %v\n%s", want, err, h)
		}
	}
	if h, _ := os.ReadFile(filepath.Join(dir, "invoice-2026-11-school.html")); strings.Contains(string(h), "Reverse charge") || !strings.Contains(string(h), "VAT 19%") {
		t.Errorf("school page:\n%s", h)
	}
	// Issued before the month ends: said, not refused.
	_, errs, code = run(t, "", "invoice", "--month", "2026-11", "--issue-date", "2026-11-20", "--out", dir, "-i", inv)
	if code != 0 || !strings.Contains(errs, "warning: issued 2026-11-20, before 2026-11 has ended") {
		t.Errorf("early issue date: %d\n%s", code, errs)
	}

	// Secrets never appear, nor do meeting names in the database.
	for _, sec := range []string{"lb-secret-not-for-eyes", "bbb1-secret-not-for-eyes", "bbb2-secret-not-for-eyes", "school-tenant-secret"} {
		if strings.Contains(all.String(), sec) {
			t.Errorf("output shows %s", sec)
		}
	}
	db, _ := os.ReadFile(filepath.Join(filepath.Dir(inv), "state", "usage.db"))
	wal, _ := os.ReadFile(filepath.Join(filepath.Dir(inv), "state", "usage.db-wal"))
	if len(db) == 0 || bytes.Contains(append(db, wal...), []byte("Jane")) {
		t.Error("the database holds a meeting name (or is empty)")
	}
}

func TestUsageCommandErrors(t *testing.T) {
	d := isolate(t)
	plain := filepath.Join(d, "plain.yaml")
	os.WriteFile(plain, []byte("apiVersion: omc/v1\nname: t\ngroups: {}\n"), 0o644)
	withBilling := filepath.Join(d, "billing.yaml")
	os.WriteFile(withBilling, []byte("apiVersion: omc/v1\nname: t\ngroups: {}\nbilling: {database: u.db}\n"), 0o644)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"csv only for usage report", []string{"version", "-o", "csv"}, ExitUsage, "--output must be text or json"},
		{"report needs a month", []string{"usage", "report", "-i", withBilling}, ExitUsage, "needs --month"},
		{"bad month", []string{"usage", "report", "--month", "2026-13", "-i", withBilling}, ExitUsage, "is not YYYY-MM"},
		{"invoice needs a month", []string{"invoice", "-i", withBilling}, ExitUsage, "needs --month"},
		{"bad issue date", []string{"invoice", "--month", "2026-11", "--issue-date", "2026-12-32", "-i", withBilling}, ExitUsage, `--issue-date "2026-12-32" is not a date YYYY-MM-DD`},
		{"no billing block", []string{"usage", "collect", "-i", plain}, ExitInventory, "has no billing block"},
		{"no pool to meter", []string{"usage", "collect", "-i", withBilling}, ExitInventory, "nothing to meter"},
		{"no database yet", []string{"invoice", "--month", "2026-11", "-i", withBilling}, ExitError, "omc usage collect makes it"},
		{"usage alone", []string{"usage"}, ExitUsage, "collect or report"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := run(t, "", tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.stderr) {
				t.Fatalf("code %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
		})
	}
}
