package usage

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/fake"
	"github.com/omc-coop/omc/pool/scalelite"
)

// clock is the simulated time the collector and the fake BBB share.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// rig is a fake fleet: two BBB nodes behind a fake Scalelite with
// multitenancy and two tenants, and a fresh store (SQLite unless
// newRigOn is given another).
type rig struct {
	t           *testing.T
	clk         *clock
	bbb         *fake.BBB
	n1, n2      *fake.Node
	sl          *fake.Scalelite
	pool        pool.Pool
	school, uni pool.Tenant
	path        string // the SQLite store's file ("" on PostgreSQL)
	store       Store
	c           *Collector
	// repeat collects again this many times at each collectAt, a few
	// seconds later in the same minute.
	repeat, repeated int
}

// backend opens a fresh, empty store for a test; path is the SQLite
// file ("" for other stores).
type backend struct {
	name string
	open func(t *testing.T) (st Store, path string)
}

var sqliteBackend = backend{"sqlite", func(t *testing.T) (Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "usage.db")
	st, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return st, path
}}

// backends are the stores every behavioural test runs on.
var backends = []backend{sqliteBackend, postgresBackend}

// eachStore runs test once per store, as subtests named after them.
func eachStore(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

func newRig(t *testing.T) *rig { return newRigOn(t, sqliteBackend) }

func newRigOn(t *testing.T, b backend) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{t: t, clk: &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}}
	r.bbb = fake.NewBBB(t)
	r.bbb.Now = r.clk.Now
	r.n1 = r.bbb.AddNode("bbb-1", "secret-one", "3.0.4")
	r.n2 = r.bbb.AddNode("bbb-2", "secret-two", "3.0.4")
	// The storage tests need bytes: these nodes answer as a build that
	// gives sizes (stock BBB does not: TestStockBBBRecordingsOfUnknownSize).
	r.n1.ServeSizes(true)
	r.n2.ServeSizes(true)
	r.sl = fake.NewScalelite(t, "lb-secret")
	r.sl.SetMultitenancy(true)
	r.pool = &scalelite.Client{URL: r.sl.URL, Secret: "lb-secret"}
	var err error
	if r.school, err = r.pool.AddTenant(ctx, "school", []string{"school-secret"}); err != nil {
		t.Fatal(err)
	}
	if r.uni, err = r.pool.AddTenant(ctx, "uni", []string{"uni-secret"}); err != nil {
		t.Fatal(err)
	}
	r.store, r.path = b.open(t)
	t.Cleanup(func() { r.store.Close() })
	r.c = &Collector{Pools: []pool.Pool{r.pool}, Store: r.store, Now: r.clk.Now, Nodes: []Node{
		{Name: "bbb-1", URL: r.n1.URL, Secret: "secret-one"},
		{Name: "bbb-2", URL: r.n2.URL, Secret: "secret-two"},
	}}
	return r
}

// meeting starts a meeting as Scalelite would create it for tenant (nil:
// without multitenancy's tenant-id).
func (r *rig) meeting(n *fake.Node, id string, users int, created time.Time, tenant *pool.Tenant) {
	n.CreateMeetingAt(id, users, 1, created)
	meta := map[string]string{"bbb-origin": "Greenlight"}
	if tenant != nil {
		meta["tenant-id"] = tenant.ID
	}
	n.SetMetadata(id, meta)
}

// collectAt takes a sample at t.
func (r *rig) collectAt(t time.Time) *Result {
	r.t.Helper()
	r.clk.Set(t)
	res, err := r.c.Collect(context.Background())
	if err != nil {
		r.t.Fatalf("collect at %s: %v", t.Format("15:04:05"), err)
	}
	for i := 1; i <= r.repeat && t.Second()+i < 60; i++ {
		r.clk.Set(t.Add(time.Duration(i) * time.Second))
		again, err := r.c.Collect(context.Background())
		if err != nil {
			r.t.Fatalf("collect again at %s: %v", t.Format("15:04:05"), err)
		}
		for j, n := range again.Nodes {
			if res.Nodes[j].Status != "failed" && n.Status != "already" {
				r.t.Errorf("repeat at %s: %+v", t.Format("15:04:05"), n)
			}
		}
		r.repeated++
	}
	return res
}

func (r *rig) usage(month string) map[string]TenantUsage {
	r.t.Helper()
	from, to, err := Month(month, time.UTC)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.between(from, to)
}

// between is each tenant's usage in [from, to), by tenant name.
func (r *rig) between(from, to time.Time) map[string]TenantUsage {
	r.t.Helper()
	us, err := r.store.Usage(context.Background(), from, to)
	if err != nil {
		r.t.Fatal(err)
	}
	m := map[string]TenantUsage{}
	for _, u := range us {
		m[u.Tenant] = u
	}
	return m
}

func at(h, m, s int) time.Time { return time.Date(2026, 11, 2, h, m, s, 0, time.UTC) }

