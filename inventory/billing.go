package inventory

import (
	"errors"
	"fmt"
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
	VATID          string        `yaml:"vat_id" desc:"The issuer's VAT identification number, printed on each invoice, e.g. DE123456789 (its two-letter prefix is the issuer's country for the reverse charge)."`
	Bank           *BillingBank  `yaml:"bank" desc:"The account invoices are paid to, printed on each invoice."`
	PaymentDays    *int          `yaml:"payment_days" desc:"Days an invoice is payable within, from its issue date; the due date is printed (default 14; 0: due on receipt)."`
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
	VATID   string        `yaml:"vat_id" desc:"The tenant's VAT identification number, printed under its address. With an EU prefix other than the issuer's it makes the invoice a reverse charge (no VAT) unless reverse_charge is false."`
	// ReverseCharge overrides the rule vat_id implies.
	ReverseCharge *bool `yaml:"reverse_charge" desc:"true: the tenant accounts for the VAT (EU B2B reverse charge): no VAT is charged and the invoice says so; needs vat_id here and billing.vat_id. Default: true when both VAT IDs have EU prefixes that differ."`
}

// BillingBank is the account an invoice is paid to.
type BillingBank struct {
	Pos           Pos    `yaml:"-"`
	IBAN          string `yaml:"iban" omc:"required" desc:"IBAN, with or without spaces; its check digits are verified."`
	BIC           string `yaml:"bic" desc:"BIC (SWIFT code) of the bank, 8 or 11 characters."`
	AccountHolder string `yaml:"account_holder" desc:"Name on the account (default the first line of issuer)."`
	Name          string `yaml:"name" desc:"Name of the bank."`
}

// euVATPrefixes are the EU member states' VAT number prefixes (Greece
// is EL; XI is Northern Ireland for goods only, not services, so absent).
var euVATPrefixes = []string{"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"}

// IsReverseCharge reports whether the tenant's invoices are an EU
// reverse charge: as reverse_charge says, else when the tenant's and the
// issuer's VAT IDs both have EU prefixes and they differ.
func (b *Billing) IsReverseCharge(t *BillingTenant) bool {
	if t.ReverseCharge != nil {
		return *t.ReverseCharge
	}
	if len(b.VATID) < 2 || len(t.VATID) < 2 {
		return false
	}
	a, c := b.VATID[:2], t.VATID[:2]
	return a != c && slices.Contains(euVATPrefixes, a) && slices.Contains(euVATPrefixes, c)
}

// DefaultPaymentDays is how long an invoice is payable unless the
// inventory says.
const DefaultPaymentDays = 14

// PaymentTermDays is billing.payment_days or its default.
func (b *Billing) PaymentTermDays() int {
	if b == nil || b.PaymentDays == nil {
		return DefaultPaymentDays
	}
	return *b.PaymentDays
}

// CompactIBAN is an IBAN without its spaces.
func CompactIBAN(s string) string {
	return strings.ReplaceAll(s, " ", "")
}

func init() {
	dec := map[string]any{"type": []string{"string", "number"}, "pattern": decimalText.String(), "minimum": 0}
	for _, k := range []string{"BillingPrices.participant_minute", "BillingPrices.peak_user", "BillingPrices.recording_gb", "BillingPrices.monthly_fee"} {
		schemaExtra[k] = dec
	}
	schemaExtra["Billing.vat_rate"] = dec
	schemaExtra["BillingTenant.vat_rate"] = dec
	schemaExtra["Billing.currency"] = map[string]any{"pattern": currencyCode.String()}
	schemaExtra["Billing.vat_id"] = map[string]any{"pattern": vatIDText.String()}
	schemaExtra["BillingTenant.vat_id"] = map[string]any{"pattern": vatIDText.String()}
	schemaExtra["Billing.payment_days"] = map[string]any{"minimum": 0, "maximum": maxPaymentDays}
	schemaExtra["BillingBank.iban"] = map[string]any{"pattern": ibanText.String()}
	schemaExtra["BillingBank.bic"] = map[string]any{"pattern": bicText.String()}
}

