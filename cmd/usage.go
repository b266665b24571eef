package cmd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/bbbapi"
	"github.com/omc-coop/omc/pool/scalelite"
	"github.com/omc-coop/omc/provision/roles"
	"github.com/omc-coop/omc/usage"
	"github.com/omc-coop/omc/usage/money"
)

// csvOK marks the commands that accept -o csv besides text and json.
const csvOK = "omc.csv"

type usageCollectOptions struct {
	// Now and HTTP are for tests: the clock and the client of the
	// Scalelite and BBB calls.
	Now  func() time.Time
	HTTP *http.Client
	// deps reach the Scalelite hosts of api: rake pools (tests).
	deps *fleet.PoolDeps
}

type usageReportOptions struct {
	Month  string
	Tenant string
}

func newUsageCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "usage",
		Short: "Meter what each tenant uses, and report it",
		Long: `Usage metering: omc usage collect takes one sample of every pool's BBB
nodes (run it from a timer or cron, every minute); omc usage report sums a
month per tenant. The database (billing.database in the inventory: an
SQLite file, or a postgres:// URL with the password in
billing.password_secret) holds counts only: no meeting names, user names
or user IDs.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageError("usage needs a subcommand: collect or report")
		},
	}
	co := &usageCollectOptions{}
	collect := &cobra.Command{
		Use:   "collect",
		Short: "Take this minute's sample of every pool's nodes (idempotent)",
		Long: `Sample every bbb node of every group with a pool: BBB getMeetings and
