// Package pool keeps Scalelite pools equal to the inventory: each healthy
// BBB node registered and enabled, unhealthy or retiring nodes cordoned,
// drained and out, without ending a meeting omc was not asked to end.
//
// A Pool is one Scalelite, reached through its JSON API
// (pool/scalelite.Client) or through rake in its container over SSH
// (pool/scalelite.Rake). On top of it:
//
//   - Sync registers a group's nodes declaratively: servers are matched by
//     URL (Scalelite's add is not idempotent), missing ones added (Scalelite
//     adds them disabled), secret, load multiplier and tag corrected, and a
//     node enabled only once the health gate passed. A second run writes
//     nothing.
//   - Gate is the health gate: the unsigned API root answers, the node
//     runs the expected release (the root's bbbVersion, or, when the root
//     hides it as BBB does by default, Gate.Version), a signed
//     getMeetings proves the secret, and the extra checks (TLS, TURN)
//     pass.
//   - Drain cordons a node and waits until Scalelite reports it disabled
//     (its load reached 0); only when asked does it end the meetings:
//     Scalelite's panic, then BBB's end for what the node still lists.
//   - Rolling upgrades and scaling are built from those (upgrade.go,
//     scale.go); the caller supplies the steps that change machines.
package pool

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Server states in Scalelite.
const (
	Enabled  = "enabled"
	Cordoned = "cordoned"
	Disabled = "disabled"
)

// State changes accepted by Update (Scalelite's updateServer words).
const (
	Enable  = "enable"
	Cordon  = "cordon"
	Disable = "disable"
)

// Server is a BBB server as Scalelite knows it. Secret is the node's BBB
// secret in clear text: Scalelite's API returns it. Never print it.
type Server struct {
	ID     string
	URL    string
	Secret string
	Tag    string
	// NoTags: this Scalelite has no server tags (its API before 1.6.0
	// shows none and drops one sent), so Tag means nothing.
	NoTags         bool
	BBBVersion     string
	State          string // Enabled, Cordoned or Disabled
	Load           float64
	LoadKnown      bool // false when Scalelite says "unavailable"
	LoadMultiplier float64
	Online         bool
}

// ServerSpec is what Add registers.
type ServerSpec struct {
	URL            string
	Secret         string
	LoadMultiplier float64 // 0: Scalelite's default, 1.0
	Tag            string
}

// ServerUpdate changes a server; nil or empty fields are left alone.
type ServerUpdate struct {
	State          string // Enable, Cordon, Disable or ""
	Secret         *string
	LoadMultiplier *float64
	Tag            *string // "" removes the tag
}

// Empty reports whether the update changes nothing.
func (u ServerUpdate) Empty() bool {
	return u.State == "" && u.Secret == nil && u.LoadMultiplier == nil && u.Tag == nil
}

// Tenant is a Scalelite tenant (multitenancy): a member organisation with
// its own API secrets. Secrets are clear text; never print them.
type Tenant struct {
	ID      string
	Name    string
	Secrets []string
}

// Pool is one Scalelite's server and tenant management.
type Pool interface {
	// List returns every server (an empty pool is not an error).
	List(ctx context.Context) ([]Server, error)
	// Get returns one server; ErrNotFound when there is none with id.
	Get(ctx context.Context, id string) (Server, error)
	// Add registers a server. Scalelite adds it disabled, and adds a
	// second entry for a URL it already has: call it only for URLs
	// List does not show.
	Add(ctx context.Context, s ServerSpec) (Server, error)
	Update(ctx context.Context, id string, u ServerUpdate) (Server, error)
	Delete(ctx context.Context, id string) error
	// Panic ends every meeting Scalelite knows on the server and disables
	// it unless keepState.
	Panic(ctx context.Context, id string, keepState bool) error

	Tenants(ctx context.Context) ([]Tenant, error)
	AddTenant(ctx context.Context, name string, secrets []string) (Tenant, error)
	// UpdateTenant sets name and/or secrets ("" and nil leave them).
	UpdateTenant(ctx context.Context, id, name string, secrets []string) (Tenant, error)
	DeleteTenant(ctx context.Context, id string) error
}

// ErrNotFound is returned for a server or tenant that does not exist.
var ErrNotFound = errors.New("not found")

// ErrMultitenancyDisabled is returned by tenant calls when Scalelite runs
// without MULTITENANCY_ENABLED.
var ErrMultitenancyDisabled = errors.New("Scalelite's multitenancy is disabled (set MULTITENANCY_ENABLED=true on the Scalelite host)")

// NormalizeURL is the form server URLs are matched by: scheme and host
// lowercase, default port and trailing slashes dropped.
func NormalizeURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" {
		return strings.TrimRight(strings.TrimSpace(s), "/")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Host)
	if (u.Scheme == "https" && strings.HasSuffix(host, ":443")) || (u.Scheme == "http" && strings.HasSuffix(host, ":80")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	u.Host = host
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// FindByURL returns the servers registered under url, in List order.
func FindByURL(servers []Server, url string) []Server {
	want := NormalizeURL(url)
	var out []Server
	for _, s := range servers {
		if NormalizeURL(s.URL) == want {
			out = append(out, s)
		}
	}
	return out
}

// LoadText shows a server's load for people.
func (s Server) LoadText() string {
	if !s.LoadKnown {
		return "unavailable"
	}
	return trimFloat(s.Load)
}

func trimFloat(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", f), "0"), ".")
}