// script plays the same morning on the fleet; the expected numbers are
// worked out by hand in the comments, with the gap rule of the package
// doc.
func (r *rig) script() {
	// 08:58 school's meeting A starts on bbb-1 with 10 people.
	r.meeting(r.n1, "a", 10, at(8, 58, 0), &r.school)
	// A breakout of it (not counted) and a meeting nobody joined yet.
	r.meeting(r.n1, "a-breakout", 3, at(8, 59, 0), &r.school)
	r.n1.SetBreakout("a-breakout", true)
	r.n1.CreateMeetingAt("empty", 0, 0, at(8, 59, 0))
	r.n1.AddRecording(fake.Recording{RecordID: "r1", MeetingID: "old", Size: 1_500_000_000, Metadata: map[string]string{"tenant-id": r.school.ID}})
	r.n2.AddRecording(fake.Recording{RecordID: "r2", MeetingID: "old2", Size: 500_000_000, Metadata: map[string]string{"tenant-id": r.school.ID}})
	r.n2.AddRecording(fake.Recording{RecordID: "r3", MeetingID: "old3", Size: 250_000_000, Metadata: map[string]string{"tenant-id": r.uni.ID}})

	// 09:00:20 first sample ever: credit min(5, age 2) → A 10×2 = 20.
	r.collectAt(at(9, 0, 20))
	// 09:01:10: gap 1 → A +10 = 30.
	r.collectAt(at(9, 1, 10))
	// 09:01:30 uni's meeting B on bbb-2 with 4; an untenanted meeting U
	// with 2 (a meeting made on the node directly).
	r.meeting(r.n2, "b", 4, at(9, 1, 30), &r.uni)
	r.meeting(r.n2, "u", 2, at(9, 1, 30), nil)
	// 09:02:05: A +10 = 40; B and U are 30 s old → 0.
	r.collectAt(at(9, 2, 5))
	// 09:03: A grows to 12; school's meeting C on bbb-2 with 5 since 09:00.
	r.n1.SetUsers("a", 12, 1)
	r.meeting(r.n2, "c", 5, at(9, 0, 0), &r.school)
	// 09:03:00: A +12 = 52; C min(1, 3) ×5 = 5; B +4; U +2.
	// school's users at 09:03: 12 + 5 = 17 (the peak).
	r.collectAt(at(9, 3, 0))
	// bbb-2 goes down for the next sample: nothing stored for it.
	r.n2.SetDown(true)
	// 09:04:30: A +12 = 64.
	res := r.collectAt(at(9, 4, 30))
	if res.Failed() != 1 {
		r.t.Fatalf("bbb-2 down: %+v", res.Nodes)
	}
	r.n2.SetDown(false)
	// A recording is deleted: the peak storage stays.
	r.n2.DeleteRecording("r2")
	// The collector is down until 09:20; C ended meanwhile.
	r.n2.EndMeeting("c")
	// 09:20:40: gap 16 (bbb-1) and 17 (bbb-2) → credit 5.
	// A +60 = 124; B +20; U +10.
	r.collectAt(at(9, 20, 40))
	// Everything ends.
	r.n1.EndMeeting("a")
	r.n2.EndMeeting("b")
	r.n2.EndMeeting("u")
	r.collectAt(at(9, 21, 0))
}

func TestCollectMetersScriptedMeetings(t *testing.T) { eachStore(t, testCollectMetersScriptedMeetings) }