getRecordings per node, tenant names from Scalelite, and Scalelite's
getRecordings for the recordings its importer moved off the nodes (billed
at the size a node last listed; once per tenant with multitenancy, at
https://TENANT.SCALELITE-HOST, also for api: rake pools). Samples are keyed by
node and minute and written in one transaction, so running collect twice
in a minute counts nothing twice and a crash leaves nothing half-counted.
Participant-minutes between two samples count at most 5 minutes, so a
collector that was down for an hour never bills an hour it did not see.
Exit code 1 when a node could not be sampled.`,
		Example: `  omc usage collect
  # every minute, from cron:
  * * * * * omc usage collect -i /etc/omc/omc.yaml`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runUsageCollect(c.Context(), s, g, co) },
	}
	ro := &usageReportOptions{}
	report := &cobra.Command{
		Use:   "report --month YYYY-MM",
		Short: "Sum a month's usage per tenant, priced by the inventory's price list",
		Long: `Print each tenant's meetings, participant-minutes, peak concurrent users
and peak recording storage for a month, and with the inventory's price
list its net, VAT and total: the same figures omc invoice bills. -o json
gives one object, -o csv one row per tenant.`,
		Example: `  omc usage report --month 2026-11
  omc usage report --month 2026-11 --tenant school-a -o csv > school-a.csv`,
		Args:        noArgs,
		Annotations: map[string]string{csvOK: "true"},
		RunE:        func(c *cobra.Command, _ []string) error { return runUsageReport(c.Context(), s, g, ro) },
	}
	report.Flags().StringVar(&ro.Month, "month", "", "the month, YYYY-MM (required)")
	report.Flags().StringVar(&ro.Tenant, "tenant", "", "only this tenant (name or ID)")
	c.AddCommand(collect, report)
	return c
}

// billingOf is the inventory's billing block, or the inventory error
// that there is none.
func billingOf(inv *inventory.Inventory) (*inventory.Billing, error) {
	if inv.Billing == nil {
		return nil, &exitError{Code: ExitInventory, Err: fmt.Errorf("%s has no billing block: add billing.database (and a price list for invoices)", inv.Path)}
	}
	return inv.Billing, nil
}

// priceList turns the validated billing block into exact numbers.
func priceList(b *inventory.Billing) *usage.PriceList {
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
func meteredFleet(ctx context.Context, s *ui.Streams, inv *inventory.Inventory, hc *http.Client, deps *fleet.PoolDeps, red *redact.Redactor) ([]pool.Pool, []usage.Scalelite, []usage.Node, []string, func(), error) {
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
			rp, closeFn, err := fleet.OpenRake(ctx, inv, g, deps)
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
			mp := fleet.Masking(api, red)
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
				return nil, nil, nil, nil, nil, &exitError{Code: ExitInventory, Err: err}
			}
			red.Add(sec)
			nodes = append(nodes, usage.Node{Name: n.Name, URL: p.MemberURL(n), Secret: sec, Algorithm: p.BBBChecksumAlgorithm()})
		}
	}
	return pools, scalelites, nodes, warnings, closeAll, nil
}

func runUsageCollect(ctx context.Context, s *ui.Streams, g *globalOptions, o *usageCollectOptions) error {
	o.deps = poolEnv(s, g, o.deps)
	inv, err := loadInventory(s, g)
	if err != nil {
		return err
	}
	if _, err := billingOf(inv); err != nil {
		return err
	}
	hc := o.HTTP
	if hc == nil {
		hc = bbbapi.NewHTTPClient(10 * time.Second)
	}
	red := redact.New(inv.SecretValues()...)
	pools, scalelites, nodes, warnings, closePools, err := meteredFleet(ctx, s, inv, hc, o.deps, red)
	if err != nil {
		return err
	}
	defer closePools()
	if len(nodes) == 0 {
		return &exitError{Code: ExitInventory, Err: fmt.Errorf("%s: no group has a pool with bbb nodes: nothing to meter", inv.Path)}
	}
	st, err := openUsageStore(ctx, inv)
	if err != nil {
		return err
	}
	defer st.Close()
	c := &usage.Collector{Pools: pools, Scalelites: scalelites, Nodes: nodes, Store: st, Now: o.Now, HTTP: hc}
	res, err := c.Collect(ctx)
	if err != nil {
		return errors.New(red.String(err.Error()))
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
	if g.json() {
		out := struct {
			V    int    `json:"v"`
			Type string `json:"type"`
			*usage.Result
			Failed int `json:"failed"`
		}{1, "collect", res, res.Failed()}
		if err := g.jsonOut(s).Write(out); err != nil {
			return err
		}
	} else {
		for _, w := range res.Warnings {
			fmt.Fprintln(s.Err, "warning: "+w)
		}
		for _, n := range res.Nodes {
			switch n.Status {
			case "sampled":
				fmt.Fprintf(s.Err, "%s: sampled %s: %d meetings, %d users, +%d participant-minutes\n", n.Node, res.Minute.Format("2006-01-02 15:04Z"), n.Meetings, n.Users, n.ParticipantMinutes)
			case "already":
				fmt.Fprintf(s.Err, "%s: %s already sampled\n", n.Node, res.Minute.Format("2006-01-02 15:04Z"))
			default:
				fmt.Fprintf(s.Err, "%s: failed: %s\n", n.Node, n.Error)
			}
		}
		for _, sl := range res.Scalelites {
			switch sl.Status {
			case "sampled":
				fmt.Fprintf(s.Err, "Scalelite %s: sampled %s: %d recordings, %d of unknown size\n", sl.Scalelite, res.Minute.Format("2006-01-02 15:04Z"), sl.Recordings, sl.UnknownRecordings)
			case "already":
				fmt.Fprintf(s.Err, "Scalelite %s: %s already sampled\n", sl.Scalelite, res.Minute.Format("2006-01-02 15:04Z"))
			default:
				fmt.Fprintf(s.Err, "Scalelite %s: recordings unknown this minute: %s\n", sl.Scalelite, sl.Error)
			}
		}
	}
	if f := res.Failed(); f > 0 {
		return &exitError{Code: ExitError, Err: fmt.Errorf("%d of %d nodes could not be sampled", f, len(res.Nodes))}
	}
	return nil
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
		return nil, &exitError{Code: ExitInventory, Err: fmt.Errorf("billing.password_secret: %w", err)}
	}
	st, err := usage.OpenPostgres(ctx, db, password)
	if err != nil {
		return nil, errors.New(redact.New(inv.SecretValues()...).String(err.Error()))
	}
	return st, nil
}

// openReport opens the existing usage database and builds a month's
// report (nil price list: quantities only).
func openReport(ctx context.Context, inv *inventory.Inventory, month, tenant string, priced bool) (*usage.Report, *usage.PriceList, error) {
	b, err := billingOf(inv)
	if err != nil {
		return nil, nil, err
	}
	if _, _, err := usage.Month(month, nil); err != nil {
		return nil, nil, usageError("--month: %v", err)
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
	var pl *usage.PriceList
	if priced {
		pl = priceList(b)
	}
	r, err := usage.BuildReport(ctx, st, month, pl, tenant)
	return r, pl, err
}

func runUsageReport(ctx context.Context, s *ui.Streams, g *globalOptions, o *usageReportOptions) error {
	if o.Month == "" {
		return usageError("omc usage report needs --month YYYY-MM")
	}
	inv, err := loadInventory(s, g)
	if err != nil {
		return err
	}
	r, _, err := openReport(ctx, inv, o.Month, o.Tenant, true)
	if err != nil {
		return err
	}
	if o.Tenant != "" && len(r.Tenants) == 0 {
		fmt.Fprintf(s.Err, "no usage of tenant %q in %s\n", o.Tenant, r.Month)
	}
	switch g.Output {
	case "json":
		return g.jsonOut(s).Write(r.JSON())
	case "csv":
		return r.WriteCSV(s.Out)
	}
	return r.WriteText(s.Out)
}
