package cmd

import (
	"context"
	"fmt"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/pool"
)

// What omc tenant does and shows: one change in Scalelite, the secret
// handed out, the sub-domain (fleet.ServeTenant), rendered as text or
// one JSON line; and the list.

// tenantSecretV1 is omc tenant's -o json line: the one output that carries a
// secret, the new one, shown once (never when --secret-file took it).
type tenantSecretV1 struct {
	V      int    `json:"v"`
	Type   string `json:"type"` // "tenant"
	Name   string `json:"name"`
	ID     string `json:"id"`
	Action string `json:"action"` // add, rotate, disable, remove
	Secret string `json:"secret,omitempty"`
	// SecretFile and Stored are where the secret was written.
	SecretFile string `json:"secret_file,omitempty"`
	Stored     string `json:"stored,omitempty"`
	// Domain is the sub-domain; DNS its record changes; Certificate the
	// node converged for it; Notes what is left to the operator.
	Domain      string   `json:"domain,omitempty"`
	DNS         []string `json:"dns,omitempty"`
	Certificate string   `json:"certificate_node,omitempty"`
	Notes       []string `json:"notes,omitempty"`
}

// tenantDo runs one change: the check that the inventory's list can
// follow, the change in Scalelite (which returns the tenant and a new
// secret, "" for none), the secret handed out, then the sub-domain.
func tenantDo(ctx context.Context, s *ui.Streams, g *globalOptions, o *tenantOptions, action string, serve bool,
	change func(fp *fleet.Pool, red *redact.Redactor) (pool.Tenant, string, error)) error {
	fp, red, err := tenantPool(ctx, s, g, o)
	if err != nil {
		return err
	}
	defer fp.Close()
	if err := fleet.CheckServe(fp, o.Name, serve); err != nil {
		return err
	}
	t, secret, err := change(fp, red)
	if err != nil {
		return err
	}
	out := tenantSecretV1{V: 1, Type: "tenant", Name: t.Name, ID: t.ID, Action: action}
	if secret != "" {
		if err := handOut(fp, o, &out, secret); err != nil {
			return err
		}
	}
	switch {
	case g.json():
	case out.Secret != "":
		fmt.Fprintln(s.Out, out.Secret)
		fmt.Fprintf(s.Err, "tenant %s: the secret above is shown only this once\n", t.Name)
	case out.SecretFile != "":
		fmt.Fprintf(s.Err, "tenant %s: secret written to %s\n", t.Name, out.SecretFile)
	}
	if out.Stored != "" && !g.json() {
		fmt.Fprintf(s.Err, "tenant %s: stored in %s\n", t.Name, out.Stored)
	}
	site, err := fleet.ServeTenant(ctx, fp, o.Name, serve, poolEnv(s, g))
	if site != nil {
		out.Domain, out.DNS, out.Certificate, out.Notes = site.Domain, site.DNS, site.Node, site.Notes
	}
	if g.json() {
		g.jsonOut(s).Write(out)
	} else {
		for _, n := range out.Notes {
			fmt.Fprintf(s.Err, "tenant %s: %s\n", o.Name, n)
		}
		if err == nil && out.Domain != "" {
			fmt.Fprintf(s.Err, "tenant %s: %s %s\n", o.Name, map[bool]string{true: "serves", false: "no longer serves"}[serve], out.Domain)
		}
	}
	if err != nil {
		return fmt.Errorf("tenant %s: Scalelite has the change (%s), but its sub-domain is not done: %w", o.Name, action, err)
	}
	return nil
}

// handOut stores the new secret where the inventory says, and writes it
// to --secret-file or leaves it to be shown once.
func handOut(fp *fleet.Pool, o *tenantOptions, out *tenantSecretV1, secret string) error {
	if p := fleet.SecretPath(fp, out.Name); p != "" {
		if err := fleet.WriteSecret(p, secret); err != nil {
			return fmt.Errorf("storing the secret in %s: %w (the tenant has it already: run omc tenant rotate %s)", p, err, out.Name)
		}
		out.Stored = p
	}
	if o.SecretFile == "" {
		out.Secret = secret
		return nil
	}
	if err := fleet.WriteSecret(o.SecretFile, secret); err != nil {
		return fmt.Errorf("writing %s: %w (run omc tenant rotate %s)", o.SecretFile, err, out.Name)
	}
	out.SecretFile = o.SecretFile
	return nil
}

// tenantListV1 is omc tenant list -o json: never a secret.
type tenantListV1 struct {
	V       int            `json:"v"`
	Type    string         `json:"type"` // "tenants"
	Pool    string         `json:"pool"`
	Tenants []tenantItemV1 `json:"tenants"`
}

type tenantItemV1 struct {
	Name    string `json:"name"`
	ID      string `json:"id"`
	Secrets int    `json:"secrets"` // how many are valid
	Stored  string `json:"stored,omitempty"`
	// Domain is its sub-domain when the inventory lists it (served).
	Domain string `json:"domain,omitempty"`
}

func runTenantList(ctx context.Context, s *ui.Streams, g *globalOptions, o *tenantOptions) error {
	fp, _, err := tenantPool(ctx, s, g, o)
	if err != nil {
		return err
	}
	defer fp.Close()
	l, err := fp.API.Tenants(ctx)
	if err != nil {
		return err
	}
	out := tenantListV1{V: 1, Type: "tenants", Pool: fp.Group.Name, Tenants: []tenantItemV1{}}
	for _, t := range l {
		it := tenantItemV1{Name: t.Name, ID: t.ID, Secrets: len(t.Secrets)}
		if p := fleet.SecretPath(fp, t.Name); p != "" && fileExists(p) {
			it.Stored = p
		}
		if slices.Contains(fp.Group.Pool.Tenants, t.Name) && fp.Group.Pool.Domain() != "" {
			it.Domain = t.Name + "." + fp.Group.Pool.Domain()
		}
		out.Tenants = append(out.Tenants, it)
	}
	if g.json() {
		g.jsonOut(s).Write(out)
		return nil
	}
	tw := tabwriter.NewWriter(s.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tSECRETS\tSTORED\tDOMAIN")
	for _, it := range out.Tenants {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", it.Name, it.ID, it.Secrets, dash(it.Stored), dash(it.Domain))
	}
	return tw.Flush()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
