package cmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/pool"
)

type tenantOptions struct {
	Name       string
	Group      string
	SecretFile string
	KeepOld    bool
	Yes        bool
}

func newTenantCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &tenantOptions{}
	c := &cobra.Command{
		Use:   "tenant add|list|rotate|disable|remove NAME",
		Short: "Manage the pool's tenants: member organisations with their own API secret and sub-domain",
		Long: `Tenants are Scalelite's multitenancy (settings.scalelite.multitenancy):
each member organisation reaches the pool at NAME.<pool domain> with its
own secret. omc makes each secret (32 random bytes, hex), shows it once on
stdout, or writes it to --secret-file (0600) instead, and keeps a copy in
the pool's tenant_secrets directory (NAME.secret, 0600) when the
inventory names one. omc tenant list never shows secrets.

The sub-domain: add (and rotate of a disabled tenant) puts NAME in the
pool's tenants list in the inventory file (only that line changes), makes
its DNS record where the pool domain points (hcloud groups with a
dns_zone) and converges the scalelite node, whose one certificate then
names it; disable and remove take them away again. omc up keeps records
and certificate to the list.

  add NAME       make the tenant, its secret and its sub-domain
  list           the tenants, without their secrets
  rotate NAME    a new secret; --keep-old keeps the old ones valid too,
                 until the next rotate
  disable NAME   replace its secrets with one nobody is told and take its
                 sub-domain away; its recordings stay. omc tenant rotate
                 NAME gives it a secret (and its sub-domain) again.
  remove NAME    delete the tenant from Scalelite, and its sub-domain

With several pools, name one with --pool GROUP.`,
		Example: `  omc tenant add school-a
  omc tenant add school-b --secret-file ./school-b.secret
  omc tenant list -o json
  omc tenant rotate school-a --keep-old
  omc tenant remove school-b --yes`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("usage: omc tenant add|list|rotate|disable|remove NAME")
			}
			if args[0] == "list" {
				if len(args) != 1 {
					return usageError("usage: omc tenant list")
				}
				return logRun(c.Context(), s, "tenant-list", func(ctx context.Context) error { return runTenantList(ctx, s, g, o) })
			}
			run := map[string]func(context.Context, *ui.Streams, *globalOptions, *tenantOptions) error{
				"add": runTenantAdd, "rotate": runTenantRotate, "disable": runTenantDisable, "remove": runTenantRemove}[args[0]]
			if run == nil {
				return usageError("unknown tenant command %q: add, list, rotate, disable or remove", args[0])
			}
			if len(args) != 2 {
				return usageError("usage: omc tenant %s NAME", args[0])
			}
			o.Name = args[1]
			if !fleet.ValidTenantName(o.Name) {
				return usageError("tenant names are lowercase DNS labels (Scalelite takes the tenant from the first label of the host), got %q", o.Name)
			}
			return logRun(c.Context(), s, "tenant-"+args[0], func(ctx context.Context) error { return run(ctx, s, g, o) })
		},
	}
	c.Flags().StringVar(&o.Group, "pool", "", "the group whose pool (with several)")
	c.Flags().StringVar(&o.SecretFile, "secret-file", "", "write the new secret to this file (0600) instead of showing it")
	c.Flags().BoolVar(&o.KeepOld, "keep-old", false, "rotate: the old secrets stay valid until the next rotate")
	c.Flags().BoolVarP(&o.Yes, "yes", "y", false, "rotate, disable, remove: do not ask for confirmation")
	return c
}

// tenantPool opens the pool tenants are managed in.
func tenantPool(ctx context.Context, s *ui.Streams, g *globalOptions, o *tenantOptions) (*fleet.Pool, *redact.Redactor, error) {
	inv, err := loadInventory(s, g)
	if err != nil {
		return nil, nil, err
	}
	var targets []string
	if o.Group != "" {
		targets = []string{o.Group}
	}
	groups, err := fleet.PoolGroups(inv, targets)
	if err != nil {
		return nil, nil, err
	}
	if len(groups) > 1 {
		var names []string
		for _, gr := range groups {
			names = append(names, gr.Name)
		}
		return nil, nil, usageError("several pools (%s): name one with --pool GROUP", strings.Join(names, ", "))
	}
	red := fleet.Redactor(ctx, fleet.PoolSecrets(inv)...)
	fp, err := fleet.OpenPool(ctx, inv, groups[0], poolEnv(s, g), red)
	if err != nil {
		return nil, nil, err
	}
	return fp, red, nil
}

func runTenantAdd(ctx context.Context, s *ui.Streams, g *globalOptions, o *tenantOptions) error {
	return tenantDo(ctx, s, g, o, "add", true, func(fp *fleet.Pool, red *redact.Redactor) (pool.Tenant, string, error) {
		return fleet.AddTenant(ctx, fp, o.Name, red)
	})
}

func runTenantRotate(ctx context.Context, s *ui.Streams, g *globalOptions, o *tenantOptions) error {
	return tenantDo(ctx, s, g, o, "rotate", true, func(fp *fleet.Pool, red *redact.Redactor) (pool.Tenant, string, error) {
		t, err := fleet.FindTenant(ctx, fp.API, o.Name)
		if err != nil {
			return t, "", err
		}
		what := fmt.Sprintf("Rotate tenant %s's secret: its %d current secret(s) stop working now, and its front-ends fail until they use the new one", t.Name, len(t.Secrets))
		if o.KeepOld {
			what = fmt.Sprintf("Rotate tenant %s's secret: its %d current secret(s) stay valid until the next rotate, next to the new one", t.Name, len(t.Secrets))
		}
		if err := confirm(s, o.Yes, what+"?"); err != nil {
			return t, "", err
		}
		return fleet.RotateTenant(ctx, fp, t, o.KeepOld, red)
	})
}

func runTenantDisable(ctx context.Context, s *ui.Streams, g *globalOptions, o *tenantOptions) error {
	return tenantDo(ctx, s, g, o, "disable", false, func(fp *fleet.Pool, red *redact.Redactor) (pool.Tenant, string, error) {
		t, err := fleet.FindTenant(ctx, fp.API, o.Name)
		if err == nil {
			err = confirm(s, o.Yes, fmt.Sprintf("Disable tenant %s (its API calls fail from now on, its sub-domain goes)?", o.Name))
		}
		if err == nil {
			err = fleet.DisableTenant(ctx, fp, t, red)
		}
		return t, "", err
	})
}

func runTenantRemove(ctx context.Context, s *ui.Streams, g *globalOptions, o *tenantOptions) error {
	return tenantDo(ctx, s, g, o, "remove", false, func(fp *fleet.Pool, red *redact.Redactor) (pool.Tenant, string, error) {
		t, err := fleet.FindTenant(ctx, fp.API, o.Name)
		if err == nil {
			err = confirm(s, o.Yes, fmt.Sprintf("Remove tenant %s from Scalelite, with its secrets and sub-domain?", o.Name))
		}
		if err == nil {
			err = fleet.RemoveTenant(ctx, fp, t)
		}
		return t, "", err
	})
}
