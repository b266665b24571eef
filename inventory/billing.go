package inventory

import (
	"errors"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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
	// Database is the SQLite file of usage samples, or a PostgreSQL
	// database as a postgres:// URL without a password.
	Database string `yaml:"database" omc:"required" desc:"Where usage samples are kept (counts only, no personal data): an SQLite file relative to this file, e.g. usage.db, or a PostgreSQL database as postgres://user@host[:port]/db (optional ?sslmode=..., or ?host=/socket/dir for a unix socket; never a password: see password_secret)."`
	// PasswordSecret names the entry of secrets holding the PostgreSQL
	// password.
	PasswordSecret string        `yaml:"password_secret" desc:"Name of the entry under secrets holding the PostgreSQL password (a postgres:// database only; omit for trust or peer authentication)."`
	Currency       string        `yaml:"currency" desc:"ISO 4217 currency code of the prices (default EUR)."`
	VATRate        string        `yaml:"vat_rate" desc:"VAT on the net total as a fraction, e.g. 0.19 for 19% (default 0)."`
	Timezone       string        `yaml:"timezone" desc:"Time zone of billing months, e.g. Europe/Berlin (default UTC)."`
	Issuer         string        `yaml:"issuer" desc:"Name and address at the top of each invoice, one line each."`
	Prices         BillingPrices `yaml:"prices" desc:"The price list; a price left out is not charged."`
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

// IsPostgresURL reports whether a billing.database value names a
// PostgreSQL database (postgres:// or postgresql://) rather than an SQLite
// file.
func IsPostgresURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// BillingDatabase is the usage database: an SQLite file's path, relative
// paths taken from the inventory file's directory, or a PostgreSQL URL as
// written (see IsPostgresURL); "" without a billing block.
func (inv *Inventory) BillingDatabase() string {
	if inv.Billing == nil || inv.Billing.Database == "" {
		return ""
	}
	if IsPostgresURL(inv.Billing.Database) {
		return inv.Billing.Database
	}
	p := expandHome(inv.Billing.Database)
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(inv.Path), p)
	}
	return p
}

// BillingPassword is the PostgreSQL password named by
// billing.password_secret ("" when none is named); the error names the
// secret and its reference, never a value.
func (inv *Inventory) BillingPassword() (string, error) {
	if inv.Billing == nil || inv.Billing.PasswordSecret == "" {
		return "", nil
	}
	v, ok := inv.Secret(inv.Billing.PasswordSecret)
	if !ok {
		return "", inv.SecretError(inv.Billing.PasswordSecret)
	}
	return v, nil
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
	switch {
	case b.Database == "":
	case IsPostgresURL(b.Database):
		v.postgresURL(&b.Database)
	case strings.ContainsAny(b.Database, "\n\x00?#"):
		v.errf(&b.Database, "must be a file path (without '?' or '#') or a postgres://user@host[:port]/db URL")
	}
	if b.PasswordSecret != "" {
		if _, ok := v.inv.Secrets[b.PasswordSecret]; !ok {
			v.errf(&b.PasswordSecret, "secret %q is not declared under secrets", b.PasswordSecret)
		} else if !IsPostgresURL(b.Database) {
			v.errf(&b.PasswordSecret, "only a postgres:// database takes a password; database is an SQLite file")
		}
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

// pgSSLModes are libpq's sslmode values.
var pgSSLModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// postgresURL checks a postgres://user@host[:port]/db URL. No message
// repeats the URL: it may hold the password it must not hold.
func (v *validator) postgresURL(s *string) {
	const form = "postgres://user@host[:port]/db"
	if strings.ContainsAny(*s, "\n\x00 ") {
		v.errf(s, "a PostgreSQL database is a %s URL (without spaces)", form)
		return
	}
	u, err := url.Parse(*s)
	if err != nil {
		v.errf(s, "not a valid %s URL", form)
		return
	}
	if _, ok := u.User.Password(); ok || u.Query().Has("password") {
		v.errf(s, "the URL must not contain the password: declare it under secrets and name it in billing.password_secret")
		return
	}
	if u.Fragment != "" || strings.Contains(*s, "#") {
		v.errf(s, "a %s URL has no '#' part", form)
		return
	}
	if u.User.Username() == "" {
		v.errf(s, "name the database user: %s", form)
	}
	if db := strings.TrimPrefix(u.Path, "/"); db == "" || strings.Contains(db, "/") {
		v.errf(s, "name one database after the host: %s", form)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			v.errf(s, "port %q is not a TCP port (1-65535)", p)
		}
	}
	q := u.Query()
	for _, k := range sortedKeys(q) {
		vals := q[k]
		switch k {
		case "sslmode":
			if len(vals) != 1 || !slices.Contains(pgSSLModes, vals[0]) {
				v.errf(s, "sslmode must be one of %s", strings.Join(pgSSLModes, ", "))
			}
		case "host":
			if len(vals) != 1 || !filepath.IsAbs(vals[0]) {
				v.errf(s, "host= in the query is a unix socket directory, an absolute path such as /run/postgresql")
			}
		default:
			v.errf(s, "query parameter %q is not supported; only sslmode and host (a unix socket directory)", k)
		}
	}
	if u.Hostname() == "" && !q.Has("host") {
		v.errf(s, "name the host: %s (or ?host=/socket/dir for a unix socket)", form)
	}
}
