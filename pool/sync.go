package pool

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"strings"
)

// Holds says which nodes an operator took out of service (omc drain):
// Sync never enables a held node, however healthy.
type Holds interface {
	Held(node string) (reason string, ok bool)
}

// SyncOptions tune Sync.
type SyncOptions struct {
	Gate  *Gate
	Holds Holds // nil: nothing is held
	// DryRun plans the changes and makes none.
	DryRun bool
}

// Change is one thing Sync did (or, in a dry run, would do) to the pool,
// or one reason it left a node out.
type Change struct {
	Node string `json:"node"`
	// Action: add, update, enable, cordon, remove-duplicate, hold (left out:
	// Detail says why), skip (a setting this Scalelite cannot hold).
	Action string `json:"action"`
	Detail string `json:"detail,omitempty"`
}

// SyncReport is the outcome of a Sync.
type SyncReport struct {
	Changes []Change
	Health  map[string]Health
	// Servers is the pool after the run, by node (dry run: as found).
	Servers map[string]Server
	// Unmanaged are servers whose URL is no member's: other groups',
	// other inventories', hand-made ones. Sync leaves them alone.
	Unmanaged []Server
	// Writes counts the calls that changed the pool.
	Writes int
}

// Pending counts the changes that write to the pool (a hold or a skip
// is a report, not a change).
func (r *SyncReport) Pending() int {
	n := 0
	for _, c := range r.Changes {
		if c.Action != "hold" && c.Action != "skip" {
			n++
		}
	}
	return n
}

// Held lists the nodes Sync left out, with the reason.
func (r *SyncReport) Held() []Change {
	var out []Change
	for _, c := range r.Changes {
		if c.Action == "hold" {
			out = append(out, c)
		}
	}
	return out
}

// Sync makes the pool hold exactly the members, by URL: missing ones are
// added (Scalelite adds them disabled), secret, load multiplier and tag
// set to the inventory's, and each member enabled only when its health
// gate passes and no operator holds it. An enabled member that fails the
// gate is cordoned: its meetings go on, new ones go elsewhere. Extra
// entries for a member's URL (duplicates) are removed when empty and
// cordoned otherwise. Servers of other URLs are not touched.
//
// A run that finds the pool as it should be writes nothing.
func Sync(ctx context.Context, p Pool, members []Member, o SyncOptions) (*SyncReport, error) {
	gate := o.Gate
	if gate == nil {
		gate = &Gate{}
	}
	servers, err := p.List(ctx)
	if err != nil {
		return nil, err
	}
	rep := &SyncReport{Health: gate.CheckAll(ctx, members), Servers: map[string]Server{}}
	rep.Unmanaged = unmanaged(servers, members)
	for _, m := range members {
		if err := syncOne(ctx, p, m, servers, rep, o); err != nil {
			return rep, fmt.Errorf("%s: %w", m.Node, err)
		}
	}
	return rep, nil
}

func unmanaged(servers []Server, members []Member) []Server {
	known := map[string]bool{}
	for _, m := range members {
		known[NormalizeURL(m.URL)] = true
	}
	var out []Server
	for _, s := range servers {
		if !known[NormalizeURL(s.URL)] {
			out = append(out, s)
		}
	}
	return out
}