func testCollectMetersScriptedMeetings(t *testing.T, b backend) {
	r := newRigOn(t, b)
	r.script()
	got := r.usage("2026-11")
	want := map[string]TenantUsage{
		// meetings A and C; A 124 + C 5; peak 17; recordings 1.5+0.5 GB.
		"school": {TenantID: r.school.ID, Tenant: "school", Meetings: 2, ParticipantMinutes: 129, PeakUsers: 17, PeakRecordingBytes: 2_000_000_000, Samples: 7},
		// B: 0 + 4 + 20.
		"uni": {TenantID: r.uni.ID, Tenant: "uni", Meetings: 1, ParticipantMinutes: 24, PeakUsers: 4, PeakRecordingBytes: 250_000_000, Samples: 6},
		// U: 0 + 2 + 10.
		Unattributed: {TenantID: "", Tenant: Unattributed, Meetings: 1, ParticipantMinutes: 12, PeakUsers: 2, Samples: 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("usage:\n got %+v\nwant %+v", got, want)
	}
	if other := r.usage("2026-12"); len(other) != 0 {
		t.Errorf("December: %+v", other)
	}
}

func TestCollectTwiceCountsNothingTwice(t *testing.T) {
	eachStore(t, testCollectTwiceCountsNothingTwice)
}

func testCollectTwiceCountsNothingTwice(t *testing.T, be backend) {
	once := newRigOn(t, be)
	once.script()
	twice := newRigOn(t, be)
	// The same script, but every collect is run twice more in the same
	// minute (cron overlap, a retry): "already", nothing added.
	twice.repeat = 2
	twice.script()
	a, b := once.usage("2026-11"), twice.usage("2026-11")
	if len(a) != 3 || a["school"].ParticipantMinutes != 129 {
		t.Fatalf("once: %+v", a)
	}
	for k := range a {
		x, y := a[k], b[k]
		x.TenantID, y.TenantID = "", "" // each rig's Scalelite made its own IDs
		if x != y {
			t.Errorf("%s: once %+v, thrice %+v", k, x, y)
		}
	}
	if twice.repeated == 0 {
		t.Fatal("no collect was repeated")
	}

	// The store itself refuses a second sample of a node and minute.
	ctx := context.Background()
	tx, err := twice.store.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := tx.PutSample(ctx, "bbb-1", at(9, 21, 0), time.Minute); err == nil {
		t.Fatal("a second sample of bbb-1 at 09:21 was accepted")
	}
}

func TestNoPersonalDataInTheStore(t *testing.T) {
	r := newRig(t)
	r.meterScalelite()
	ctx := context.Background()
	name := "Jane Doe's private room"
	r.n1.CreateMeetingAt(name, 3, 1, at(8, 50, 0))
	r.n1.SetMetadata(name, map[string]string{"tenant-id": r.school.ID, "bbb-context": "Counselling session for John Roe",
		"bbb-origin-server-name": "lms.example.org"})
	// Recordings: only a salted hash of the recordID is stored.
	recMeta := map[string]string{"tenant-id": r.school.ID, "bbb-context": "Counselling session for John Roe"}
	r.n1.AddRecording(fake.Recording{RecordID: "rec-of-jane-doe-1", MeetingID: name, Size: 1000, Metadata: recMeta})
	r.n1.AddRecording(fake.Recording{RecordID: "rec-of-jane-doe-2", MeetingID: name, Size: 2000, Metadata: recMeta})
	r.collectAt(at(9, 0, 0))
	r.sl.Import(r.n1, "rec-of-jane-doe-1")
	r.sl.AddRecording(fake.Recording{RecordID: "rec-of-jane-doe-3", MeetingID: name, Metadata: recMeta})
	r.collectAt(at(9, 1, 0))
	r.store.Close()

	// The columns are counts, times, tenant IDs and names, hashes.
	db, err := sql.Open("sqlite", r.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := map[string][]string{
		"meta":                 {"key", "value"},
		"tenants":              {"id", "name"},
		"samples":              {"node", "minute", "credit_seconds"},
		"tenant_usage":         {"node", "minute", "tenant_id", "meetings", "users", "participant_minutes", "recording_bytes", "unknown_recordings"},
		"meetings":             {"meeting_key", "tenant_id", "first_minute", "last_minute"},
		"recordings":           {"recording_key", "tenant_id", "bytes"},
		"scalelite_samples":    {"scalelite", "minute", "recordings_known"},
		"scalelite_recordings": {"scalelite", "minute", "tenant_id", "recording_bytes", "unknown_recordings"},
	}
	tables, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		tables.Scan(&n)
		names = append(names, n)
	}
	tables.Close()
	if len(names) != len(want) {
		t.Errorf("tables %v", names)
	}
	for _, tbl := range names {
		rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, tbl)
		if err != nil {
			t.Fatal(err)
		}
		var cols []string
		for rows.Next() {
			var c string
			rows.Scan(&c)
			cols = append(cols, c)
		}
		rows.Close()
		if !reflect.DeepEqual(cols, want[tbl]) {
			t.Errorf("table %s columns %v, want %v", tbl, cols, want[tbl])
		}
	}
	// Every text value in the store is one of: a node name, a tenant ID
	// or name, a 32-hex meeting key, the schema version or the salt.
	allowed := map[string]bool{"bbb-1": true, "bbb-2": true, r.school.ID: true, r.uni.ID: true, "school": true, "uni": true,
		"schema": true, "salt": true, schemaVersion: true, "": true, r.c.Scalelites[0].name(): true}
	for tbl, cols := range want {
		for _, col := range cols {
			rows, err := db.QueryContext(ctx, `SELECT CAST(`+col+` AS TEXT), typeof(`+col+`) FROM `+tbl)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var v sql.NullString
				var typ string
				rows.Scan(&v, &typ)
				if typ != "text" {
					continue
				}
				switch {
				case allowed[v.String]:
				case (col == "meeting_key" || col == "recording_key") && len(v.String) == 32:
				case tbl == "meta" && col == "value" && len(v.String) == 64:
				default:
					t.Errorf("%s.%s holds %q", tbl, col, v.String)
				}
			}
			rows.Close()
		}
	}
	// And the bytes on disk (database and WAL) never contain the names.
	for _, p := range []string{r.path, r.path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, s := range []string{name, "Jane", "John Roe", "lms.example.org", "Greenlight", "private room", "rec-of"} {
			if containsFold(b, s) {
				t.Errorf("%s contains %q", filepath.Base(p), s)
			}
		}
	}
}

func containsFold(b []byte, s string) bool {
	return bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(s)))
}
