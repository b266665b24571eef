package usage

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/golden"
	"github.com/omc-coop/omc/usage/money"
)

func price(s string) *money.Micro {
	m, err := money.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return &m
}

// testPrices are chosen so that rounding matters: 129 participant-
// minutes at 0.0035 are 0.4515 (→ 0.45), VAT 19% of the net has a
// half cent.
func testPrices() *PriceList {
	zero := price("0")
	return &PriceList{
		Currency: "EUR", VATRate: *price("0.19"), Location: time.UTC,
		Prices: Prices{ParticipantMinute: price("0.0035"), PeakUser: price("1.25"), RecordingGB: price("0.10"), MonthlyFee: price("25")},
		Tenants: map[string]TenantTerms{
			"school": {BillTo: "Grundschule Nord\nSchulweg 2, 10117 Berlin"},
			"uni":    {Prices: Prices{MonthlyFee: zero}, VATID: "FR12345678901", ReverseCharge: true},
			"quiet":  {}, // used nothing: the fee is still due
		},
		Issuer: "Coop Video eG\nMusterstraße 1, 10115 Berlin", VATID: "DE123456789", PaymentDays: 14,
		Bank: &Bank{IBAN: "DE89370400440532013000", BIC: "COBADEFFXXX", AccountHolder: "Coop Video eG", Name: "Commerzbank"},
	}
}

func TestPriceRoundsOncePerLineAndVATOnTheNet(t *testing.T) {
	pl := testPrices()
	c := pl.Price(TenantUsage{Tenant: "school", ParticipantMinutes: 129, PeakUsers: 17, PeakRecordingBytes: 2_000_000_000})
	// 25.00 + 0.4515→0.45 + 21.25 + 0.20 = 46.90; VAT 8.911 → 8.91.
	want := []money.Cents{2500, 45, 2125, 20}
	if len(c.Lines) != len(want) {
		t.Fatalf("lines %+v", c.Lines)
	}
	for i, l := range c.Lines {
		if l.Amount != want[i] {
			t.Errorf("line %s: %s, want %s", l.Item, l.Amount, want[i])
		}
	}
	if c.Net != 4690 || c.VAT != 891 || c.Total != 5581 {
		t.Errorf("net %s vat %s total %s", c.Net, c.VAT, c.Total)
	}
	// A half cent of VAT rounds up: net 0.50 at 19% = 0.095 → 0.10.
	half := (&PriceList{VATRate: *price("0.19"), Prices: Prices{MonthlyFee: price("0.50")}}).Price(TenantUsage{Tenant: "x"})
	if half.VAT != 10 || half.Total != 60 {
		t.Errorf("half cent: %+v", half)
	}
	// The tenant's terms replace the list's: no fee, no VAT.
	u := pl.Price(TenantUsage{Tenant: "uni", ParticipantMinutes: 24, PeakUsers: 4, PeakRecordingBytes: 250_000_000})
	// 0 + 0.084→0.08 + 5.00 + 0.025→0.03 = 5.11
	if u.Net != 511 || u.VAT != 0 || u.Total != 511 {
		t.Errorf("uni %+v", u)
	}
}

// scriptedReport is the rig's scripted morning, priced.
func scriptedReport(t *testing.T) (*Report, *PriceList, *rig) {
	r := newRig(t)
	r.script()
	pl := testPrices()
	rep, err := BuildReport(context.Background(), r.store, "2026-11", pl, "")
	if err != nil {
		t.Fatal(err)
	}
	return rep, pl, r
}

func TestReportAndInvoicesReconcileToTheCent(t *testing.T) {
	rep, pl, _ := scriptedReport(t)
	names := []string{}
	for _, tr := range rep.Tenants {
		names = append(names, tr.Tenant)
	}
	if strings.Join(names, ",") != "(unattributed),quiet,school,uni" {
		t.Fatalf("tenants %v", names)
	}
	if rep.Tenants[0].Charges != nil {
		t.Error("unattributed usage was priced")
	}
	invs := Invoices(rep, pl, time.Now())
	if len(invs) != 3 {
		t.Fatalf("%d invoices", len(invs))
	}
	var sum money.Cents
	for _, inv := range invs {
		// Each invoice's CSV: its lines add up to its net; net + VAT is
		// its total; and they are the report's figures for the tenant.
		b, err := inv.CSV()
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var lines, net, vat, total money.Cents
		for _, row := range rows[1:] {
			a := cents(t, row[7])
			switch {
			case row[3] == "Net":
				net = a
			case strings.HasPrefix(row[3], "VAT "):
				vat = a
			case row[3] == "Total":
				total = a
			default:
				lines += a
			}
		}
		var tr *TenantReport
		for i := range rep.Tenants {
			if rep.Tenants[i].Tenant == inv.Tenant {
				tr = &rep.Tenants[i]
			}
		}
		if lines != net || net+vat != total || net != tr.Charges.Net || vat != tr.Charges.VAT || total != tr.Charges.Total {
			t.Errorf("%s: lines %s net %s vat %s total %s; report %+v", inv.Tenant, lines, net, vat, total, tr.Charges)
		}
		sum += total
	}
	if sum != rep.Total || rep.Net+rep.VAT != rep.Total {
		t.Errorf("invoices add up to %s, the report says %s (net %s + VAT %s)", sum, rep.Total, rep.Net, rep.VAT)
	}
	// school 46.90 + 8.91; quiet 25.00 + 4.75; uni 5.11.
	if rep.Total != 5581+2975+511 {
		t.Errorf("report total %s", rep.Total)
	}

	// The summary CSV's total row and the JSON report say the same.
	b, _ := SummaryCSV(invs)
	rows, _ := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if last := rows[len(rows)-1]; last[0] != "total" || cents(t, last[6]) != rep.Total {
		t.Errorf("summary total row %v", last)
	}
	var jb bytes.Buffer
	if err := rep.WriteJSON(&jb); err != nil {
		t.Fatal(err)
	}
	var j struct {
		TotalCents int64  `json:"total_cents"`
		Total      string `json:"total"`
		Tenants    []struct {
			Tenant  string `json:"tenant"`
			Charges *struct {
				TotalCents int64 `json:"total_cents"`
			} `json:"charges"`
		} `json:"tenants"`
	}
	if err := json.Unmarshal(jb.Bytes(), &j); err != nil {
		t.Fatal(err)
	}
	if j.TotalCents != int64(rep.Total) || j.Total != rep.Total.String() || len(j.Tenants) != 4 {
		t.Errorf("json %s", jb.String())
	}
	// The report's CSV has the same per-tenant totals.
	var cb bytes.Buffer
	rep.WriteCSV(&cb)
	crow, _ := csv.NewReader(&cb).ReadAll()
	var csum money.Cents
	for _, row := range crow[1:] {
		if row[9] != "" {
			csum += cents(t, row[9])
		}
	}
	if csum != rep.Total {
		t.Errorf("report CSV totals %s, want %s", csum, rep.Total)
	}
}

