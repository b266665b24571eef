package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
)

type invoiceOptions struct {
	Month     string
	Out       string
	IssueDate string
}

func newInvoiceCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &invoiceOptions{}
	c := &cobra.Command{
		Use:   "invoice --month YYYY-MM [--out DIR] [--issue-date YYYY-MM-DD]",
		Short: "Write each tenant's invoice for a month as CSV and printable HTML",
		Long: `Price each tenant's month with the inventory's price list and write
invoice-MONTH-TENANT.csv and .html per tenant, and invoices-MONTH.csv
listing them, into DIR (default ./invoices). The totals are those of
omc usage report for the month, to the cent: each line is rounded once
(half up), VAT is taken on the net total. Running it again rewrites the
same files. Usage without a tenant (no Scalelite tenant-id) is not
invoiced.

Each invoice carries billing.vat_id, billing.bank and its due date
(the issue date plus billing.payment_days, default 14). The issue date
is today in billing.timezone unless --issue-date says otherwise. A
tenant is invoiced as an EU reverse charge (no VAT, and the invoice
says the recipient accounts for it) when its reverse_charge is true, or
when it has a vat_id whose EU country prefix differs from
billing.vat_id's and reverse_charge is not false.`,
		Example: `  omc invoice --month 2026-11
  omc invoice --month 2026-11 --issue-date 2026-12-01
  omc invoice --month 2026-11 --out /srv/invoices`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runInvoice(c.Context(), s, g, o) },
	}
	c.Flags().StringVar(&o.Month, "month", "", "the month, YYYY-MM (required)")
	c.Flags().StringVar(&o.Out, "out", "invoices", "directory the invoices are written to")
	c.Flags().StringVar(&o.IssueDate, "issue-date", "", "the invoices' issue date, YYYY-MM-DD (default today in billing.timezone)")
	return c
}

func runInvoice(ctx context.Context, s *ui.Streams, g *globalOptions, o *invoiceOptions) error {
	if o.Month == "" {
		return usageError("omc invoice needs --month YYYY-MM")
	}
	if _, err := time.Parse(time.DateOnly, o.IssueDate); o.IssueDate != "" && err != nil {
		return usageError("--issue-date %q is not a date YYYY-MM-DD", o.IssueDate)
	}
	inv, err := loadInventory(s, g)
	if err != nil {
		return err
	}
	res, err := fleet.Invoice(ctx, inv, fleet.InvoiceOptions{Month: o.Month, Out: o.Out, IssueDate: o.IssueDate, Now: g.deps().Now})
	if res != nil && res.Early {
		fmt.Fprintf(s.Err, "warning: issued %s, before %s has ended: usage after that is not on the invoices\n", res.Issued.Format(time.DateOnly), res.Report.Month)
	}
	if err != nil {
		return err
	}
	r, invs, paths := res.Report, res.Invoices, res.Files
	if g.json() {
		type item struct {
			Invoice    string `json:"invoice"`
			Tenant     string `json:"tenant"`
			TotalCents int64  `json:"total_cents"`
			Total      string `json:"total"`
		}
		out := struct {
			V          int      `json:"v"`
			Type       string   `json:"type"`
			Month      string   `json:"month"`
			Currency   string   `json:"currency"`
			Invoices   []item   `json:"invoices"`
			TotalCents int64    `json:"total_cents"`
			Total      string   `json:"total"`
			Files      []string `json:"files"`
		}{V: 1, Type: "invoices", Month: r.Month, Currency: r.Currency, Invoices: []item{}, TotalCents: int64(r.Total), Total: r.Total.String(), Files: paths}
		for _, x := range invs {
			out.Invoices = append(out.Invoices, item{x.Number, x.Tenant, int64(x.Charges.Total), x.Charges.Total.String()})
		}
		return g.jsonOut(s).Write(out)
	}
	for _, x := range invs {
		fmt.Fprintf(s.Out, "%s\t%s\t%s %s\n", x.Number, x.Tenant, x.Charges.Total, x.Currency)
	}
	fmt.Fprintf(s.Out, "total\t\t%s %s\n", r.Total, r.Currency)
	for _, t := range r.Tenants {
		if t.Charges == nil && t.ParticipantMinutes > 0 {
			fmt.Fprintf(s.Err, "warning: %d participant-minutes without a tenant are not invoiced\n", t.ParticipantMinutes)
		}
	}
	fmt.Fprintf(s.Err, "wrote %d files to %s\n", len(paths), o.Out)
	return nil
}
