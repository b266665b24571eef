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

func TestBillingInvoiceTerms(t *testing.T) {
	inv := mustLoad(t, strings.Replace(billingInv, "  issuer: |", `  vat_id: CHE-123.456.789
  payment_days: 30
  bank:
    iban: CH93 0076 2011 6238 5295 7
    bic: POFICHBEXXX
  issuer: |`, 1))
	b := inv.Billing
	if b.VATID != "CHE-123.456.789" || b.PaymentTermDays() != 30 || CompactIBAN(b.Bank.IBAN) != "CH9300762011623852957" || b.Bank.BIC != "POFICHBEXXX" {
		t.Errorf("terms %+v bank %+v", b, b.Bank)
	}
	if (*Billing)(nil).PaymentTermDays() != DefaultPaymentDays {
		t.Error("default payment days")
	}
	// The reverse charge: EU prefixes that differ, unless said otherwise.
	yes, no := true, false
	for _, c := range []struct {
		issuer, tenant string
		explicit       *bool
		want           bool
	}{
		{"DE123456789", "FR12345678901", nil, true},
		{"DE123456789", "DE987654321", nil, false},
		{"DE123456789", "", nil, false},
		{"", "FR12345678901", nil, false},
		{"D", "F", nil, false},
		{"CHE-123.456.789", "FR12345678901", nil, false}, // not an EU issuer
		{"DE123456789", "FR12345678901", &no, false},
		{"DE123456789", "DE987654321", &yes, true},
	} {
		b := &Billing{VATID: c.issuer}
		if got := b.IsReverseCharge(&BillingTenant{VATID: c.tenant, ReverseCharge: c.explicit}); got != c.want {
			t.Errorf("%+v: reverse charge %v", c, got)
		}
	}
}

func TestBillingInvoiceTermErrorsArePositional(t *testing.T) {
	src := `apiVersion: omc/v1
name: coop
groups: {}
billing:
  database: usage.db
  vat_id: de 123
  payment_days: 400
  bank:
    iban: DE89 3704 0044 0532 0130 01
    bic: COBA
  tenants:
    school:
      vat_id: FR12345678901
      vat_rate: 0.2
    uni:
      reverse_charge: true
    kita:
      bank_account: x
    hort:
      vat_id: FR12345678901
  extra:
    iban: DE89370400440532013000
`
	_, err := loadString(t, src)
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		`t.yaml:6:11: billing.vat_id: "de 123" is not a VAT ID`,
		`t.yaml:7:17: billing.payment_days: 400: payment terms are 0 (due on receipt) to 365 days`,
		`t.yaml:9:11: billing.bank.iban: the IBAN's check digits do not match`,
		`t.yaml:10:10: billing.bank.bic: "COBA" is not a BIC`,
		`t.yaml:16:23: billing.tenants.uni.reverse_charge: a reverse charge needs the tenant's vat_id`,
		`t.yaml:18:7: billing.tenants.kita: unknown field "bank_account"`,
		`t.yaml:21:3: billing: unknown field "extra"`,
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
	// With the issuer's EU VAT ID, school's FR ID makes a reverse charge
	// that a VAT rate contradicts; hort is one and needs nothing more.
	src2 := strings.Replace(src, "de 123", "DE123456789", 1)
	_, err = loadString(t, src2)
	if err == nil || !strings.Contains(err.Error(), `t.yaml:14:17: billing.tenants.school.vat_rate: "0.2": a reverse charge has no VAT`) ||
		strings.Contains(err.Error(), "hort") {
		t.Errorf("school's VAT rate: %v", err)
	}
	_, err = loadString(t, strings.Replace(src, "  vat_id: de 123\n", "", 1))
	if err == nil || !strings.Contains(err.Error(), `billing.tenants.uni.reverse_charge: a reverse charge needs the issuer's billing.vat_id`) {
		t.Errorf("school's VAT rate: %v", err)
	}
	for _, iban := range []string{"DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32", "CH9300762011623852957"} {
		if p := ibanProblem(iban); p != "" {
			t.Errorf("%s: %s", iban, p)
		}
	}
	for iban, msg := range map[string]string{"DE89 3704 0044 0532 0130": "from DE has 22 characters", "de89370400440532013000": "not an IBAN", "DE00370400440532013000": "check digits"} {
		if p := ibanProblem(iban); !strings.Contains(p, msg) {
			t.Errorf("%s: %q, want %q", iban, p, msg)
		}
	}
}

func TestBillingTermsSchema(t *testing.T) {
	defs := schemaDoc(t)["$defs"].(map[string]any)
	bank := defs["BillingBank"].(map[string]any)
	if strings.Join(toStrings(bank["required"]), ",") != "iban" || bank["properties"].(map[string]any)["iban"].(map[string]any)["pattern"] == nil {
		t.Errorf("bank %v", bank)
	}
	bp := defs["Billing"].(map[string]any)["properties"].(map[string]any)
	if bp["vat_id"].(map[string]any)["pattern"] == nil || bp["payment_days"].(map[string]any)["maximum"] == nil || bp["bank"].(map[string]any)["$ref"] != "#/$defs/BillingBank" {
		t.Errorf("billing %v", bp)
	}
	tp := defs["BillingTenant"].(map[string]any)["properties"].(map[string]any)
	if tp["reverse_charge"].(map[string]any)["type"] != "boolean" || tp["vat_id"] == nil {
		t.Errorf("tenant %v", tp)
	}
}
