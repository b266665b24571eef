package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/provision/roles"
)

type statusOptions struct {
	Targets []string
	// Watch redraws a live view every Interval (status_watch.go).
	Watch    bool
	Interval time.Duration
	// HTML also writes the public status page there (status_html.go).
	HTML string
	// Transfers also asks the bbb nodes over SSH what recordings wait.
	Transfers bool
}

func newStatusCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &statusOptions{}
	c := &cobra.Command{
		Use:   "status [GROUP...]",
		Short: "Show each pool's nodes: machine, BBB, Scalelite state, load and health",
		Long: `Show one table per pool (every group with a pool, or the named ones): each
bbb node's provider, address, BBB version, pool state, online, meetings,
users, load, TLS expiry and last converge. The providers, Scalelite and
each node's BBB API are asked in parallel; nothing is changed.

A node is unhealthy when its health gate fails (BBB API, secret, TLS,
TURN), when Scalelite does not have it or sees it offline, or when it is
out of service without an operator having drained it. Then omc status
exits 5, so monitoring can run it. With -o json it prints one object
(version 1: fields are only ever added within a version).

--watch redraws a live view of the pools on the terminal every --interval
until Ctrl-C. --html FILE also writes a static, public-safe status page
(regions, up/down, capacity used, last incident; no node names,
addresses or secrets). Every run records in the state directory when a
node turns unhealthy or healthy again: the page's incidents.

--transfers also connects over SSH to each bbb node that sends its
recordings to a managed Scalelite node and counts those waiting there
after a failed transfer; the node's timer retries them every ` + ageText(roles.TransferRetry) + `, and a
node whose oldest has waited over ` + ageText(roles.TransferStuckAfter) + ` is stuck. A node that cannot be
reached says so; neither changes the exit code.`,
		Example: `  omc status
  omc status eu-1 -o json
  omc status --watch --interval 10s
  omc status --html /var/www/status/index.html
  omc status --transfers`,
		RunE: func(c *cobra.Command, args []string) error {
			if c.Flags().Changed("interval") && !o.Watch {
				return usageError("--interval only applies with --watch (one omc status is one look; run it from a timer for more)")
			}
			o.Targets = args
			if o.Watch {
				// A live view refreshes for hours: no per-call log.
				return runStatus(c.Context(), s, g, o)
			}
			return logRun(c.Context(), s, "status", func(ctx context.Context) error { return runStatus(ctx, s, g, o) })
		},
	}
	f := c.Flags()
	f.BoolVar(&o.Watch, "watch", false, "redraw a live view on the terminal until Ctrl-C")
	f.DurationVar(&o.Interval, "interval", 5*time.Second, "with --watch: how often to refresh (at least 1s)")
	f.StringVar(&o.HTML, "html", "", "also write the public status page to `FILE` (atomically)")
	f.BoolVar(&o.Transfers, "transfers", false, "also count the recordings waiting on each bbb node to go to Scalelite (over SSH)")
	return c
}

// statusV1 is omc status -o json, version 1: fleet's result under the
// one contract's v and type. Fields are only ever added.
type statusV1 struct {
	V    int    `json:"v"`
	Type string `json:"type"` // "status"
	*fleet.StatusResult
}

// A pool and a node of statusV1.
type (
	statusPoolV1 = fleet.PoolStatus
	statusNodeV1 = fleet.NodeStatus
)

func runStatus(ctx context.Context, s *ui.Streams, g *globalOptions, o *statusOptions) error {
	deps := poolEnv(s, g)
	if err := checkStatusFlags(s, g, o); err != nil {
		return err
	}
	inv, err := loadInventory(s, g)
	if err != nil {
		return err
	}
	red := fleet.Redactor(ctx, fleet.PoolSecrets(inv)...)
	opts := fleet.StatusOptions{Targets: o.Targets, PoolsOnly: o.Watch || o.HTML != "", Deps: deps, Redactor: red, Now: g.deps().Now}
	if o.Transfers {
		opts.Transfers = &fleet.TransferOptions{}
	}
	if o.Watch {
		return runStatusWatch(ctx, s, g.deps(), inv, opts, o)
	}
	st, err := fleet.Status(ctx, inv, opts)
	if err != nil {
		return err
	}
	if st.IncidentErr != nil {
		fmt.Fprintf(s.Err, "omc: incident log: %v\n", st.IncidentErr)
	}
	if o.HTML != "" {
		if err := writeStatusPage(o.HTML, inv, st, st.Incidents, st.At); err != nil {
			return err
		}
		if !g.json() {
			fmt.Fprintf(s.Err, "wrote the status page %s\n", o.HTML)
		}
	}
	if g.json() {
		if err := g.jsonOut(s).Redacting(red.String).Write(statusV1{V: 1, Type: "status", StatusResult: st}); err != nil {
			return err
		}
	} else {
		writeStatus(s.Out, red, st)
		if len(st.Nodes) > 0 {
			if len(st.Pools) > 0 {
				fmt.Fprintln(s.Out)
			}
			writeSoloStatus(s.Out, st.Nodes)
		}
	}
	if !st.Healthy {
		bad, all := st.Unhealthy()
		if !g.json() {
			fmt.Fprintf(s.Err, "%d of %d nodes unhealthy\n", bad, all)
		}
		return &exitError{Code: ExitUnhealthy, Silent: true, Err: fmt.Errorf("%d of %d nodes unhealthy", bad, all)}
	}
	return nil
}
