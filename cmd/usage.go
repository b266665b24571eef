package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/usage"
)

// csvOK marks the commands that accept -o csv besides text and json.
const csvOK = "omc.csv"

type usageCollectOptions struct{}

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

func runUsageCollect(ctx context.Context, s *ui.Streams, g *globalOptions, o *usageCollectOptions) error {
	deps := poolEnv(s, g)
	inv, err := loadInventory(s, g)
	if err != nil {
		return err
	}
	res, err := fleet.CollectUsage(ctx, inv, fleet.UsageOptions{Now: g.deps().Now, HTTP: g.deps().HTTP, Pool: deps})
	if err != nil {
		return err
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

func runUsageReport(ctx context.Context, s *ui.Streams, g *globalOptions, o *usageReportOptions) error {
	if o.Month == "" {
		return usageError("omc usage report needs --month YYYY-MM")
	}
	inv, err := loadInventory(s, g)
	if err != nil {
		return err
	}
	r, _, err := fleet.UsageReport(ctx, inv, o.Month, o.Tenant)
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
