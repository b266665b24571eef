package pool

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/omc-coop/omc/pool/bbbapi"
)

// DrainOptions tune Drain.
type DrainOptions struct {
	// Timeout is how long to wait for the load to reach 0 (default 2h).
	Timeout time.Duration
	// Poll is how often Scalelite is asked (default 10 s; its own poller
	// runs every 60 s by default).
	Poll time.Duration
	// Force ends the remaining meetings (Scalelite's panic) when the
	// timeout passes, instead of failing. With a zero Timeout and Force,
	// the meetings end at once.
	Force bool
	// Progress is told each state seen while waiting.
	Progress func(Server)
	// Member is the drained node. With Force, after Scalelite's panic
	// (which ends only the meetings Scalelite tracks), every meeting the
	// node itself still lists is ended there too, and Drain waits until
	// it lists none. nil: Scalelite's panic only.
	Member *Member
	// HTTP reaches the node's BBB API (default: 10 s timeout).
	HTTP *http.Client
	// EndWait bounds the wait for the node's meetings to go after end
	// (default 2 min; BBB ends a meeting some seconds after end).
	EndWait time.Duration
}

// DrainTimeoutError says a node still had meetings at the deadline.
type DrainTimeoutError struct {
	ID     string
	Load   string
	Waited time.Duration
}

func (e *DrainTimeoutError) Error() string {
	return fmt.Sprintf("server %s still has load %s after %s: its meetings are still running (wait longer with --timeout, or end them with --force)", e.ID, e.Load, e.Waited.Round(time.Second))
}

// Drained reports whether a server carries no meetings any more: disabled,
// or offline (Scalelite ended its meetings when it went offline).
func Drained(s Server) bool {
	return s.State == Disabled || (s.State == Cordoned && !s.Online && !s.LoadKnown)
}

// Drain cordons the server (no new meetings; running ones go on) and
// waits until Scalelite reports it disabled, which its poller does once
// the load is 0. A cordoned server that is offline is disabled at once:
// it has no meetings left. Only with Force, and only when the timeout
// passes, are the remaining meetings ended: Scalelite's panic, then
// (with Member) BBB's end of each meeting the node still lists, until it
// lists none.
func Drain(ctx context.Context, p Pool, id string, o DrainOptions) (Server, error) {
	timeout, every := o.Timeout, o.Poll
	if timeout == 0 && !o.Force {
		timeout = 2 * time.Hour
	}
	if every <= 0 {
		every = 10 * time.Second
	}
	s, err := p.Get(ctx, id)
	if err != nil {
		return s, err
	}
	if s.State == Enabled {
		if s, err = p.Update(ctx, id, ServerUpdate{State: Cordon}); err != nil {
			return s, err
		}
	}
	start := time.Now()
	deadline := start.Add(timeout)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if o.Progress != nil {
			o.Progress(s)
		}
		if s.State == Disabled {
			return s, nil
		}
		if Drained(s) {
			return p.Update(ctx, id, ServerUpdate{State: Disable})
		}
		if !time.Now().Before(deadline) {
			if !o.Force {
				return s, &DrainTimeoutError{ID: id, Load: s.LoadText(), Waited: time.Since(start)}
			}
			if err := p.Panic(ctx, id, false); err != nil {
				return s, fmt.Errorf("ending the meetings (panic): %w", err)
			}
			if o.Member != nil {
				c := &bbbapi.Client{URL: o.Member.URL, Secret: o.Member.Secret, Algorithm: o.Member.Algorithm, HTTP: o.HTTP}
				if err := EndMeetings(ctx, c, o.Member.Node, o.EndWait, every); err != nil {
					return s, err
				}
			}
			return p.Get(ctx, id)
		}
		wait := time.Until(deadline)
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-tick.C:
		case <-time.After(wait):
		}
		if s, err = p.Get(ctx, id); err != nil {
			return s, err
		}
	}
}

// MeetingsRunningError says a node still listed meetings after they
// were ended.
type MeetingsRunningError struct {
	Node     string
	Meetings []string // their meeting IDs
	Waited   time.Duration
}

func (e *MeetingsRunningError) Error() string {
	return fmt.Sprintf("%s: %d meeting(s) still running %s after BBB's end was asked for them: %s",
		e.Node, len(e.Meetings), e.Waited.Round(time.Second), strings.Join(e.Meetings, ", "))
}

// EndMeetings ends every meeting the node lists with BBB's end (signed
// with the node's secret, with each meeting's moderatorPW for BBB before
// 2.6) and waits, asking every poll and at most wait (default 2 min),
// until the node lists none. BBB's end only sends the request: the
// meeting goes some seconds later.
func EndMeetings(ctx context.Context, c *bbbapi.Client, node string, wait, poll time.Duration) error {
	if wait <= 0 {
		wait = 2 * time.Minute
	}
	if poll <= 0 {
		poll = time.Second
	}
	start := time.Now()
	deadline := start.Add(wait)
	asked := map[string]bool{}
	for {
		ms, err := c.Meetings(ctx)
		if err != nil {
			return fmt.Errorf("%s: listing the meetings left on the node: %w", node, err)
		}
		if len(ms) == 0 {
			return nil
		}
		var left []string
		for _, m := range ms {
			left = append(left, m.ID)
			if asked[m.InternalID+"\x00"+m.ID] {
				continue
			}
			if err := c.End(ctx, m.ID, m.ModeratorPW); err != nil {
				var be *bbbapi.Error
				if !errors.As(err, &be) || be.Key != "notFound" { // notFound: gone meanwhile
					return fmt.Errorf("%s: ending meeting %s: %w", node, m.ID, err)
				}
			}
			asked[m.InternalID+"\x00"+m.ID] = true
		}
		if !time.Now().Before(deadline) {
			sort.Strings(left)
			return &MeetingsRunningError{Node: node, Meetings: left, Waited: time.Since(start)}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(poll, time.Until(deadline))):
		}
	}
}

// ServerFor finds the one server registered for a member's URL.
// ErrNotFound when there is none; an error naming them when there are
// several (Sync removes duplicates).
func ServerFor(ctx context.Context, p Pool, m Member) (Server, error) {
	l, err := p.List(ctx)
	if err != nil {
		return Server{}, err
	}
	matches := FindByURL(l, m.URL)
	switch len(matches) {
	case 0:
		return Server{}, fmt.Errorf("%s (%s) is not registered in the pool: %w", m.Node, m.URL, ErrNotFound)
	case 1:
		return matches[0], nil
	}
	return Server{}, fmt.Errorf("%s is registered %d times under %s; omc pool sync removes the empty ones", m.Node, len(matches), m.URL)
}

// Remove drains the member's server and deregisters it. A node that is
// not registered is not an error.
func Remove(ctx context.Context, p Pool, m Member, o DrainOptions) error {
	l, err := p.List(ctx)
	if err != nil {
		return err
	}
	if o.Member == nil {
		o.Member = &m
	}
	for _, s := range FindByURL(l, m.URL) {
		if _, err := Drain(ctx, p, s.ID, o); err != nil {
			return err
		}
		if err := p.Delete(ctx, s.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}
