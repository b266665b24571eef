package usage

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/omc-coop/omc/usage/money"
)

// Prices is one price list; a nil price is not charged (no line).
type Prices struct {
	ParticipantMinute *money.Micro // per participant-minute
	PeakUser          *money.Micro // per peak concurrent user in the month
	RecordingGB       *money.Micro // per GB (10^9 bytes) of peak recording storage
	MonthlyFee        *money.Micro // flat, per month
}

// over returns p with o's set prices replacing its own.
func (p Prices) over(o Prices) Prices {
	if o.ParticipantMinute != nil {
		p.ParticipantMinute = o.ParticipantMinute
	}
	if o.PeakUser != nil {
		p.PeakUser = o.PeakUser
	}
	if o.RecordingGB != nil {
		p.RecordingGB = o.RecordingGB
	}
	if o.MonthlyFee != nil {
		p.MonthlyFee = o.MonthlyFee
	}
	return p
}

// TenantTerms are one tenant's overrides and invoice address.
type TenantTerms struct {
	Prices  Prices
	VATRate *money.Micro
	BillTo  string
	VATID   string
	// ReverseCharge: the tenant accounts for the VAT (EU B2B); no VAT
	// is charged, whatever the rates say.
	ReverseCharge bool
}

// Bank is the account invoices are paid to.
type Bank struct {
	IBAN          string // without spaces
	BIC           string
	AccountHolder string
	Name          string
}

// PriceList is the inventory's billing block in exact numbers.
type PriceList struct {
	Currency string
	VATRate  money.Micro // fraction in millionths (0.19 → 190000)
	Prices   Prices
	// Tenants by Scalelite tenant name.
	Tenants map[string]TenantTerms
	Issuer  string
	VATID   string // the issuer's
	Bank    *Bank
	// PaymentDays: invoices are due this many days after their issue
	// date (0: on receipt).
	PaymentDays int
	// Location is the billing months' time zone (default UTC).
	Location *time.Location
}

// Line is one invoice line.
type Line struct {
	Item      string      `json:"item"`
	Quantity  string      `json:"quantity"` // exact, as printed
	Unit      string      `json:"unit"`
	UnitPrice money.Micro `json:"-"`
	Price     string      `json:"unit_price"`
	Amount    money.Cents `json:"amount_cents"`
}

// Charges are a tenant's month priced.
type Charges struct {
	Lines   []Line      `json:"lines"`
	Net     money.Cents `json:"net_cents"`
	VATRate money.Micro `json:"-"`
	VAT     money.Cents `json:"vat_cents"`
	Total   money.Cents `json:"total_cents"`
}

// Price prices one tenant's usage. The rounding rule is money's: each
// line once to the cent, VAT on the rounded net.
func (pl *PriceList) Price(u TenantUsage) Charges {
	p := pl.Prices
	vat := pl.VATRate
	if t, ok := pl.Tenants[u.Tenant]; ok {
		p = p.over(t.Prices)
		if t.VATRate != nil {
			vat = *t.VATRate
		}
		if t.ReverseCharge {
			vat = 0
		}
	}
	var c Charges
	add := func(item string, qty, per int64, qtyText, unit string, price *money.Micro) {
		if price == nil {
			return
		}
		a := money.Amount(qty, per, *price)
		c.Lines = append(c.Lines, Line{Item: item, Quantity: qtyText, Unit: unit, UnitPrice: *price, Price: price.String(), Amount: a})
		c.Net += a
	}
	add("Monthly fee", 1, 1, "1", "month", p.MonthlyFee)
	add("Participant-minutes", u.ParticipantMinutes, 1, strconv.FormatInt(u.ParticipantMinutes, 10), "participant-minute", p.ParticipantMinute)
	add("Peak concurrent users", u.PeakUsers, 1, strconv.FormatInt(u.PeakUsers, 10), "user", p.PeakUser)
	// Recordings of unknown size are not billed, and the line says so.
	storage := "Recording storage (peak)"
	if u.UnknownRecordings > 0 {
		storage = fmt.Sprintf("Recording storage (peak; up to %d recordings of unknown size not billed)", u.UnknownRecordings)
	}
	add(storage, u.PeakRecordingBytes, 1_000_000_000, storageText(u), "GB", p.RecordingGB)
	c.VATRate = vat
	c.VAT = money.Rate(c.Net, vat)
	c.Total = c.Net + c.VAT
	return c
}

