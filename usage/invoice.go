package usage

import (
	"bytes"
	"embed"
	"encoding/csv"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/omc-coop/omc/usage/money"
)

//go:embed templates/invoice.html.tmpl
var templates embed.FS

var invoiceHTML = template.Must(template.New("invoice.html.tmpl").Funcs(template.FuncMap{"iban": GroupedIBAN}).ParseFS(templates, "templates/invoice.html.tmpl"))

// Invoice is one tenant's invoice for a month.
type Invoice struct {
	Number string // <month>-<tenant>, stable: re-running replaces, never duplicates
	Month  string
	Period string // "1 November 2026 – 30 November 2026"
	Issued string // YYYY-MM-DD
	Due    string // YYYY-MM-DD: Issued plus the payment days
	// PaymentDays: 0 is due on receipt.
	PaymentDays int
	Tenant      string
	TenantID    string
	BillTo      []string
	TenantVATID string
	Issuer      []string
	IssuerVATID string
	Bank        *Bank
	// ReverseCharge: no VAT, the tenant accounts for it; the invoice
	// says so.
	ReverseCharge bool
	Currency      string
	Usage         TenantUsage
	Charges       Charges
}

// ReverseChargeNote is the wording an EU reverse-charge invoice carries
// (Art. 226 (11a) of Directive 2006/112/EC asks for "Reverse charge").
const ReverseChargeNote = "Reverse charge: VAT to be accounted for by the recipient (Art. 196 Directive 2006/112/EC)."

// Invoices makes one invoice per priced tenant of the report, in its
// order, issued on the given day.
func Invoices(r *Report, pl *PriceList, issued time.Time) []Invoice {
	var out []Invoice
	last := r.To.AddDate(0, 0, -1)
	day := time.Date(issued.Year(), issued.Month(), issued.Day(), 0, 0, 0, 0, time.UTC)
	for _, t := range r.Tenants {
		if t.Charges == nil {
			continue
		}
		inv := Invoice{
			Number: r.Month + "-" + fileSafe(t.Tenant), Month: r.Month,
			Period: r.From.Format("2 January 2006") + " – " + last.Format("2 January 2006"),
			Issued: day.Format(time.DateOnly), Due: day.AddDate(0, 0, pl.PaymentDays).Format(time.DateOnly), PaymentDays: pl.PaymentDays,
			Tenant: t.Tenant, TenantID: t.TenantID, Currency: r.Currency, Usage: t.TenantUsage, Charges: *t.Charges,
			Issuer: lines(pl.Issuer), IssuerVATID: pl.VATID, Bank: pl.Bank,
		}
		if terms, ok := pl.Tenants[t.Tenant]; ok {
			inv.BillTo = lines(terms.BillTo)
			inv.TenantVATID = terms.VATID
			inv.ReverseCharge = terms.ReverseCharge
		}
		out = append(out, inv)
	}
	return out
}

// GroupedIBAN is an IBAN as printed: in groups of four.
func GroupedIBAN(iban string) string {
	var b strings.Builder
	for i, r := range strings.ReplaceAll(iban, " ", "") {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// fileSafe makes a tenant name usable in a file name and invoice number.
func fileSafe(s string) string {
	s = strings.Trim(unsafeChars.ReplaceAllString(s, "_"), "._")
	if s == "" {
		s = "tenant"
	}
	return s
}

// CSV is the invoice as CSV: one row per line, then net, VAT and total.
func (inv *Invoice) CSV() ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"invoice", "month", "tenant", "item", "quantity", "unit", "unit_price", "amount", "currency"})
	for _, l := range inv.Charges.Lines {
		w.Write([]string{inv.Number, inv.Month, inv.Tenant, l.Item, l.Quantity, l.Unit, l.Price, l.Amount.String(), inv.Currency})
	}
	w.Write([]string{inv.Number, inv.Month, inv.Tenant, "Net", "", "", "", inv.Charges.Net.String(), inv.Currency})
	w.Write([]string{inv.Number, inv.Month, inv.Tenant, "VAT " + inv.Charges.VATRate.Percent() + "%", "", "", "", inv.Charges.VAT.String(), inv.Currency})
	w.Write([]string{inv.Number, inv.Month, inv.Tenant, "Total", "", "", "", inv.Charges.Total.String(), inv.Currency})
	w.Flush()
	return b.Bytes(), w.Error()
}

// HTML is the invoice as a printable page (no scripts, no remote assets).
func (inv *Invoice) HTML() ([]byte, error) {
	var b bytes.Buffer
	err := invoiceHTML.Execute(&b, struct {
		*Invoice
		VATPercent string
		Note       string
	}{inv, inv.Charges.VATRate.Percent(), ReverseChargeNote})
	return b.Bytes(), err
}

// SummaryCSV lists the invoices, one row each, with their totals: the
// sum of its total column is the usage report's total.
func SummaryCSV(invs []Invoice) ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"invoice", "month", "tenant", "tenant_id", "net", "vat", "total", "currency"})
	var net, vat, total money.Cents
	cur := ""
	for _, inv := range invs {
		w.Write([]string{inv.Number, inv.Month, inv.Tenant, inv.TenantID, inv.Charges.Net.String(), inv.Charges.VAT.String(), inv.Charges.Total.String(), inv.Currency})
		net, vat, total = net+inv.Charges.Net, vat+inv.Charges.VAT, total+inv.Charges.Total
		cur = inv.Currency
	}
	if len(invs) > 0 {
		w.Write([]string{"total", invs[0].Month, "", "", net.String(), vat.String(), total.String(), cur})
	}
	w.Flush()
	return b.Bytes(), w.Error()
}

// WriteInvoices writes, for each invoice, invoice-NUMBER.csv and
// invoice-NUMBER.html into dir, and invoices-MONTH.csv listing them; each
// file is written whole (temporary file, then rename). It returns the
// paths written.
func WriteInvoices(dir, month string, invs []Invoice) ([]string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	var paths []string
	put := func(name string, data []byte) error {
		p := filepath.Join(dir, name)
		if err := writeFile(p, data); err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	}
	for i := range invs {
		inv := &invs[i]
		c, err := inv.CSV()
		if err != nil {
			return paths, err
		}
		h, err := inv.HTML()
		if err != nil {
			return paths, fmt.Errorf("invoice %s: %w", inv.Number, err)
		}
		if err := put("invoice-"+inv.Number+".csv", c); err != nil {
			return paths, err
		}
		if err := put("invoice-"+inv.Number+".html", h); err != nil {
			return paths, err
		}
	}
	s, err := SummaryCSV(invs)
	if err != nil {
		return paths, err
	}
	return paths, put("invoices-"+month+".csv", s)
}

func writeFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Chmod(0o640); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
