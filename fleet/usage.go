package fleet

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/bbbapi"
	"github.com/omc-coop/omc/pool/scalelite"
	"github.com/omc-coop/omc/provision/roles"
	"github.com/omc-coop/omc/usage"
	"github.com/omc-coop/omc/usage/money"
)

// UsageOptions are usage collect's: the clock (default time.Now), the
// client of the Scalelite and BBB calls (default: a 10 s one), and what
// reaches the Scalelite hosts of api: rake pools.
type UsageOptions struct {
	Now  func() time.Time
	HTTP *http.Client
	Pool *PoolDeps
}

// CollectUsage takes this minute's sample of every pool's bbb nodes and
// the recordings their Scalelites hold, into the inventory's usage
// store (idempotent per node and minute). A node that could not be
// sampled is in the result (Failed), not an error. Every error and
// warning is masked of the inventory's secrets and the nodes'.
func CollectUsage(ctx context.Context, inv *inventory.Inventory, o UsageOptions) (*usage.Result, error) {
	if _, err := billingOf(inv); err != nil {
		return nil, err
	}
	hc := o.HTTP
	if hc == nil {
		hc = bbbapi.NewHTTPClient(10 * time.Second)
	}
	red := redact.New(inv.SecretValues()...)
	pools, scalelites, nodes, warnings, closePools, err := meteredFleet(ctx, inv, hc, o.Pool, red)
	if err != nil {
		return nil, err
	}
	defer closePools()
	if len(nodes) == 0 {
		return nil, &InventoryError{Err: fmt.Errorf("%s: no group has a pool with bbb nodes: nothing to meter", inv.Path)}
	}
	st, err := openUsageStore(ctx, inv)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	c := &usage.Collector{Pools: pools, Scalelites: scalelites, Nodes: nodes, Store: st, Now: o.Now, HTTP: hc}
	res, err := c.Collect(ctx)
	if err != nil {
		return nil, errors.New(red.String(err.Error()))
	}
	res.Warnings = append(warnings, res.Warnings...)
	for i := range res.Warnings {
		res.Warnings[i] = red.String(res.Warnings[i])
	}
	for i := range res.Nodes {
		res.Nodes[i].Error = red.String(res.Nodes[i].Error)
	}
	for i := range res.Scalelites {
		res.Scalelites[i].Error = red.String(res.Scalelites[i].Error)
	}
	return res, nil
}

// UsageReport sums a month (YYYY-MM) of the existing usage store per
// tenant (only tenant, when set), priced by the inventory's price list,
// which it returns too.
func UsageReport(ctx context.Context, inv *inventory.Inventory, month, tenant string) (*usage.Report, *usage.PriceList, error) {
	b, err := billingOf(inv)
	if err != nil {
		return nil, nil, err
	}
	if _, _, err := usage.Month(month, nil); err != nil {
		return nil, nil, usageErrorf("--month: %v", err)
	}
	if path := inv.BillingDatabase(); !inventory.IsPostgresURL(path) {
		if _, err := os.Stat(path); err != nil {
			return nil, nil, fmt.Errorf("no usage database at %s (omc usage collect makes it): %w", path, err)
		}
	}
	st, err := openUsageStore(ctx, inv)
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	pl := PriceList(b)
	r, err := usage.BuildReport(ctx, st, month, pl, tenant)
	return r, pl, err
}

// billingOf is the inventory's billing block, or the inventory error
// that there is none.
func billingOf(inv *inventory.Inventory) (*inventory.Billing, error) {
	if inv.Billing == nil {
		return nil, &InventoryError{Err: fmt.Errorf("%s has no billing block: add billing.database (and a price list for invoices)", inv.Path)}
	}
	return inv.Billing, nil
}

// PriceList turns the validated billing block into exact numbers.
func PriceList(b *inventory.Billing) *usage.PriceList {
	prices := func(p inventory.BillingPrices) usage.Prices {
		dec := func(s *string) *money.Micro {
			if s == nil {
				return nil
			}
			m := inventory.Decimal(*s)
			return &m
		}
		return usage.Prices{ParticipantMinute: dec(p.ParticipantMinute), PeakUser: dec(p.PeakUser), RecordingGB: dec(p.RecordingGB), MonthlyFee: dec(p.MonthlyFee)}
	}
	pl := &usage.PriceList{Currency: b.CurrencyCode(), VATRate: inventory.Decimal(b.VATRate), Prices: prices(b.Prices),
		Tenants: map[string]usage.TenantTerms{}, Issuer: b.Issuer, Location: b.Location(),
		VATID: b.VATID, PaymentDays: b.PaymentTermDays()}
	if k := b.Bank; k != nil {
		pl.Bank = &usage.Bank{IBAN: inventory.CompactIBAN(k.IBAN), BIC: k.BIC, AccountHolder: k.AccountHolder, Name: k.Name}
		if pl.Bank.AccountHolder == "" {
			pl.Bank.AccountHolder, _, _ = strings.Cut(strings.TrimSpace(b.Issuer), "\n")
		}
	}
	for _, t := range b.Tenants {
		terms := usage.TenantTerms{Prices: prices(t.Prices), BillTo: t.BillTo, VATID: t.VATID, ReverseCharge: b.IsReverseCharge(t)}
		if t.VATRate != nil {
			v := inventory.Decimal(*t.VATRate)
			terms.VATRate = &v
		}
		pl.Tenants[t.Name] = terms
	}
	return pl
}

