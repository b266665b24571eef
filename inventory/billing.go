package inventory

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/omc-coop/omc/usage/money"
)

// Billing is the inventory's usage metering and invoicing block: where
// omc usage collect keeps its samples, and the price list omc invoice
// applies. Prices and rates are exact decimals (written as YAML numbers
// or strings, read from their text, never as floats).
type Billing struct {
	Pos Pos `yaml:"-"`
	// Database is the SQLite file of usage samples.
	Database string        `yaml:"database" omc:"required" desc:"SQLite file of usage samples (counts only, no personal data), relative to this file, e.g. usage.db."`
	Currency string        `yaml:"currency" desc:"ISO 4217 currency code of the prices (default EUR)."`
	VATRate  string        `yaml:"vat_rate" desc:"VAT on the net total as a fraction, e.g. 0.19 for 19% (default 0)."`
	Timezone string        `yaml:"timezone" desc:"Time zone of billing months, e.g. Europe/Berlin (default UTC)."`
	Issuer   string        `yaml:"issuer" desc:"Name and address at the top of each invoice, one line each."`
	Prices   BillingPrices `yaml:"prices" desc:"The price list; a price left out is not charged."`
	// Tenants by Scalelite tenant name, in file order.
	Tenants []*BillingTenant `yaml:"tenants" omc:"keyed" desc:"Per-tenant terms by Scalelite tenant name; every tenant named here is invoiced each month."`
}

// BillingPrices is a price list: each an exact decimal in the billing currency.
type BillingPrices struct {
	ParticipantMinute *string `yaml:"participant_minute" desc:"Price per participant-minute, e.g. 0.002."`
	PeakUser          *string `yaml:"peak_user" desc:"Price per peak concurrent user in the month."`
	RecordingGB       *string `yaml:"recording_gb" desc:"Price per GB (10^9 bytes) of peak recording storage in the month."`
	MonthlyFee        *string `yaml:"monthly_fee" desc:"Flat fee per month."`
}

// BillingTenant is one tenant's terms.
type BillingTenant struct {
	Pos     Pos           `yaml:"-"`
	Name    string        `yaml:"-"`
	Prices  BillingPrices `yaml:"prices" desc:"Prices replacing the list's for this tenant."`
	VATRate *string       `yaml:"vat_rate" desc:"VAT rate for this tenant (e.g. 0 for a reverse charge)."`
	BillTo  string        `yaml:"bill_to" desc:"The tenant's invoice address, one line each (default its name)."`
}

func init() {
	dec := map[string]any{"type": []string{"string", "number"}, "pattern": decimalText.String(), "minimum": 0}
	for _, k := range []string{"BillingPrices.participant_minute", "BillingPrices.peak_user", "BillingPrices.recording_gb", "BillingPrices.monthly_fee"} {
		schemaExtra[k] = dec
	}
	schemaExtra["Billing.vat_rate"] = dec
	schemaExtra["BillingTenant.vat_rate"] = dec
	schemaExtra["Billing.currency"] = map[string]any{"pattern": currencyCode.String()}
}

var (
	decimalText  = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,6})?$`)
	currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)
)

// DefaultCurrency is the billing currency unless the inventory names one.
const DefaultCurrency = "EUR"

// BillingDatabase is the usage database's path, relative paths taken from
// the inventory file's directory; "" without a billing block.
func (inv *Inventory) BillingDatabase() string {
	if inv.Billing == nil || inv.Billing.Database == "" {
		return ""
	}
	p := expandHome(inv.Billing.Database)
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(inv.Path), p)
	}
	return p
}

// Location is the billing months' time zone (UTC unless set).
func (b *Billing) Location() *time.Location {
	if b == nil || b.Timezone == "" {
		return time.UTC
	}
	if loc, err := time.LoadLocation(b.Timezone); err == nil {
		return loc
	}
	return time.UTC
}

// CurrencyCode is the billing currency.
func (b *Billing) CurrencyCode() string {
	if b == nil || b.Currency == "" {
		return DefaultCurrency
	}
	return b.Currency
}

// Decimal parses a validated price or rate ("" is 0).
func Decimal(s string) money.Micro {
	if s == "" {
		return 0
	}
	m, _ := money.ParseDecimal(s)
	return m
}

func (v *validator) billing() {
	b := v.inv.Billing
	if b == nil {
		return
	}
	if b.Database != "" && strings.ContainsAny(b.Database, "\n\x00?#") {
		v.errf(&b.Database, "must be a file path (without '?' or '#')")
	}
	if b.Currency != "" && !currencyCode.MatchString(b.Currency) {
		v.errf(&b.Currency, "%q is not an ISO 4217 currency code such as EUR or CHF", b.Currency)
	}
	if b.Timezone != "" {
		if _, err := time.LoadLocation(b.Timezone); err != nil || b.Timezone == "Local" {
			v.errf(&b.Timezone, "%q is not a time zone such as UTC or Europe/Berlin", b.Timezone)
		}
	}
	v.rate(&b.VATRate)
	v.prices(&b.Prices)
	for _, t := range b.Tenants {
		if !isLabel(t.Name) {
			v.errf(&t.Name, "%q: Scalelite tenant names are lowercase DNS labels (the first label of the tenant's host name)", t.Name)
		}
		if t.VATRate != nil {
			v.rate(t.VATRate)
		}
		v.prices(&t.Prices)
	}
}

func (v *validator) prices(p *BillingPrices) {
	for _, s := range []*string{p.ParticipantMinute, p.PeakUser, p.RecordingGB, p.MonthlyFee} {
		if s != nil {
			v.decimal(s)
		}
	}
}

// decimal checks a price: a plain non-negative decimal, at most six places.
func (v *validator) decimal(s *string) bool {
	if w := v.at(s); w.bad {
		return false
	}
	if _, err := money.ParseDecimal(*s); err != nil {
		msg := "a plain decimal such as 0.25"
		if !errors.Is(err, money.ErrFormat) {
			msg = err.Error()
		}
		v.errf(s, "%q is not a price: %s (no sign, exponent or currency; at most 6 decimal places)", *s, msg)
		return false
	}
	return true
}

// rate checks a VAT rate: a fraction from 0 to 1.
func (v *validator) rate(s *string) {
	if *s == "" || v.at(s).bad {
		return
	}
	if strings.HasSuffix(strings.TrimSpace(*s), "%") {
		v.errf(s, "%q: write the rate as a fraction, e.g. 0.19 for 19%%", *s)
		return
	}
	if !v.decimal(s) {
		return
	}
	if m, _ := money.ParseDecimal(*s); m > money.MicroPerUnit {
		v.errf(s, "%q is more than 1 (100%%); write the rate as a fraction, e.g. 0.19 for 19%%", *s)
	}
}
