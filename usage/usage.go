// Package usage meters what each tenant (member organisation) of a BBB
// fleet used — meetings, participant-minutes, peak concurrent users and
// recording storage — and turns a month of it into reports and invoices.
//
// # Sampling
//
// A Collector takes one sample per call of Collect (run it from a timer
// or cron, e.g. every minute). A sample is keyed by the current time
// truncated to the minute, per node: each node's getMeetings (signed, with
// the node's BBB secret) and getRecordings. Meetings are attributed to a
// tenant by the "tenant-id" metadata Scalelite adds to every create when
// multitenancy is on (meta_tenant-id = the tenant's ID); the tenant's name
// comes from the pool's tenant list. Meetings without it count as
// Unattributed. Breakout rooms are skipped: their people are also in
// their parent meeting (Scalelite's load skips them too). Users are BBB's
// participantCount, which includes moderators.
//
// # Participant-minutes and the gap rule
//
// At sample minute t, a node's meetings are credited
//
//	users(t) × min(t − p, MaxGap, age)
//
// minutes, where p is the node's previous sample (none: MaxGap), age is
// the meeting's whole minutes since its createTime, and users(t) is what
// the sample sees (the right end of the interval). A meeting that ended
// between two samples is not credited for that interval, and a meeting's
// first partial minute is not counted: the rule errs toward the member.
// The bounded gap (default 5 minutes) means a collector that was down for
// an hour never bills an hour it did not see. Minutes belong to the month
// of the sample that measured them.
//
// Peak concurrent users is the largest sum of one tenant's users over the
// nodes in one sample minute; recording storage is the largest sum of the
// bytes of the tenant's recordings the nodes held in one sample minute
// (getRecordings: published and unpublished). Recordings that Scalelite's
// importer has moved off the nodes are not seen by this collector.
//
// # Idempotence and crashes
//
// Each Collect fetches everything first, then writes in one transaction.
// A node already sampled in this minute is skipped, so running collect
// twice in a minute counts nothing twice (the store's unique keys refuse
// a second sample as well). An error or a crash before the commit leaves
// nothing of the sample behind; the next run takes it again.
//
// # Personal data
//
// The store holds counts per node, minute and tenant, tenant names
// (organisations), and meetings only as salted hashes of BBB's internal
// meeting ID, so they can be counted once: never meeting names, user
// names, user IDs or any content.
package usage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/bbbapi"
)

// DefaultMaxGap is the longest interval one sample credits.
const DefaultMaxGap = 5 * time.Minute

// TenantMetaKey is the meeting metadata Scalelite sets to the tenant's ID.
const TenantMetaKey = "tenant-id"

// Node is one BBB server to sample. Secret is its BBB API secret; it is
// used to sign calls and never stored or printed.
type Node struct {
	Name   string // the key samples are stored under (the inventory's node name)
	URL    string // API base, https://host/bigbluebutton/api
	Secret string
}

// Collector takes samples.
type Collector struct {
	// Pools name the tenants (none: IDs only). A fleet with several
	// Scalelites passes each; tenant IDs are Scalelite's UUIDs.
	Pools []pool.Pool
	Nodes []Node
	Store Store
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxGap bounds the time one sample credits (default DefaultMaxGap).
	MaxGap time.Duration
	// HTTP is used for the BBB calls (default: 10 s timeout).
	HTTP *http.Client
	// Parallel bounds concurrent node calls (default 8).
	Parallel int
}

// Result is what one Collect did.
type Result struct {
	Minute time.Time    `json:"minute"`
	Nodes  []NodeResult `json:"nodes"`
	// Warnings: tenant names or recordings that could not be read.
	Warnings []string `json:"warnings,omitempty"`
}

// NodeResult is one node's part of a sample.
type NodeResult struct {
	Node string `json:"node"`
	// Status is "sampled", "already" (this minute was taken before) or
	// "failed" (the node did not answer; nothing stored for it).
	Status             string `json:"status"`
	Error              string `json:"error,omitempty"`
	Meetings           int64  `json:"meetings"`
	Users              int64  `json:"users"`
	ParticipantMinutes int64  `json:"participant_minutes"`
	CreditSeconds      int64  `json:"credit_seconds"`
}

// Failed counts the nodes that could not be sampled.
func (r *Result) Failed() int {
	n := 0
	for _, x := range r.Nodes {
		if x.Status == "failed" {
			n++
		}
	}
	return n
}

type fetched struct {
	meetings    []bbbapi.Meeting
	recordings  map[string]int64 // tenant ID → bytes
	err, recErr error
}

