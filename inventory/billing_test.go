package inventory

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const billingInv = `apiVersion: omc/v1
name: coop
groups:
  eu-1:
    provider: static
    nodes:
      - {name: bbb-1, address: 192.0.2.1}
billing:
  database: state/usage.db
  currency: CHF
  vat_rate: 0.077
  timezone: Europe/Zurich
  issuer: |
    Coop eG
    Street 1
  prices:
    participant_minute: 0.002
    peak_user: "1.50"
    recording_gb: 0.10
    monthly_fee: 25
  tenants:
    school:
      prices: {monthly_fee: 0}
      vat_rate: 0
      bill_to: "School\nRoad 2"
    uni: {}
`

func TestBillingBlock(t *testing.T) {
	inv := mustLoad(t, billingInv)
	b := inv.Billing
	if b == nil || b.CurrencyCode() != "CHF" || b.Location().String() != "Europe/Zurich" {
		t.Fatalf("billing %+v", b)
	}
	// Numbers are read from their text: 0.10 stays exact, "1.50" too.
	if *b.Prices.RecordingGB != "0.10" || Decimal(*b.Prices.RecordingGB) != 100_000 || Decimal(*b.Prices.PeakUser) != 1_500_000 ||
		Decimal(*b.Prices.ParticipantMinute) != 2000 || Decimal(*b.Prices.MonthlyFee) != 25_000_000 || Decimal(b.VATRate) != 77_000 {
		t.Errorf("prices %+v, vat %s", b.Prices, b.VATRate)
	}
	if len(b.Tenants) != 2 || b.Tenants[0].Name != "school" || b.Tenants[1].Name != "uni" {
		t.Fatalf("tenants %+v", b.Tenants)
	}
	s := b.Tenants[0]
	if s.Prices.MonthlyFee == nil || Decimal(*s.Prices.MonthlyFee) != 0 || s.Prices.PeakUser != nil || s.VATRate == nil || *s.VATRate != "0" || s.BillTo != "School\nRoad 2" {
		t.Errorf("school %+v", s)
	}
	if got, want := inv.BillingDatabase(), filepath.Join(".", "state", "usage.db"); got != want {
		t.Errorf("database %q, want %q", got, want)
	}
	if (*Billing)(nil).Location() != time.UTC || (*Billing)(nil).CurrencyCode() != "EUR" {
		t.Error("defaults")
	}
	inv2 := mustLoad(t, minimal+"  {}\n")
	if inv2.Billing != nil || inv2.BillingDatabase() != "" {
		t.Error("no billing block")
	}
}

func TestBillingErrorsArePositional(t *testing.T) {
	src := `apiVersion: omc/v1
name: coop
groups: {}
billing:
  currency: euro
  vat_rate: 19%
  timezone: Mars/Olympus
  prices:
    participant_minute: -0.002
    peak_user: 1e3
    recording_gb: 0.0000001
    monthly_fee: [25]
    per_meeting: 1
  tenants:
    School:
      vat_rate: 1.5
`
	_, err := loadString(t, src)
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		`t.yaml:5:3: billing: missing required field "database"`,
		`t.yaml:5:13: billing.currency: "euro" is not an ISO 4217 currency code`,
		`t.yaml:6:13: billing.vat_rate: "19%": write the rate as a fraction, e.g. 0.19 for 19%`,
		`t.yaml:7:13: billing.timezone: "Mars/Olympus" is not a time zone`,
		`t.yaml:9:25: billing.prices.participant_minute: "-0.002" is not a price`,
		`t.yaml:10:16: billing.prices.peak_user: "1e3" is not a price`,
		`t.yaml:11:19: billing.prices.recording_gb: "0.0000001" is not a price: at most 6 decimal places`,
		`t.yaml:12:18: billing.prices.monthly_fee: expected a string, got a list`,
		`t.yaml:13:5: billing.prices: unknown field "per_meeting"`,
		`t.yaml:15:5: billing.tenants.School: "School": Scalelite tenant names are lowercase DNS labels`,
		`t.yaml:16:17: billing.tenants.School.vat_rate: "1.5" is more than 1 (100%)`,
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q", w)
		}
	}
	if n := strings.Count(got, "\n") + 1; n != len(want) {
		t.Errorf("%d errors, want %d:\n%s", n, len(want), got)
	}
}

func TestBillingSchema(t *testing.T) {
	s := schemaDoc(t)
	props := s["properties"].(map[string]any)
	if props["billing"].(map[string]any)["$ref"] != "#/$defs/Billing" {
		t.Fatalf("billing %v", props["billing"])
	}
	defs := s["$defs"].(map[string]any)
	b := defs["Billing"].(map[string]any)
	if req := toStrings(b["required"]); strings.Join(req, ",") != "database" {
		t.Errorf("required %v", req)
	}
	tenants := b["properties"].(map[string]any)["tenants"].(map[string]any)
	if tenants["additionalProperties"].(map[string]any)["$ref"] != "#/$defs/BillingTenant" {
		t.Errorf("tenants %v", tenants)
	}
	pm := defs["BillingPrices"].(map[string]any)["properties"].(map[string]any)["participant_minute"].(map[string]any)
	if strings.Join(toStrings(pm["type"]), ",") != "string,number" || pm["pattern"] == nil {
		t.Errorf("participant_minute %v", pm)
	}
}