// gb is bytes as exact decimal GB (10^9 bytes), trailing zeros dropped.
func gb(b int64) string {
	s := fmt.Sprintf("%d.%09d", b/1_000_000_000, b%1_000_000_000)
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}

// TenantReport is one tenant's usage and, with a price list, charges.
type TenantReport struct {
	TenantUsage
	Charges *Charges `json:"charges,omitempty"`
}

// Report is a month of usage.
type Report struct {
	Month    string         `json:"month"`
	From     time.Time      `json:"from"`
	To       time.Time      `json:"to"`
	Currency string         `json:"currency,omitempty"`
	Tenants  []TenantReport `json:"tenants"`
	// Totals over the tenants' charges (with a price list).
	Net   money.Cents `json:"net_cents"`
	VAT   money.Cents `json:"vat_cents"`
	Total money.Cents `json:"total_cents"`
}

// BuildReport reads a month ("2026-11") from the store. With a price
// list each tenant is priced (Unattributed usage never is: there is no
// one to bill), and the tenants the price list names appear even when
// they used nothing (their monthly fee is due). tenant, when set, keeps
// that tenant only (by name or ID).
func BuildReport(ctx context.Context, st Store, month string, pl *PriceList, tenant string) (*Report, error) {
	var loc *time.Location
	if pl != nil {
		loc = pl.Location
	}
	from, to, err := Month(month, loc)
	if err != nil {
		return nil, err
	}
	us, err := st.Usage(ctx, from, to)
	if err != nil {
		return nil, err
	}
	r := &Report{Month: from.Format("2006-01"), From: from, To: to}
	seen := map[string]bool{}
	for _, u := range us {
		seen[u.Tenant] = true
	}
	if pl != nil {
		r.Currency = pl.Currency
		for name := range pl.Tenants {
			if !seen[name] {
				us = append(us, TenantUsage{Tenant: name})
			}
		}
		sort.Slice(us, func(i, j int) bool { return us[i].Tenant < us[j].Tenant })
	}
	for _, u := range us {
		if tenant != "" && u.Tenant != tenant && u.TenantID != tenant {
			continue
		}
		tr := TenantReport{TenantUsage: u}
		if pl != nil && u.Tenant != Unattributed {
			c := pl.Price(u)
			tr.Charges = &c
			r.Net += c.Net
			r.VAT += c.VAT
			r.Total += c.Total
		}
		r.Tenants = append(r.Tenants, tr)
	}
	return r, nil
}

// WriteJSON writes the report as one JSON object (JSON).
func (r *Report) WriteJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(r.JSON())
}

