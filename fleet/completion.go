package fleet

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision/roles"
)

// The candidates of omc's shell completion: names read from the
// inventory and the operator's files only, never from a provider or
// Scalelite, so a Tab press makes no call and shows no secret.

// reTenant is a tenant's name: a DNS label, its sub-domain.
var reTenant = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidTenantName reports whether name can name a tenant (a DNS label).
func ValidTenantName(name string) bool { return reTenant.MatchString(name) }

// QuietInventory loads the inventory at path (-i; "" is the default
// one) for shell completion, which must never print, wait or fail: a
// missing, unreadable or invalid inventory, or one on standard input or
// in something other than a regular file (a named pipe would block), is
// nil.
func QuietInventory(path string) *inventory.Inventory {
	path = inventory.DefaultPath(path)
	if path == "-" {
		return nil
	}
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	inv, err := inventory.Load(path)
	if err != nil {
		return nil
	}
	return inv
}

// GroupNames are the groups, each with its provider, for completion.
func GroupNames(inv *inventory.Inventory) []string {
	var out []string
	for _, gr := range inv.Groups {
		desc := "group, " + gr.Provider
		if gr.Pool != nil {
			desc += ", with a pool"
		}
		out = append(out, gr.Name+"\t"+desc)
	}
	return out
}

// PoolGroupNames are the groups with a pool.
func PoolGroupNames(inv *inventory.Inventory) []string {
	var out []string
	for _, gr := range inv.Groups {
		if gr.Pool != nil {
			out = append(out, gr.Name+"\tgroup with a pool")
		}
	}
	return out
}

// NodeNames are the nodes, each with its group.
func NodeNames(inv *inventory.Inventory) []string {
	var out []string
	for _, n := range inv.Nodes() {
		out = append(out, n.Name+"\tnode of "+n.Group)
	}
	return out
}

// TenantNames lists the tenants whose secrets the pools' tenant_secrets
// directories hold (NAME.secret), of one group's pool or of all. It does
// not ask Scalelite: that would mean SSH or HTTPS calls with secrets on
// every Tab press; a tenant added without a tenant_secrets directory is
// simply not offered.
func TenantNames(group string) func(*inventory.Inventory) []string {
	return func(inv *inventory.Inventory) []string {
		var out []string
		for _, gr := range inv.Groups {
			if gr.Pool == nil || (group != "" && gr.Name != group) {
				continue
			}
			dir := inv.TenantDir(gr.Pool)
			if dir == "" {
				continue
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range entries {
				name, ok := strings.CutSuffix(e.Name(), ".secret")
				if ok && e.Type().IsRegular() && ValidTenantName(name) {
					out = append(out, fmt.Sprintf("%s\ttenant of %s", name, gr.Name))
				}
			}
		}
		return out
	}
}

// RecentMonths are the months an invoice or report is usually for: the
// last one first, then this one.
func RecentMonths(now time.Time) []string {
	this := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.Local)
	return []string{this.AddDate(0, -1, 0).Format("2006-01") + "\tlast month", this.Format("2006-01") + "\tthis month, so far"}
}

// BBBLines are the BBB lines omc knows, newest first, with their OS.
func BBBLines() []string {
	var out []string
	for i := len(roles.Lines) - 1; i >= 0; i-- {
		l := roles.Lines[i]
		out = append(out, l.Version+"\tBBB "+l.Version+" on "+strings.Replace(l.OS, "ubuntu-", "Ubuntu ", 1))
	}
	return out
}
