package inventory

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// StatusPage is how omc status --html presents the fleet to the public.
type StatusPage struct {
	// Title is the fleet's display name; "" means the inventory's name.
	Title string `yaml:"title" desc:"The fleet's display name on the public status page (default: the inventory name)."`
	// Refresh is a Go duration; "" means the page does not reload itself.
	Refresh string `yaml:"refresh" desc:"How often a browser reloads the status page, e.g. 1m (10s to 24h; default: never)."`
}

// maxTitle bounds the display name, which heads a public page.
const maxTitle = 100

// PageTitle is the fleet's display name on the status page.
func (inv *Inventory) PageTitle() string {
	if inv.StatusPage != nil && inv.StatusPage.Title != "" {
		return inv.StatusPage.Title
	}
	return inv.Name
}

// PageRefresh is how often the status page reloads itself; 0: never.
func (inv *Inventory) PageRefresh() time.Duration {
	if inv.StatusPage == nil || inv.StatusPage.Refresh == "" {
		return 0
	}
	d, _ := time.ParseDuration(inv.StatusPage.Refresh)
	return d
}

func (v *validator) statusPage() {
	p := v.inv.StatusPage
	if p == nil {
		return
	}
	if t := p.Title; t != "" {
		switch {
		case strings.TrimSpace(t) != t || strings.IndexFunc(t, unicode.IsControl) >= 0:
			v.errf(&p.Title, "must be one line without leading or trailing spaces")
		case utf8.RuneCountInString(t) > maxTitle:
			v.errf(&p.Title, "is %d characters long; at most %d", utf8.RuneCountInString(t), maxTitle)
		}
	}
	if p.Refresh != "" {
		d, err := time.ParseDuration(p.Refresh)
		switch {
		case err != nil:
			v.errf(&p.Refresh, "%q is not a duration such as 30s or 5m", p.Refresh)
		case d < 10*time.Second || d > 24*time.Hour:
			v.errf(&p.Refresh, "%s is out of range: 10s to 24h (a page reloading faster only loads the web server)", p.Refresh)
		case d%time.Second != 0:
			v.errf(&p.Refresh, "%s is not a whole number of seconds", p.Refresh)
		}
	}
}
