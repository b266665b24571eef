package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/omc-coop/omc/internal/atomicfile"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision/roles"
)

// Tenants (omc tenant) have two sides. In Scalelite, a tenant is a name
// and its secrets, made and changed through the pool's API. Outside it,
// a tenant served by omc has a sub-domain NAME.<pool domain>: listed in
// pool.tenants of the inventory file (the source of truth omc up
// reconciles), a DNS record where the pool domain points (through the
// group's provider) and a name on the scalelite node's certificate.

// NewTenantSecret is 32 random bytes, hex.
func NewTenantSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// TenantsNamed returns the pool's tenants called name. Scalelite does
// not keep names unique: a second add makes a second tenant, and its
// name index then points at the newest one.
func TenantsNamed(ctx context.Context, p pool.Pool, name string) ([]pool.Tenant, error) {
	l, err := p.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(l, func(t pool.Tenant) bool { return t.Name != name }), nil
}

func tenantIDs(l []pool.Tenant) string {
	var ids []string
	for _, t := range l {
		ids = append(ids, t.ID)
	}
	return strings.Join(ids, ", ")
}

// FindTenant returns the one tenant called name; several of that name
// (made outside omc) are refused rather than one picked at random.
func FindTenant(ctx context.Context, p pool.Pool, name string) (pool.Tenant, error) {
	l, err := TenantsNamed(ctx, p, name)
	if err != nil {
		return pool.Tenant{}, err
	}
	switch len(l) {
	case 0:
		return pool.Tenant{}, fmt.Errorf("no tenant named %q in the pool", name)
	case 1:
		return l[0], nil
	}
	return pool.Tenant{}, fmt.Errorf("%d tenants are named %q in the pool (ids %s): "+
		"Scalelite lets the name stand for the one made last; remove the others (rake tenants:remove[ID] on the Scalelite host) "+
		"before omc changes it", len(l), name, tenantIDs(l))
}

// AddTenant makes tenant name with a new secret, refusing a name the
// pool has: Scalelite would make a second one and point the name at it,
// silently cutting off the first one's secret.
func AddTenant(ctx context.Context, fp *Pool, name string, red *redact.Redactor) (pool.Tenant, string, error) {
	same, err := TenantsNamed(ctx, fp.API, name)
	if err != nil {
		return pool.Tenant{}, "", err
	}
	if len(same) > 0 {
		return pool.Tenant{}, "", fmt.Errorf("tenant %q exists already (id %s); Scalelite would make a second one of that name: "+
			"use omc tenant rotate %s for a new secret", name, tenantIDs(same), name)
	}
	secret, err := NewTenantSecret()
	if err != nil {
		return pool.Tenant{}, "", err
	}
	red.Add(secret)
	t, err := fp.API.AddTenant(ctx, name, []string{secret})
	return t, secret, err
}

// RotateTenant gives t a new secret, keeping its current ones with keepOld.
func RotateTenant(ctx context.Context, fp *Pool, t pool.Tenant, keepOld bool, red *redact.Redactor) (pool.Tenant, string, error) {
	secret, err := NewTenantSecret()
	if err != nil {
		return pool.Tenant{}, "", err
	}
	red.Add(secret)
	secrets := []string{secret}
	if keepOld {
		secrets = append(secrets, t.Secrets...)
	}
	t2, err := fp.API.UpdateTenant(ctx, t.ID, "", secrets)
	t2.Name = t.Name
	return t2, secret, err
}

// DisableTenant replaces t's secrets with one nobody is told and drops
// the stored copy: its calls fail, its recordings stay.
func DisableTenant(ctx context.Context, fp *Pool, t pool.Tenant, red *redact.Redactor) error {
	secret, err := NewTenantSecret()
	if err != nil {
		return err
	}
	red.Add(secret)
	if _, err := fp.API.UpdateTenant(ctx, t.ID, "", []string{secret}); err != nil {
		return err
	}
	return dropSecret(fp, t.Name)
}

// RemoveTenant deletes t from Scalelite and drops the stored secret.
func RemoveTenant(ctx context.Context, fp *Pool, t pool.Tenant) error {
	if err := fp.API.DeleteTenant(ctx, t.ID); err != nil {
		return err
	}
	return dropSecret(fp, t.Name)
}

// SecretPath is where the pool keeps name's secret ("" when nowhere).
func SecretPath(fp *Pool, name string) string {
	if d := fp.Inv.TenantDir(fp.Group.Pool); d != "" {
		return filepath.Join(d, name+".secret")
	}
	return ""
}

func dropSecret(fp *Pool, name string) error {
	if p := SecretPath(fp, name); p != "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// WriteSecret writes a secret file 0600 (its directory 0700), atomically.
func WriteSecret(path, secret string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(secret+"\n"), 0o600)
}