// meteredFleet is what collect samples: each pool's Scalelite (for tenant
// names: its API, or its rake tasks over SSH to the Scalelite host, closed
// by the returned func; for the recordings its importer holds: the BBB
// API it serves) and its bbb nodes, and the secrets to mask.
func meteredFleet(ctx context.Context, inv *inventory.Inventory, hc *http.Client, deps *PoolDeps, red *redact.Redactor) ([]pool.Pool, []usage.Scalelite, []usage.Node, []string, func(), error) {
	var pools []pool.Pool
	var scalelites []usage.Scalelite
	var nodes []usage.Node
	var warnings []string
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	for _, g := range inv.Groups {
		p := g.Pool
		if p == nil {
			continue
		}
		// The tenants through Scalelite's API or its rake tasks; the
		// recordings through the BBB API it serves at pool.url, whatever
		// omc manages it with.
		var api pool.Pool
		switch {
		case !p.Secret.IsSet():
			warnings = append(warnings, fmt.Sprintf("group %s: the pool's secret %s is not readable: tenant names not updated", g.Name, p.Secret.Ref))
		case p.APIKind() == inventory.PoolRake:
			rp, closeFn, err := OpenRake(ctx, inv, g, deps)
			if err != nil {
				warnings = append(warnings, fmt.Sprintf("group %s: tenant names not updated: %v", g.Name, err))
				break
			}
			closers = append(closers, closeFn)
			api = rp
		default:
			api = &scalelite.Client{URL: p.URL, Secret: p.Secret.Value(), Algorithm: p.ChecksumAlgorithm(), HTTP: hc}
		}
		if api != nil {
			red.Add(p.Secret.Value())
			mp := Masking(api, red)
			pools = append(pools, mp)
			scalelites = append(scalelites, usage.Scalelite{URL: p.URL, Secret: p.Secret.Value(), Algorithm: p.ChecksumAlgorithm(), Pool: mp})
		}
		for _, n := range inv.Nodes() {
			if n.Group != g.Name || !slices.Contains(n.Roles, "bbb") {
				continue
			}
			sec, err := roles.APISecret(inv, n)
			if err != nil {
				closeAll()
				return nil, nil, nil, nil, nil, &InventoryError{Err: err}
			}
			red.Add(sec)
			nodes = append(nodes, usage.Node{Name: n.Name, URL: p.MemberURL(n), Secret: sec, Algorithm: p.BBBChecksumAlgorithm()})
		}
	}
	return pools, scalelites, nodes, warnings, closeAll, nil
}

// openUsageStore opens the inventory's usage store: PostgreSQL when
// billing.database is a postgres:// URL (with the password from
// billing.password_secret), else the SQLite file. Errors are redacted of
// every secret value.
func openUsageStore(ctx context.Context, inv *inventory.Inventory) (usage.Store, error) {
	db := inv.BillingDatabase()
	if !inventory.IsPostgresURL(db) {
		return usage.OpenSQLite(ctx, db)
	}
	password, err := inv.BillingPassword()
	if err != nil {
		return nil, &InventoryError{Err: fmt.Errorf("billing.password_secret: %w", err)}
	}
	st, err := usage.OpenPostgres(ctx, db, password)
	if err != nil {
		return nil, errors.New(redact.New(inv.SecretValues()...).String(err.Error()))
	}
	return st, nil
}

// InvoiceOptions are invoice's: the month (YYYY-MM), the directory the
// invoices go to, the issue date (YYYY-MM-DD; default today in the
// billing time zone, by Now: default time.Now).
type InvoiceOptions struct {
	Month     string
	Out       string
	IssueDate string
	Now       func() time.Time
}

// InvoiceResult is a month's invoices, written.
type InvoiceResult struct {
	Report   *usage.Report
	Invoices []usage.Invoice
	Files    []string
	Issued   time.Time
	// Early is an issue date before the month has ended: usage after it
	// is not on the invoices.
	Early bool
}

// Invoice prices each tenant's month with the inventory's price list and
// writes its invoices (CSV and HTML per tenant, and a summary) into Out.
// When writing fails, the result says what was to be written.
func Invoice(ctx context.Context, inv *inventory.Inventory, o InvoiceOptions) (*InvoiceResult, error) {
	r, pl, err := UsageReport(ctx, inv, o.Month, "")
	if err != nil {
		return nil, err
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	issued := now().In(pl.Location)
	if o.IssueDate != "" {
		if issued, err = time.ParseInLocation(time.DateOnly, o.IssueDate, pl.Location); err != nil {
			return nil, usageErrorf("--issue-date %q is not a date YYYY-MM-DD", o.IssueDate)
		}
	}
	res := &InvoiceResult{Report: r, Issued: issued}
	if day := time.Date(issued.Year(), issued.Month(), issued.Day(), 0, 0, 0, 0, pl.Location); day.Before(r.To) {
		res.Early = true
	}
	res.Invoices = usage.Invoices(r, pl, issued)
	if res.Files, err = usage.WriteInvoices(o.Out, r.Month, res.Invoices); err != nil {
		return res, fmt.Errorf("writing invoices: %w", err)
	}
	return res, nil
}
