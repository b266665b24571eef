package cmd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"

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
	deps       *fleet.PoolDeps
}

func newTenantCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &tenantOptions{}
	c := &cobra.Command{
		Use:   "tenant add|list|rotate|disable NAME",
		Short: "Manage the pool's tenants: member organisations with their own API secret",
		Long: `Tenants are Scalelite's multitenancy (MULTITENANCY_ENABLED=true): each
member organisation reaches the pool at NAME.<Scalelite's domain> with its
own secret. omc makes each secret (32 random bytes, hex), shows it once on
stdout, or writes it to --secret-file (0600) instead, and keeps a copy in
the pool's tenant_secrets directory (NAME.secret, 0600) when the
inventory names one. omc tenant list never shows secrets.

  add NAME       make the tenant and its secret
  list           the tenants, without their secrets
  rotate NAME    a new secret; --keep-old keeps the old ones valid too,
                 until the next rotate
  disable NAME   replace its secrets with one nobody is told: the
                 tenant's API calls fail from then on; its recordings stay.
                 omc tenant rotate NAME gives it a secret again.

With several pools, name one with --pool GROUP.`,
		Example: `  omc tenant add school-a
  omc tenant add school-b --secret-file ./school-b.secret
  omc tenant list -o json
  omc tenant rotate school-a --keep-old`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("usage: omc tenant add|list|rotate|disable NAME")
			}
			verb := args[0]
			if verb == "list" {
				if len(args) != 1 {
					return usageError("usage: omc tenant list")
				}
				return logRun(c.Context(), s, "tenant-list", func(ctx context.Context) error { return runTenantList(ctx, s, g, o) })
			}
			if len(args) != 2 {
				return usageError("usage: omc tenant %s NAME", verb)
			}
			o.Name = args[1]
			if !reTenant.MatchString(o.Name) {
				return usageError("tenant names are lowercase DNS labels (Scalelite takes the tenant from the first label of the host), got %q", o.Name)
			}
			switch verb {
			case "add":
				return logRun(c.Context(), s, "tenant-add", func(ctx context.Context) error { return runTenantAdd(ctx, s, g, o) })
			case "rotate":
				return logRun(c.Context(), s, "tenant-rotate", func(ctx context.Context) error { return runTenantRotate(ctx, s, g, o) })
			case "disable":
				return logRun(c.Context(), s, "tenant-disable", func(ctx context.Context) error { return runTenantDisable(ctx, s, g, o) })
			}
			return usageError("unknown tenant command %q: add, list, rotate or disable", verb)
		},
	}
	c.Flags().StringVar(&o.Group, "pool", "", "the group whose pool (with several)")
	c.Flags().StringVar(&o.SecretFile, "secret-file", "", "write the new secret to this file (0600) instead of showing it")
	c.Flags().BoolVar(&o.KeepOld, "keep-old", false, "rotate: the old secrets stay valid until the next rotate")
	c.Flags().BoolVarP(&o.Yes, "yes", "y", false, "rotate, disable: do not ask for confirmation")
	return c
}

var reTenant = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

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
	fp, err := fleet.OpenPool(ctx, inv, groups[0], poolEnv(s, g, o.deps), red)
	if err != nil {
		return nil, nil, err
	}
	return fp, red, nil
}

func newTenantSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// tenantsNamed returns the pool's tenants called name. Scalelite does
// not keep names unique: a second add makes a second tenant, and its
// name index then points at the newest one.
func tenantsNamed(ctx context.Context, p pool.Pool, name string) ([]pool.Tenant, error) {
	l, err := p.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	var out []pool.Tenant
	for _, t := range l {
		if t.Name == name {
			out = append(out, t)
		}
	}
	return out, nil
}

func tenantIDs(l []pool.Tenant) string {
	var ids []string
	for _, t := range l {
		ids = append(ids, t.ID)
	}
	return strings.Join(ids, ", ")
}

// findTenant returns the one tenant called name; several of that name
// (made outside omc) are refused rather than one picked at random.
func findTenant(ctx context.Context, p pool.Pool, name string) (pool.Tenant, error) {
	l, err := tenantsNamed(ctx, p, name)
	if err != nil {
		return pool.Tenant{}, err
	}
	switch len(l) {
	case 0:
		return pool.Tenant{}, &exitError{Code: ExitError, Err: fmt.Errorf("no tenant named %q in the pool", name)}
	case 1:
		return l[0], nil
	}
	return pool.Tenant{}, &exitError{Code: ExitError, Err: fmt.Errorf("%d tenants are named %q in the pool (ids %s): "+
		"Scalelite lets the name stand for the one made last; remove the others (rake tenants:remove[ID] on the Scalelite host) "+
		"before omc changes it", len(l), name, tenantIDs(l))}
}