// Collect takes the sample of the current minute.
func (c *Collector) Collect(ctx context.Context) (*Result, error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	maxGap := c.MaxGap
	if maxGap <= 0 {
		maxGap = DefaultMaxGap
	}
	minute := now().UTC().Truncate(time.Minute)
	res := &Result{Minute: minute}

	var tenants []pool.Tenant
	for _, p := range c.Pools {
		ts, err := p.Tenants(ctx)
		switch {
		case errors.Is(err, pool.ErrMultitenancyDisabled):
		case err != nil:
			res.Warnings = append(res.Warnings, "tenant names not updated: "+err.Error())
		default:
			tenants = append(tenants, ts...)
		}
	}
	salt, err := c.Store.Salt(ctx)
	if err != nil {
		return nil, err
	}

	data := c.fetchAll(ctx)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	tx, err := c.Store.Begin(ctx)
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			tx.Rollback()
		}
	}()
	for _, t := range tenants {
		if err := tx.PutTenant(ctx, t.ID, t.Name); err != nil {
			return nil, fmt.Errorf("usage store: %w", err)
		}
	}
	for i, n := range c.Nodes {
		name := nodeName(n)
		nr := NodeResult{Node: name}
		d := data[i]
		if d.err != nil {
			nr.Status, nr.Error = "failed", d.err.Error()
			res.Nodes = append(res.Nodes, nr)
			continue
		}
		if d.recErr != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: recordings not measured: %v", name, d.recErr))
		}
		done, err := tx.NodeSampled(ctx, name, minute)
		if err != nil {
			return nil, fmt.Errorf("usage store: %w", err)
		}
		if done {
			nr.Status = "already"
			res.Nodes = append(res.Nodes, nr)
			continue
		}
		credit := maxGap
		if prev, ok, err := tx.LastSample(ctx, name, minute); err != nil {
			return nil, fmt.Errorf("usage store: %w", err)
		} else if ok && minute.Sub(prev) < credit {
			credit = minute.Sub(prev)
		}
		if err := tx.PutSample(ctx, name, minute, credit); err != nil {
			return nil, fmt.Errorf("usage store: %w", err)
		}
		rows := map[string]*Row{}
		row := func(tenant string) *Row {
			r := rows[tenant]
			if r == nil {
				r = &Row{Node: name, Minute: minute, TenantID: tenant, RecordingsKnown: d.recErr == nil}
				rows[tenant] = r
			}
			return r
		}
		for _, m := range d.meetings {
			if m.IsBreakout || m.ParticipantCount <= 0 {
				continue
			}
			tenant := m.Metadata[TenantMetaKey]
			users := int64(m.ParticipantCount)
			span := credit
			if m.CreateTime > 0 {
				age := minute.Sub(time.UnixMilli(m.CreateTime)).Truncate(time.Minute)
				span = max(0, min(span, age))
			}
			pm := users * int64(span/time.Minute)
			r := row(tenant)
			r.Meetings++
			r.Users += users
			r.ParticipantMinutes += pm
			if err := tx.PutMeeting(ctx, meetingKey(salt, name, m), tenant, minute); err != nil {
				return nil, fmt.Errorf("usage store: %w", err)
			}
		}
		for tenant, b := range d.recordings {
			row(tenant).RecordingBytes += b
		}
		for _, tenant := range sortedKeys(rows) {
			r := rows[tenant]
			if err := tx.PutUsage(ctx, *r); err != nil {
				return nil, fmt.Errorf("usage store: %w", err)
			}
			nr.Meetings += r.Meetings
			nr.Users += r.Users
			nr.ParticipantMinutes += r.ParticipantMinutes
		}
		nr.Status, nr.CreditSeconds = "sampled", int64(credit/time.Second)
		res.Nodes = append(res.Nodes, nr)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("usage store: commit: %w", err)
	}
	committed = true
	return res, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// nodeName is the node's storage key: its name, else its URL's host.
func nodeName(n Node) string {
	if n.Name != "" {
		return n.Name
	}
	if u, err := url.Parse(n.URL); err == nil && u.Host != "" {
		return u.Host
	}
	return n.URL
}

// meetingKey identifies one meeting instance without revealing it: a
// salted hash of the node and BBB's internal meeting ID (which changes
// with every new create of the same room).
func meetingKey(salt []byte, node string, m bbbapi.Meeting) string {
	id := m.InternalID
	if id == "" {
		id = fmt.Sprintf("%s-%d", m.ID, m.CreateTime)
	}
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(node + "\x00" + id))
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func (c *Collector) fetchAll(ctx context.Context) []fetched {
	out := make([]fetched, len(c.Nodes))
	par := c.Parallel
	if par <= 0 {
		par = 8
	}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = c.fetch(ctx, n)
		}()
	}
	wg.Wait()
	return out
}

func (c *Collector) fetch(ctx context.Context, n Node) fetched {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	cl := &bbbapi.Client{URL: n.URL, Secret: n.Secret, HTTP: hc}
	ms, err := cl.Meetings(ctx)
	if err != nil {
		return fetched{err: err}
	}
	recs, recErr := recordings(ctx, cl)
	return fetched{meetings: ms, recordings: recs, recErr: recErr}
}

// Month is the [from, to) of a calendar month ("2026-11") in loc.
func Month(s string, loc *time.Location) (time.Time, time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	t, err := time.ParseInLocation("2006-01", strings.TrimSpace(s), loc)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("month %q is not YYYY-MM", s)
	}
	return t, t.AddDate(0, 1, 0), nil
}
