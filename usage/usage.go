// Package usage meters what each tenant (member organisation) of a BBB
// fleet used — meetings, participant-minutes, peak concurrent users and
// recording storage — and turns a month of it into reports and invoices.
//
// # Sampling
//
// A Collector takes one sample per call of Collect (run it from a timer
// or cron, e.g. every minute). A sample is keyed by the current time
// truncated to the minute, per node: each node's getMeetings (signed, with
// the node's BBB secret) and getRecordings; and per Scalelite, its
// getRecordings (see Recording storage). Meetings are attributed to a
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
// nodes in one sample minute.
//
// # Recording storage
//
// Recording storage is the largest sum, in one sample minute, of the
// bytes of the tenant's recordings that exist that minute on a node or in
// a pool's Scalelite, each recording counted once. Every collect asks each
// node's getRecordings (published and unpublished) and each Scalelite's
// (Collector.Scalelites: the BBB API it serves; see Scalelite for how a
// multitenant Scalelite is asked once per tenant). Scalelite's answer
// carries no size, so the store remembers each recording's last size a
// node listed, under a salted hash of its recordID; a recording the
// importer moved off the nodes keeps being counted at that size while
// Scalelite lists it, and stops when it is deleted there. A recording on
// a node and in Scalelite at once (during an import) is counted once, in
// the Scalelite's part. A recording Scalelite lists that no node ever
// listed (made before omc metered, or imported from elsewhere) has no
// known size: it is not counted; the collect warns and the report gives
// the most such recordings in one minute (UnknownRecordings).
//
// BBB's getRecordings (bbb-web 2.6 to 3.0) carries no size either: a
// recording no answer gave a size for is of unknown size wherever it is
// listed, counted in UnknownRecordings and never as 0 bytes. Only a
// build that adds a size to each playback format (Mconf's) gives bytes.
//
// A node whose getRecordings fails stores its recordings of the minute
// as unknown (NULL, counted as 0). A Scalelite whose getRecordings (or,
// with multitenancy, its tenant list or one tenant's call) fails stores
// the minute as unknown for it, and the nodes' rows of that collect then
// count what they hold: a minute may count less than was stored, never a
// recording twice. The peak is over all minutes, so one minute seen in
// part does not lower it unless every minute of the month was.
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
// (organisations), meetings only as salted hashes of BBB's internal
// meeting ID, so they can be counted once, and recordings only as salted
// hashes of their recordID with tenant and size: never meeting names,
// user names, user IDs or any content.
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
	// Algorithm signs its calls (bbbapi.SHA256 when empty).
	Algorithm string
}

// Collector takes samples.
type Collector struct {
	// Pools name the tenants (none: IDs only). A fleet with several
	// Scalelites passes each; tenant IDs are Scalelite's UUIDs.
	Pools []pool.Pool
	Nodes []Node
	// Scalelites are asked for the recordings their importers took off
	// the nodes (none: the nodes' recordings only). A Scalelite's Pool
	// that is also in Pools is asked for its tenants once.
	Scalelites []Scalelite
	Store      Store
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxGap bounds the time one sample credits (default DefaultMaxGap).
	MaxGap time.Duration
	// HTTP is used for the BBB calls (default: 10 s timeout).
	HTTP *http.Client
	// Parallel bounds concurrent node calls (default
	// bbbapi.FleetParallel).
	Parallel int
}

// Result is what one Collect did.
type Result struct {
	Minute time.Time    `json:"minute"`
	Nodes  []NodeResult `json:"nodes"`
	// Scalelites: each Scalelite's part (its recordings).
	Scalelites []ScaleliteResult `json:"scalelites,omitempty"`
	// Warnings: tenant names or recordings that could not be read.
	Warnings []string `json:"warnings,omitempty"`
}