// TenantSite is what serving (or no longer serving) a tenant's
// sub-domain did.
type TenantSite struct {
	// Domain is NAME.<pool domain>; "" when pool.url names an address.
	Domain string
	// Listed: the inventory file's pool.tenants was changed.
	Listed bool
	// DNS are the record changes.
	DNS []string
	// Node is the scalelite node converged for its certificate.
	Node string
	// Notes are what omc left to the operator.
	Notes []string
}

// CheckServe fails, before anything changes, when omc could not put name
// in (serve) or take it from the inventory's pool.tenants.
func CheckServe(fp *Pool, name string, serve bool) error {
	if fp.Group.Pool.Domain() == "" {
		return nil
	}
	_, _, err := inventory.EditTenant(fp.Inv.Path, fp.Group.Name, name, serve)
	return err
}

// ServeTenant puts name in (serve) or takes it from pool.tenants in the
// inventory file, then makes the sub-domain's DNS records and the
// scalelite node's certificate follow the new list, as omc up would.
func ServeTenant(ctx context.Context, fp *Pool, name string, serve bool, deps *PoolDeps) (*TenantSite, error) {
	site := &TenantSite{}
	domain := fp.Group.Pool.Domain()
	if domain == "" {
		site.Notes = append(site.Notes, fmt.Sprintf("pool.url %s names an address, so the tenant has no sub-domain", fp.Group.Pool.URL))
		return site, nil
	}
	site.Domain = name + "." + domain
	var err error
	if site.Listed, err = inventory.SetTenant(fp.Inv.Path, fp.Group.Name, name, serve); err != nil {
		return site, err
	}
	inv, err := inventory.Load(fp.Inv.Path)
	if err != nil {
		return site, err
	}
	g := inv.Group(fp.Group.Name)
	p, machines, err := MachinesOf(ctx, inv, g, deps)
	if err != nil {
		return site, err
	}
	var note string
	if site.DNS, note, err = SyncTenantDNS(ctx, inv, g, p, false); err != nil {
		return site, err
	}
	if note != "" {
		site.Notes = append(site.Notes, note)
	}
	n := scaleliteNode(inv, g)
	switch {
	case n == nil:
		site.Notes = append(site.Notes, fmt.Sprintf("no scalelite node of group %s has the domain %s: its certificate is not omc's to change", g.Name, domain))
	case machines[n.Name].Name == "":
		site.Notes = append(site.Notes, fmt.Sprintf("scalelite node %s has no machine yet: omc up makes it, with its certificate", n.Name))
	default:
		site.Node = n.Name
		if failed := deps.ConvergeNodes(ctx, inv, []*inventory.Node{n}, machines); failed[n.Name] != nil {
			return site, fmt.Errorf("converging %s for its certificate: %w (omc up %s tries again)", n.Name, failed[n.Name], n.Name)
		}
	}
	return site, nil
}

// scaleliteNode is the node of g that runs Scalelite on the pool's domain.
func scaleliteNode(inv *inventory.Inventory, g *inventory.Group) *inventory.Node {
	for _, n := range inv.Nodes() {
		if n.Group == g.Name && slices.Contains(n.Roles, roles.RoleScalelite) && n.Domain == g.Pool.Domain() {
			return n
		}
	}
	return nil
}

// SyncTenantDNS makes the records of g's tenants' sub-domains follow
// pool.tenants through the group's provider p (dry: the changes it would
// make). A provider keeping no DNS leaves them to the operator: note says so.
func SyncTenantDNS(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, p providers.Provider, dry bool) (changes []string, note string, err error) {
	if g.Pool == nil || g.Pool.Domain() == "" {
		return nil, "", nil
	}
	names := g.Pool.TenantDomains()
	manual := ""
	if len(names) > 0 {
		manual = fmt.Sprintf("group %s keeps no DNS records (provider %s, dns_zone): point %s where %s points yourself", g.Name, g.Provider, strings.Join(names, ", "), g.Pool.Domain())
	}
	al, ok := p.(providers.Aliases)
	if !ok {
		return nil, manual, nil
	}
	changes, err = al.SyncAliases(ctx, inv, g, g.Pool.Domain(), names, dry)
	if errors.Is(err, providers.ErrNoDNS) {
		return nil, manual, nil
	}
	if err != nil {
		return changes, "", fmt.Errorf("tenants' sub-domains: %w", err)
	}
	return changes, "", nil
}

// syncTenantDNS is omc up's step for the pools of nodes' groups, once
// their machines exist and before the scalelite node asks for its
// certificate (whose http-01 challenges need the records).
func syncTenantDNS(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, open func(name string) (providers.Provider, error)) error {
	_, order := GroupNodes(nodes)
	for _, name := range order {
		g := inv.Group(name)
		if g.Pool == nil || g.Pool.Domain() == "" {
			continue
		}
		p, err := open(g.Provider)
		if err != nil {
			return fmt.Errorf("group %s: %w", name, err)
		}
		if _, _, err := SyncTenantDNS(ctx, inv, g, p, false); err != nil {
			return fmt.Errorf("group %s: %w", name, err)
		}
	}
	return nil
}