func syncOne(ctx context.Context, p Pool, m Member, servers []Server, rep *SyncReport, o SyncOptions) error {
	h := rep.Health[m.Node]
	change := func(action, format string, a ...any) {
		rep.Changes = append(rep.Changes, Change{Node: m.Node, Action: action, Detail: fmt.Sprintf(format, a...)})
	}
	matches := FindByURL(servers, m.URL)
	var s Server
	switch {
	case len(matches) == 0:
		change("add", "register %s (Scalelite adds it disabled)", m.URL)
		if o.DryRun {
			s = Server{URL: m.URL, Secret: m.Secret, LoadMultiplier: m.Multiplier(), Tag: m.Tag, State: Disabled}
			break
		}
		added, err := p.Add(ctx, ServerSpec{URL: m.URL, Secret: m.Secret, LoadMultiplier: m.Multiplier(), Tag: m.Tag})
		if err != nil {
			return err
		}
		rep.Writes++
		s = added
	default:
		s = PickKeeper(matches)
		for _, d := range matches {
			if d.ID == s.ID {
				continue
			}
			if err := dropDuplicate(ctx, p, m, d, rep, o.DryRun); err != nil {
				return err
			}
		}
	}

	var u ServerUpdate
	var what []string
	if s.Secret != m.Secret {
		sec := m.Secret
		u.Secret = &sec
		what = append(what, "secret")
	}
	if math.Abs(s.LoadMultiplier-m.Multiplier()) > 1e-9 {
		lm := m.Multiplier()
		u.LoadMultiplier = &lm
		what = append(what, fmt.Sprintf("load_multiplier %s → %s", trimFloat(s.LoadMultiplier), trimFloat(lm)))
	}
	switch {
	case s.NoTags && m.Tag != "":
		// Sending it would change nothing and be "done" on every run.
		change("skip", "tag %q not set: this Scalelite has no server tags (they came with 1.6.0)", m.Tag)
	case !s.NoTags && s.Tag != m.Tag:
		tag := m.Tag
		u.Tag = &tag
		what = append(what, fmt.Sprintf("tag %q → %q", s.Tag, tag))
	}
	if len(what) > 0 {
		change("update", "%s", strings.Join(what, ", "))
	}

	reason, held := "", false
	if o.Holds != nil {
		reason, held = o.Holds.Held(m.Node)
	}
	switch {
	case !h.OK && s.State == Enabled:
		u.State = Cordon
		change("cordon", "failed its health check, new meetings go elsewhere: %s", h.Reason())
	case !h.OK:
		change("hold", "left %s: %s", s.State, h.Reason())
	case held:
		change("hold", "left %s: drained by an operator (%s); omc enable %s puts it back", s.State, reason, m.Node)
	case s.State != Enabled:
		u.State = Enable
		change("enable", "health check passed (bbbVersion %s)", cmp.Or(h.BBBVersion, "not revealed"))
	}
	if u.Empty() || o.DryRun {
		if o.DryRun {
			applyUpdate(&s, u)
		}
		rep.Servers[m.Node] = s
		return nil
	}
	s2, err := p.Update(ctx, s.ID, u)
	if err != nil {
		return err
	}
	rep.Writes++
	rep.Servers[m.Node] = s2
	return nil
}

func applyUpdate(s *Server, u ServerUpdate) {
	if u.Secret != nil {
		s.Secret = *u.Secret
	}
	if u.LoadMultiplier != nil {
		s.LoadMultiplier = *u.LoadMultiplier
	}
	if u.Tag != nil {
		s.Tag = *u.Tag
	}
	switch u.State {
	case Enable:
		s.State = Enabled
	case Cordon:
		s.State = Cordoned
	case Disable:
		s.State = Disabled
	}
}

// PickKeeper chooses which of several entries for one URL stays (Sync
// keeps it, omc status shows its state): an enabled one, else the most
// loaded (it holds meetings), else the first.
func PickKeeper(l []Server) Server {
	best := l[0]
	for _, s := range l[1:] {
		switch {
		case best.State != Enabled && s.State == Enabled:
			best = s
		case (best.State == Enabled) == (s.State == Enabled) && s.Load > best.Load:
			best = s
		}
	}
	return best
}

func dropDuplicate(ctx context.Context, p Pool, m Member, d Server, rep *SyncReport, dry bool) error {
	if d.Load > 0 {
		if d.State == Enabled {
			rep.Changes = append(rep.Changes, Change{Node: m.Node, Action: "cordon", Detail: fmt.Sprintf("duplicate entry %s has load %s: cordoned, removed once empty", d.ID, d.LoadText())})
			if !dry {
				if _, err := p.Update(ctx, d.ID, ServerUpdate{State: Cordon}); err != nil {
					return err
				}
				rep.Writes++
			}
		}
		return nil
	}
	rep.Changes = append(rep.Changes, Change{Node: m.Node, Action: "remove-duplicate", Detail: "duplicate entry " + d.ID + " for " + m.URL})
	if dry {
		return nil
	}
	if err := p.Delete(ctx, d.ID); err != nil {
		return err
	}
	rep.Writes++
	return nil
}
