package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/provision/roles"
)

// installOptions: the school's one-off install on one claimed server
// (fleet.InstallOptions), and how long it may take.
type installOptions struct {
	fleet.InstallOptions
	Timeout time.Duration
}

// installChecks are the names --ignore-checks accepts.
var installChecks = fleet.InstallChecks

func newInstallCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &installOptions{}
	c := &cobra.Command{
		Use:   "install --host ADDRESS --domain DOMAIN --email EMAIL",
		Short: "Install BigBlueButton on one server, without an inventory",
		Long: `Make one claimed server a BigBlueButton server, with the same roles as a
fleet node (firewall, TLS, TURN, BBB, tuning). omc first checks the server
(OS for the BBB line, CPU, memory, disk, ports in use, the domain's DNS)
and says plainly what is wrong, changing nothing; --ignore-checks names
checks you accept failing. Then it writes the inventory it used (omc.yaml,
or -i FILE) and the secrets it made (omc-secrets/ beside it, mode 0600),
converges the server, and prints the URL and where the API secret is.
Run it again, or "omc up" with the written inventory, to repair or update.

--greenlight adds Greenlight v3 at / (bbb-install's -g). --lti KEY adds
BBB's LTI framework (bbb-install's -t) with the consumer key KEY; its
secret is made like the others and kept in omc-secrets/, never a flag.

On a terminal omc asks for missing values; in CI (CI=true, or no
terminal) give them as flags. Secrets are never flags.`,
		Example: `  omc install --host 203.0.113.10 --domain bbb.school.example --email admin@school.example
  CI=true omc install --host 203.0.113.10 --domain bbb.school.example --email admin@school.example -o json`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runInstall(c.Context(), s, g, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.Host, "host", "", "the server's address (IP or name) omc connects to")
	f.StringVar(&o.Domain, "domain", "", "the domain BBB serves, e.g. bbb.school.example (its A record must point at the server)")
	f.StringVar(&o.Email, "email", "", "the admin's email, for the Let's Encrypt account")
	f.StringVar(&o.User, "user", "root", "SSH user (not root: steps run through sudo -n)")
	f.IntVar(&o.Port, "port", 22, "SSH port")
	f.StringVar(&o.Key, "key", "", "SSH private key (default: ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
	f.StringVar(&o.Version, "version", roles.NewestLine().Version, "BBB line, with the Ubuntu release it needs: "+roles.KnownLines())
	f.StringVar(&o.Name, "name", "", "node name in the inventory (default: from the domain)")
	f.StringVar(&o.Settings, "settings", "", "YAML file of more node settings (see omc help settings), e.g. bbb tuning or public_ip behind NAT")
	f.StringSliceVar(&o.IgnoreChecks, "ignore-checks", nil, "checks that may fail: "+strings.Join(installChecks, ", "))
	f.DurationVar(&o.Timeout, "timeout", 0, "give up after this long (default: no limit)")
	f.BoolVar(&o.Greenlight, "greenlight", false, "also run Greenlight v3 at / (rooms and sign-in, in Docker), as bbb-install's -g")
	f.StringVar(&o.LTI, "lti", "", "also run BBB's LTI framework at /lti (rooms for an LMS, in Docker) with this consumer key, as bbb-install's -t (the secret is made for you)")
	return c
}

func runInstall(ctx context.Context, s *ui.Streams, g *globalOptions, o *installOptions) error {
	if err := askMissing(s, o); err != nil {
		return err
	}
	if err := o.Check(); err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx, o.Timeout)
	defer cancel()
	o.Inventory = g.Inventory
	if o.Inventory == "" || o.Inventory == "-" {
		o.Inventory = "omc.yaml"
	}
	if o.Lookup == nil {
		o.Lookup = g.deps().Lookup
	}
	o.Transport = g.deps().Transport
	in, err := fleet.PlanInstall(o.InstallOptions)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Err, "checking %s (%s@%s) for BBB %s\n", in.Node.Name, in.User, o.Host, o.Version)
	results, err := in.Preflight(ctx)
	styles := ui.NewStyles(s.Err, s.ErrColor)
	for _, r := range results {
		if g.json() {
			if err := g.jsonOut(s).Write(checkV1{provision.EventVersion, "check", in.Node.Name, r}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(s.Err, "  %-8s %-7s %s\n", r.Name, styles.Status(r.Status), r.Detail)
	}
	if err != nil {
		return err
	}
	res, err := in.Write()
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Err, "wrote %s and the secrets in %s\n", o.Inventory, in.SecretDir)
	inv, err := in.Load()
	if err != nil {
		return err
	}
	if g.json() {
		// Before the run's events, so that the summary stays the last line.
		if err := g.jsonOut(s).Write(installV1{provision.EventVersion, "install", res}); err != nil {
			return err
		}
	}
	co := &convergeOptions{Parallel: 1, AcceptNew: true}
	if err := convergeNodes(ctx, s, g, co, provision.Apply, inv, inv.Nodes()); err != nil {
		return err
	}
	if !g.json() {
		writeInstallInfo(s.Out, res)
	}
	return nil
}

// installV1 is what the admin needs afterwards (-o json: one line of
// type "install", before the run's events).
type installV1 struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	*fleet.InstallResult
}

// checkV1 is one preflight check's verdict (-o json: type "check").
type checkV1 struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	Host string `json:"host"`
	fleet.CheckResult
}