// writeSecret writes a secret file 0600 (its directory 0700), atomically.
func writeSecret(path, secret string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// tenantSecretV1 is the one output that carries a secret: the new one,
// shown once (never when --secret-file took it).
type tenantSecretV1 struct {
	V      int    `json:"v"`
	Type   string `json:"type"` // "tenant"
	Name   string `json:"name"`
	ID     string `json:"id"`
	Action string `json:"action"` // add, rotate, disable
	Secret string `json:"secret,omitempty"`
	// SecretFile and Stored are where the secret was written.
	SecretFile string `json:"secret_file,omitempty"`
	Stored     string `json:"stored,omitempty"`
}

// handOut stores the new secret where the inventory says, writes it to
// --secret-file or shows it once.
func handOut(s *ui.Streams, g *globalOptions, fp *fleet.Pool, o *tenantOptions, action string, t pool.Tenant, secret string) error {
	out := tenantSecretV1{V: 1, Type: "tenant", Name: t.Name, ID: t.ID, Action: action}
	if d := fp.Inv.TenantDir(fp.Group.Pool); d != "" {
		p := filepath.Join(d, t.Name+".secret")
		if err := writeSecret(p, secret); err != nil {
			return fmt.Errorf("storing the secret in %s: %w (the tenant has it already: run omc tenant rotate %s)", d, err, t.Name)
		}
		out.Stored = p
	}
	if o.SecretFile != "" {
		if err := writeSecret(o.SecretFile, secret); err != nil {
			return fmt.Errorf("writing %s: %w (run omc tenant rotate %s)", o.SecretFile, err, t.Name)
		}
		out.SecretFile = o.SecretFile
	} else {
		out.Secret = secret
	}
	if g.json() {
		g.jsonOut(s).Write(out)
		return nil
	}
	if out.Secret != "" {
		fmt.Fprintln(s.Out, out.Secret)
		fmt.Fprintf(s.Err, "tenant %s: the secret above is shown only this once\n", t.Name)
	} else {
		fmt.Fprintf(s.Err, "tenant %s: secret written to %s\n", t.Name, out.SecretFile)
	}
	if out.Stored != "" {
		fmt.Fprintf(s.Err, "tenant %s: stored in %s\n", t.Name, out.Stored)
	}
	return nil
}

func runTenantAdd(ctx context.Context, s *ui.Streams, g *globalOptions, o *tenantOptions) error {
	fp, red, err := tenantPool(ctx, s, g, o)
	if err != nil {
		return err
	}
	defer fp.Close()
	// Scalelite would add a second tenant of this name and point the
	// name at it, silently cutting off the first one's secret.
	same, err := tenantsNamed(ctx, fp.API, o.Name)
	if err != nil {
		return err
	}
	if len(same) > 0 {
		return &exitError{Code: ExitError, Err: fmt.Errorf("tenant %q exists already (id %s); Scalelite would make a second one of that name: "+
			"use omc tenant rotate %s for a new secret", o.Name, tenantIDs(same), o.Name)}
	}
	secret, err := newTenantSecret()
	if err != nil {
		return err
	}
	red.Add(secret)
	t, err := fp.API.AddTenant(ctx, o.Name, []string{secret})
	if err != nil {
		return err
	}
	return handOut(s, g, fp, o, "add", t, secret)
}

func runTenantRotate(ctx context.Context, s *ui.Streams, g *globalOptions, o *tenantOptions) error {
	fp, red, err := tenantPool(ctx, s, g, o)
	if err != nil {
		return err
	}
	defer fp.Close()
	t, err := findTenant(ctx, fp.API, o.Name)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("Rotate tenant %s's secret: its %d current secret(s) stop working now, and its front-ends fail until they use the new one", t.Name, len(t.Secrets))
	if o.KeepOld {
		what = fmt.Sprintf("Rotate tenant %s's secret: its %d current secret(s) stay valid until the next rotate, next to the new one", t.Name, len(t.Secrets))
	}
	if err := confirm(s, o.Yes, what+"?"); err != nil {
		return err
	}
	secret, err := newTenantSecret()
	if err != nil {
		return err
	}
	red.Add(secret)
	secrets := []string{secret}
	if o.KeepOld {
		secrets = append(secrets, t.Secrets...)
	}
	t2, err := fp.API.UpdateTenant(ctx, t.ID, "", secrets)
	if err != nil {
		return err
	}
	t2.Name = t.Name
	return handOut(s, g, fp, o, "rotate", t2, secret)
}

func runTenantDisable(ctx context.Context, s *ui.Streams, g *globalOptions, o *tenantOptions) error {
	fp, red, err := tenantPool(ctx, s, g, o)
	if err != nil {
		return err
	}
	defer fp.Close()
	t, err := findTenant(ctx, fp.API, o.Name)
	if err != nil {
		return err
	}
	if err := confirm(s, o.Yes, fmt.Sprintf("Disable tenant %s (its API calls fail from now on)?", o.Name)); err != nil {
		return err
	}
	secret, err := newTenantSecret()
	if err != nil {
		return err
	}
	red.Add(secret)
	if _, err := fp.API.UpdateTenant(ctx, t.ID, "", []string{secret}); err != nil {
		return err
	}
	if d := fp.Inv.TenantDir(fp.Group.Pool); d != "" {
		if err := os.Remove(filepath.Join(d, o.Name+".secret")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if g.json() {
		g.jsonOut(s).Write(tenantSecretV1{V: 1, Type: "tenant", Name: t.Name, ID: t.ID, Action: "disable"})
	} else {
		fmt.Fprintf(s.Err, "tenant %s: disabled (omc tenant rotate %s gives it a secret again)\n", t.Name, t.Name)
	}
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
	dir := fp.Inv.TenantDir(fp.Group.Pool)
	for _, t := range l {
		it := tenantItemV1{Name: t.Name, ID: t.ID, Secrets: len(t.Secrets)}
		if dir != "" {
			if p := filepath.Join(dir, t.Name+".secret"); fileExists(p) {
				it.Stored = p
			}
		}
		out.Tenants = append(out.Tenants, it)
	}
	if g.json() {
		g.jsonOut(s).Write(out)
		return nil
	}
	tw := tabwriter.NewWriter(s.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tSECRETS\tSTORED")
	for _, it := range out.Tenants {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", it.Name, it.ID, it.Secrets, dash(it.Stored))
	}
	return tw.Flush()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