// JSON is the report as the object `omc usage report -o json` writes.
func (r *Report) JSON() any {
	type charges struct {
		Lines []struct {
			Line
			AmountText string `json:"amount"`
		} `json:"lines"`
		NetCents   money.Cents `json:"net_cents"`
		Net        string      `json:"net"`
		VATRate    string      `json:"vat_rate"`
		VATCents   money.Cents `json:"vat_cents"`
		VAT        string      `json:"vat"`
		TotalCents money.Cents `json:"total_cents"`
		Total      string      `json:"total"`
	}
	type tenant struct {
		TenantUsage
		Charges *charges `json:"charges,omitempty"`
	}
	out := struct {
		V          int      `json:"v"`
		Type       string   `json:"type"`
		Month      string   `json:"month"`
		From       string   `json:"from"`
		To         string   `json:"to"`
		Currency   string   `json:"currency,omitempty"`
		Tenants    []tenant `json:"tenants"`
		NetCents   int64    `json:"net_cents"`
		Net        string   `json:"net"`
		VATCents   int64    `json:"vat_cents"`
		VAT        string   `json:"vat"`
		TotalCents int64    `json:"total_cents"`
		Total      string   `json:"total"`
	}{V: 1, Type: "usage", Month: r.Month, From: r.From.Format(time.RFC3339), To: r.To.Format(time.RFC3339), Currency: r.Currency,
		Tenants: []tenant{}, NetCents: int64(r.Net), Net: r.Net.String(), VATCents: int64(r.VAT), VAT: r.VAT.String(),
		TotalCents: int64(r.Total), Total: r.Total.String()}
	for _, t := range r.Tenants {
		x := tenant{TenantUsage: t.TenantUsage}
		if c := t.Charges; c != nil {
			xc := &charges{NetCents: c.Net, Net: c.Net.String(), VATRate: c.VATRate.String(), VATCents: c.VAT, VAT: c.VAT.String(),
				TotalCents: c.Total, Total: c.Total.String()}
			for _, l := range c.Lines {
				xc.Lines = append(xc.Lines, struct {
					Line
					AmountText string `json:"amount"`
				}{l, l.Amount.String()})
			}
			x.Charges = xc
		}
		out.Tenants = append(out.Tenants, x)
	}
	return out
}

// WriteCSV writes one row per tenant, money as decimals.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"month", "tenant", "tenant_id", "meetings", "participant_minutes", "peak_users", "peak_recording_bytes", "net", "vat", "total", "currency",
		"unknown_recordings"})
	for _, t := range r.Tenants {
		row := []string{r.Month, t.Tenant, t.TenantID, itoa(t.Meetings), itoa(t.ParticipantMinutes), itoa(t.PeakUsers), itoa(t.PeakRecordingBytes), "", "", "", "",
			itoa(t.UnknownRecordings)}
		if c := t.Charges; c != nil {
			row[7], row[8], row[9], row[10] = c.Net.String(), c.VAT.String(), c.Total.String(), r.Currency
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// WriteText writes an aligned table for people.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	priced := r.Currency != ""
	head := "TENANT\tMEETINGS\tPARTICIPANT-MINUTES\tPEAK USERS\tRECORDINGS (GB)"
	if priced {
		head += "\tNET\tVAT\tTOTAL (" + r.Currency + ")"
	}
	fmt.Fprintln(tw, head)
	for _, t := range r.Tenants {
		line := fmt.Sprintf("%s\t%d\t%d\t%d\t%s", t.Tenant, t.Meetings, t.ParticipantMinutes, t.PeakUsers, storageText(t.TenantUsage))
		if priced {
			if c := t.Charges; c != nil {
				line += fmt.Sprintf("\t%s\t%s\t%s", c.Net, c.VAT, c.Total)
			} else {
				line += "\t-\t-\t-"
			}
		}
		fmt.Fprintln(tw, line)
	}
	if priced {
		fmt.Fprintf(tw, "total\t\t\t\t\t%s\t%s\t%s\n", r.Net, r.VAT, r.Total)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range r.Tenants {
		if t.UnknownRecordings > 0 {
			fmt.Fprintf(w, "%s: up to %d recordings of unknown size (BBB's and Scalelite's getRecordings give none) are not in RECORDINGS\n", t.Tenant, t.UnknownRecordings)
		}
	}
	return nil
}

// storageText is the RECORDINGS (GB) cell: "unknown" when every
// recording's size is, the known part "+ unknown" when some are.
func storageText(u TenantUsage) string {
	switch {
	case u.UnknownRecordings > 0 && u.PeakRecordingBytes == 0:
		return "unknown"
	case u.UnknownRecordings > 0:
		return gb(u.PeakRecordingBytes) + " + unknown"
	}
	return gb(u.PeakRecordingBytes)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