var (
	decimalText  = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,6})?$`)
	currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)
	// vatIDText is a VAT ID as printed: a two-letter country prefix, then
	// digits, letters and the separators some countries print (CHE-123.456.789).
	vatIDText = regexp.MustCompile(`^[A-Z]{2}[0-9A-Z+*.-]{2,14}$`)
	ibanText  = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[0-9A-Z ]{11,36}$`)
	bicText   = regexp.MustCompile(`^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$`)
)

const maxPaymentDays = 365

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
	v.vatID(&b.VATID)
	if b.PaymentDays != nil && (*b.PaymentDays < 0 || *b.PaymentDays > maxPaymentDays) {
		v.errf(b.PaymentDays, "%d: payment terms are 0 (due on receipt) to %d days", *b.PaymentDays, maxPaymentDays)
	}
	if k := b.Bank; k != nil {
		if k.IBAN != "" {
			if msg := ibanProblem(k.IBAN); msg != "" {
				v.errf(&k.IBAN, "%s", msg)
			}
		}
		if k.BIC != "" && !bicText.MatchString(k.BIC) {
			v.errf(&k.BIC, "%q is not a BIC: 8 or 11 letters and digits, e.g. COBADEFFXXX", k.BIC)
		}
	}
	for _, t := range b.Tenants {
		if !isLabel(t.Name) {
			v.errf(&t.Name, "%q: Scalelite tenant names are lowercase DNS labels (the first label of the tenant's host name)", t.Name)
		}
		if t.VATRate != nil {
			v.rate(t.VATRate)
		}
		v.prices(&t.Prices)
		v.vatID(&t.VATID)
		if !b.IsReverseCharge(t) {
			continue
		}
		// The reverse charge is only stated with both VAT IDs on the
		// invoice (Art. 226 (3), (4) of Directive 2006/112/EC), and no VAT.
		var p any = &t.VATID
		if t.ReverseCharge != nil {
			p = t.ReverseCharge
		}
		if t.VATID == "" {
			v.errf(p, "a reverse charge needs the tenant's vat_id")
		}
		if b.VATID == "" {
			v.errf(p, "a reverse charge needs the issuer's billing.vat_id")
		}
		if t.VATRate != nil && Decimal(*t.VATRate) != 0 {
			v.errf(t.VATRate, "%q: a reverse charge has no VAT; set 0 or leave vat_rate out", *t.VATRate)
		}
	}
}

// vatID checks a VAT ID's form (its number is not looked up).
func (v *validator) vatID(s *string) {
	if *s == "" || v.at(s).bad {
		return
	}
	if !vatIDText.MatchString(*s) {
		v.errf(s, "%q is not a VAT ID: a two-letter country prefix and the number without spaces, e.g. DE123456789", *s)
	}
}

// ibanLengths are the IBAN lengths of the SEPA countries; others are only
// checked for their check digits.
var ibanLengths = map[string]int{"AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27}

// ibanProblem says what is wrong with an IBAN ("" when nothing): its
// form, its country's length, and its ISO 7064 mod 97 check digits.
func ibanProblem(s string) string {
	c := CompactIBAN(s)
	if !ibanText.MatchString(c) || len(c) < 15 || len(c) > 34 {
		return "not an IBAN: upper-case country code, two check digits and the account, e.g. DE89 3704 0044 0532 0130 00"
	}
	if n, ok := ibanLengths[c[:2]]; ok && len(c) != n {
		return fmt.Sprintf("an IBAN from %s has %d characters, this one %d", c[:2], n, len(c))
	}
	rem := 0
	for _, r := range c[4:] + c[:4] {
		d := int(r - '0')
		if r >= 'A' {
			d = int(r-'A') + 10
		}
		if d >= 10 {
			rem = (rem*100 + d) % 97
		} else {
			rem = (rem*10 + d) % 97
		}
	}
	if rem != 1 {
		return "the IBAN's check digits do not match: a typo?"
	}
	return ""
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