// ScaleliteResult is one Scalelite's part of a sample.
type ScaleliteResult struct {
	Scalelite string `json:"scalelite"`
	// Status is "sampled", "already" (this minute was taken before) or
	// "failed" (its getRecordings did not answer: the minute is stored
	// as unknown for it, and no node's row of this collect leaves a
	// recording to it).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Recordings it listed; RecordingBytes the remembered sizes of those
	// no node's row of this collect counts; UnknownRecordings those no
	// node ever listed (size unknown: not counted).
	Recordings        int64 `json:"recordings"`
	RecordingBytes    int64 `json:"recording_bytes"`
	UnknownRecordings int64 `json:"unknown_recordings"`
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
	recordings  []listed
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

	type tenantList struct {
		l   []pool.Tenant
		err error
	}
	type askedPool struct {
		p pool.Pool
		tenantList
	}
	var asked []askedPool
	tenantsOf := func(p pool.Pool) tenantList {
		for _, a := range asked {
			if samePool(a.p, p) {
				return a.tenantList
			}
		}
		ts, err := p.Tenants(ctx)
		asked = append(asked, askedPool{p, tenantList{ts, err}})
		return tenantList{ts, err}
	}
	var tenants []pool.Tenant
	for _, p := range c.Pools {
		tl := tenantsOf(p)
		switch {
		case errors.Is(tl.err, pool.ErrMultitenancyDisabled):
		case tl.err != nil:
			res.Warnings = append(res.Warnings, "tenant names not updated: "+tl.err.Error())
		default:
			tenants = append(tenants, tl.l...)
		}
	}
	salt, err := c.Store.Salt(ctx)
	if err != nil {
		return nil, err
	}

	data := c.fetchAll(ctx)
	slData := make([]fetched, len(c.Scalelites))
	for i, sl := range c.Scalelites {
		var tl tenantList
		if sl.Pool != nil {
			tl = tenantsOf(sl.Pool)
		}
		l, err := fetchScalelite(ctx, c.httpClient(), sl, tl.l, tl.err)
		slData[i] = fetched{recordings: l, recErr: err}
	}
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

	// Remember the size of every recording a node lists; those Scalelite
	// lists are billed at it once they are gone from the nodes.
	sizes, err := tx.RecordingSizes(ctx)
	if err != nil {
		return nil, fmt.Errorf("usage store: %w", err)
	}
	for _, d := range data {
		if d.err != nil || d.recErr != nil {
			continue
		}
		for _, rec := range d.recordings {
			if rec.ID == "" || !rec.SizeKnown {
				continue // nothing to know it by, or nothing known
			}
			k := recordingKey(salt, rec.ID)
			r := RecordingSize{TenantID: rec.Tenant, Bytes: rec.Size}
			if old, ok := sizes[k]; ok && old == r {
				continue
			}
			if err := tx.PutRecordingSize(ctx, k, r); err != nil {
				return nil, fmt.Errorf("usage store: %w", err)
			}
			sizes[k] = r
		}
	}
	// A recording a Scalelite lists in this collect is counted in that
	// Scalelite's row, never in a node's (during an import it is on
	// both). When a Scalelite whose row of this minute exists already
	// did not answer now, what that row counts is not known: the nodes'
	// recordings of this collect are then unknown rather than counted
	// twice.
	inScalelite := map[string]bool{}
	slDone := make([]bool, len(c.Scalelites))
	nodesRecordingsUnknown := ""
	for i, sl := range c.Scalelites {
		done, err := tx.ScaleliteSampled(ctx, sl.name(), minute)
		if err != nil {
			return nil, fmt.Errorf("usage store: %w", err)
		}
		slDone[i] = done
		d := slData[i]
		if d.recErr != nil {
			if done {
				nodesRecordingsUnknown = sl.name()
			}
			continue
		}
		for _, rec := range d.recordings {
			inScalelite[recordingKey(salt, rec.ID)] = true
		}
	}
	counted := map[string]bool{} // recordings a node's row counts
	for i, n := range c.Nodes {
		name := nodeName(n)
		nr := NodeResult{Node: name}
		d := data[i]
		if d.err != nil {
			nr.Status, nr.Error = "failed", d.err.Error()
			res.Nodes = append(res.Nodes, nr)
			continue
		}
		recKnown := d.recErr == nil && nodesRecordingsUnknown == ""
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
				r = &Row{Node: name, Minute: minute, TenantID: tenant, RecordingsKnown: recKnown}
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
		if d.recErr == nil && !recKnown {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: recordings not measured: Scalelite %s, sampled earlier this minute, did not answer now", name, nodesRecordingsUnknown))
		}
		if recKnown {
			for _, rec := range d.recordings {
				size, known := rec.Size, rec.SizeKnown
				if rec.ID != "" {
					k := recordingKey(salt, rec.ID)
					if counted[k] || inScalelite[k] {
						continue
					}
					counted[k] = true
					if r, ok := sizes[k]; !known && ok {
						size, known = r.Bytes, true
					}
				}
				if known {
					row(rec.Tenant).RecordingBytes += size
				} else {
					row(rec.Tenant).UnknownRecordings++
				}
			}
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
	for i, sl := range c.Scalelites {
		sr, err := c.putScalelite(ctx, tx, salt, minute, sl, slData[i], slDone[i], sizes, counted)
		if err != nil {
			return nil, fmt.Errorf("usage store: %w", err)
		}
		switch {
		case sr.Status == "failed":
			res.Warnings = append(res.Warnings, fmt.Sprintf("Scalelite %s: recordings not measured (stored as unknown for this minute): %s", sr.Scalelite, sr.Error))
		case sr.UnknownRecordings > 0:
			res.Warnings = append(res.Warnings, fmt.Sprintf("Scalelite %s: %d recordings of unknown size (listed by Scalelite, never seen on a node): not counted", sr.Scalelite, sr.UnknownRecordings))
		}
		res.Scalelites = append(res.Scalelites, sr)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("usage store: commit: %w", err)
	}
	committed = true
	return res, nil
}

// putScalelite stores a Scalelite's part of the sample: each recording it
// lists once (not when a node's row counts it, nor when another
// Scalelite did), at its remembered size, or counted as unknown.
func (c *Collector) putScalelite(ctx context.Context, tx Tx, salt []byte, minute time.Time, sl Scalelite, d fetched, done bool,
	sizes map[string]RecordingSize, counted map[string]bool) (ScaleliteResult, error) {
	sr := ScaleliteResult{Scalelite: sl.name(), Recordings: int64(len(d.recordings))}
	if done {
		sr.Status = "already"
		if d.recErr != nil {
			sr.Error = d.recErr.Error()
		}
		return sr, nil
	}
	if d.recErr != nil {
		sr.Status, sr.Error = "failed", d.recErr.Error()
		return sr, tx.PutScaleliteSample(ctx, sr.Scalelite, minute, false)
	}
	if err := tx.PutScaleliteSample(ctx, sr.Scalelite, minute, true); err != nil {
		return sr, err
	}
	rows := map[string]*ScaleliteRow{}
	row := func(tenant string) *ScaleliteRow {
		r := rows[tenant]
		if r == nil {
			r = &ScaleliteRow{Scalelite: sr.Scalelite, Minute: minute, TenantID: tenant}
			rows[tenant] = r
		}
		return r
	}
	for _, rec := range d.recordings {
		k := recordingKey(salt, rec.ID)
		if rec.ID == "" {
			k = "" // never remembered: of unknown size
		} else if counted[k] {
			continue
		}
		counted[k] = true
		if size, ok := sizes[k]; ok {
			row(size.TenantID).RecordingBytes += size.Bytes
			sr.RecordingBytes += size.Bytes
		} else {
			row(rec.Tenant).UnknownRecordings++
			sr.UnknownRecordings++
		}
	}
	for _, tenant := range sortedKeys(rows) {
		if err := tx.PutScaleliteRecordings(ctx, *rows[tenant]); err != nil {
			return sr, err
		}
	}
	sr.Status = "sampled"
	return sr, nil
}

// samePool reports whether a and b are the same pool (false for a pool
// type that cannot be compared).
func samePool(a, b pool.Pool) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
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
		par = bbbapi.FleetParallel
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

var defaultHTTP = bbbapi.NewHTTPClient(10 * time.Second)

func (c *Collector) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

func (c *Collector) fetch(ctx context.Context, n Node) fetched {
	cl := &bbbapi.Client{URL: n.URL, Secret: n.Secret, Algorithm: n.Algorithm, HTTP: c.httpClient()}
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