func cents(t *testing.T, s string) money.Cents {
	t.Helper()
	whole, frac, ok := strings.Cut(s, ".")
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt(frac, 10, 64)
	if !ok || len(frac) != 2 || err1 != nil || err2 != nil {
		t.Fatalf("%q is not an amount with two decimals", s)
	}
	return money.Cents(w*100 + f)
}

func TestInvoiceGolden(t *testing.T) {
	rep, pl, _ := scriptedReport(t)
	var school, uni *Invoice
	// The day in the caller's zone is the issue date, whatever its offset.
	invs := Invoices(rep, pl, time.Date(2026, 12, 3, 23, 30, 0, 0, time.FixedZone("east", 14*3600)))
	for i := range invs {
		switch invs[i].Tenant {
		case "school":
			school = &invs[i]
		case "uni":
			uni = &invs[i]
		}
	}
	if school == nil || school.Number != "2026-11-school" || school.Issued != "2026-12-03" || school.Due != "2026-12-17" || school.ReverseCharge {
		t.Fatalf("school invoice %+v", school)
	}
	if uni == nil || !uni.ReverseCharge || uni.Charges.VAT != 0 || uni.TenantVATID != "FR12345678901" {
		t.Fatalf("uni invoice %+v", uni)
	}
	c, err := school.CSV()
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "invoice-school.csv", c)
	h, err := school.HTML()
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "invoice-school.html", h)
	hu, err := uni.HTML()
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "invoice-uni.html", hu)
	for _, page := range [][]byte{h, hu} {
		if bytes.Contains(page, []byte("<script")) || bytes.Contains(page, []byte("http")) {
			t.Error("the invoice page loads something")
		}
		for _, want := range []string{"VAT ID DE123456789", "DE89 3704 0044 0532 0130 00", "COBADEFFXXX", "Due date 2026-12-17", "Payable within 14 days of the issue date, by 2026-12-17"} {
			if !bytes.Contains(page, []byte(want)) {
				t.Errorf("no %q on the page", want)
			}
		}
	}
	// Only the reverse charge says so, and shows the tenant's VAT ID.
	if !bytes.Contains(hu, []byte(ReverseChargeNote)) || !bytes.Contains(hu, []byte("VAT ID FR12345678901")) || bytes.Contains(h, []byte("Reverse charge")) {
		t.Error("reverse-charge wording")
	}

	// Written out: one CSV and one page per invoice, and the summary.
	dir := t.TempDir()
	paths, err := WriteInvoices(dir, rep.Month, invs)
	if err != nil || len(paths) != 2*len(invs)+1 {
		t.Fatalf("wrote %v, %v", paths, err)
	}
	again, _ := os.ReadFile(filepath.Join(dir, "invoice-2026-11-school.csv"))
	if !bytes.Equal(again, c) {
		t.Error("the written CSV is not the invoice's")
	}
}

func TestReportTenantFilterAndTimeZone(t *testing.T) {
	r := newRig(t)
	r.script()
	ctx := context.Background()
	rep, err := BuildReport(ctx, r.store, "2026-11", nil, "uni")
	if err != nil || len(rep.Tenants) != 1 || rep.Tenants[0].ParticipantMinutes != 24 || rep.Tenants[0].Charges != nil {
		t.Fatalf("uni: %+v %v", rep, err)
	}
	byID, _ := BuildReport(ctx, r.store, "2026-11", nil, r.uni.ID)
	if len(byID.Tenants) != 1 || byID.Tenants[0].Tenant != "uni" {
		t.Errorf("by ID: %+v", byID.Tenants)
	}
	// In a zone far east, 2026-11 starts on 31 October 11:00 UTC and
	// ends on 30 November 11:00 UTC: the script's morning is inside.
	pl := testPrices()
	pl.Location, _ = time.LoadLocation("Pacific/Kiritimati")
	tz, _ := BuildReport(ctx, r.store, "2026-11", pl, "school")
	if tz.From.UTC().Format(time.RFC3339) != "2026-10-31T10:00:00Z" || tz.Tenants[0].ParticipantMinutes != 129 {
		t.Errorf("time zone: %s %+v", tz.From.UTC(), tz.Tenants)
	}
	if _, err := BuildReport(ctx, r.store, "2026-13", nil, ""); err == nil {
		t.Error("month 13 accepted")
	}
}
