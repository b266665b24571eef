package usage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	// modernc.org/sqlite is SQLite translated to Go: no cgo, so omc stays
	// one static binary that cross-compiles for every release target.
	_ "modernc.org/sqlite"
)

// schemaVersion is stored in meta; a newer store is refused.
const schemaVersion = "2"

// upgrades take a store from the version it has to the next one.
var upgrades = map[string][]string{
	// 2: a node's recordings of unknown size.
	"1": {`ALTER TABLE tenant_usage ADD COLUMN unknown_recordings INTEGER NOT NULL DEFAULT 0`},
}

// The schema: counts only. Minutes are Unix seconds (UTC), whole
// minutes. Everything is keyed so that a repeat write fails or is a
// no-op rather than counting twice.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS samples (
		node TEXT NOT NULL,
		minute INTEGER NOT NULL,
		credit_seconds INTEGER NOT NULL,
		PRIMARY KEY (node, minute))`,
	`CREATE TABLE IF NOT EXISTS tenant_usage (
		node TEXT NOT NULL,
		minute INTEGER NOT NULL,
		tenant_id TEXT NOT NULL,
		meetings INTEGER NOT NULL,
		users INTEGER NOT NULL,
		participant_minutes INTEGER NOT NULL,
		recording_bytes INTEGER,
		unknown_recordings INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (node, minute, tenant_id),
		FOREIGN KEY (node, minute) REFERENCES samples (node, minute))`,
	`CREATE INDEX IF NOT EXISTS tenant_usage_minute ON tenant_usage (minute)`,
	`CREATE TABLE IF NOT EXISTS meetings (
		meeting_key TEXT PRIMARY KEY,
		tenant_id TEXT NOT NULL,
		first_minute INTEGER NOT NULL,
		last_minute INTEGER NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS meetings_first ON meetings (first_minute)`,
	// Each recording's last size seen on a node, by a salted hash of its
	// recordID: Scalelite's getRecordings has no size, so a recording its
	// importer moved off the nodes is billed at this size.
	`CREATE TABLE IF NOT EXISTS recordings (
		recording_key TEXT PRIMARY KEY,
		tenant_id TEXT NOT NULL,
		bytes INTEGER NOT NULL)`,
	// One row per Scalelite and minute whose getRecordings was taken;
	// recordings_known is 0 when it failed (nothing of it counted).
	`CREATE TABLE IF NOT EXISTS scalelite_samples (
		scalelite TEXT NOT NULL,
		minute INTEGER NOT NULL,
		recordings_known INTEGER NOT NULL,
		PRIMARY KEY (scalelite, minute))`,
	// The bytes of the recordings a Scalelite listed that no node's row of
	// the minute counts, per tenant, and how many it listed of unknown size.
	`CREATE TABLE IF NOT EXISTS scalelite_recordings (
		scalelite TEXT NOT NULL,
		minute INTEGER NOT NULL,
		tenant_id TEXT NOT NULL,
		recording_bytes INTEGER NOT NULL,
		unknown_recordings INTEGER NOT NULL,
		PRIMARY KEY (scalelite, minute, tenant_id),
		FOREIGN KEY (scalelite, minute) REFERENCES scalelite_samples (scalelite, minute))`,
	`CREATE INDEX IF NOT EXISTS scalelite_recordings_minute ON scalelite_recordings (minute)`,
}

// SQLite is the embedded store: one file, written in WAL mode, each
// collect in one immediate transaction (a second collect running at the
// same moment waits, then sees the first one's samples).
type SQLite struct {
	db *sql.DB
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating) the store at path; its directory is made
// with mode 0700 and the file is kept at 0600.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("usage store: no database path (set billing.database in the inventory)")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("usage store %s: the path must not contain '?' or '#'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("usage store: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("usage store: %w", err)
	}
	f.Close()
	dsn := path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("usage store %s: %w", path, err)
	}
	s := &SQLite{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("usage store %s: %w", path, err)
	}
	return s, nil
}

func (s *SQLite) migrate(ctx context.Context) error {
	return migrateSQL(ctx, s.db, sqliteBind, schema, "")
}

// migrateSQL makes the schema and the meta rows on either store, in one
// transaction; lock (if any) is run first in it, so that two processes
// opening a new store at once do not both make the salt.
func migrateSQL(ctx context.Context, db *sql.DB, bind func(string) string, schema []string, lock string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if lock != "" {
		if _, err := tx.ExecContext(ctx, lock); err != nil {
			return err
		}
	}
	for _, q := range schema {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	var v string
	err = tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema'`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		v = ""
		if _, err := tx.ExecContext(ctx, bind(`INSERT INTO meta (key, value) VALUES ('schema', ?)`), schemaVersion); err != nil {
			return err
		}
		salt := make([]byte, 32)
		rand.Read(salt)
		if _, err := tx.ExecContext(ctx, bind(`INSERT INTO meta (key, value) VALUES ('salt', ?)`), hex.EncodeToString(salt)); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	for v != "" && v != schemaVersion {
		up, ok := upgrades[v]
		if !ok {
			return fmt.Errorf("schema version %s is not one this omc knows (%s); use a newer omc", v, schemaVersion)
		}
		for _, q := range up {
			if bind("?") != "?" { // PostgreSQL: 64-bit integers
				q = strings.ReplaceAll(q, " INTEGER", " BIGINT")
			}
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("upgrading the schema from version %s: %w", v, err)
			}
		}
		n, _ := strconv.Atoi(v)
		v = strconv.Itoa(n + 1)
		if _, err := tx.ExecContext(ctx, bind(`UPDATE meta SET value = ? WHERE key = 'schema'`), v); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

// Salt returns the store's meeting-key salt.
func (s *SQLite) Salt(ctx context.Context) ([]byte, error) { return readSalt(ctx, s.db) }

// readSalt is Salt on either store.
func readSalt(ctx context.Context, db *sql.DB) ([]byte, error) {
	var v string
	if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'salt'`).Scan(&v); err != nil {
		return nil, fmt.Errorf("usage store: reading the salt: %w", err)
	}
	return hex.DecodeString(v)
}

// Begin starts an immediate transaction.
func (s *SQLite) Begin(ctx context.Context) (Tx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("usage store: %w", err)
	}
	return &sqlTx{tx: tx, bind: sqliteBind}, nil
}

// sqlTx is a collect's transaction on either store: the SQL is written
// once, with ? placeholders that bind turns into the driver's.
type sqlTx struct {
	tx   *sql.Tx
	bind func(string) string
}

func sqliteBind(q string) string { return q }

func (t *sqlTx) NodeSampled(ctx context.Context, node string, minute time.Time) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(ctx, t.bind(`SELECT COUNT(*) FROM samples WHERE node = ? AND minute = ?`), node, minute.Unix()).Scan(&n)
	return n > 0, err
}

func (t *sqlTx) LastSample(ctx context.Context, node string, before time.Time) (time.Time, bool, error) {
	var m sql.NullInt64
	err := t.tx.QueryRowContext(ctx, t.bind(`SELECT MAX(minute) FROM samples WHERE node = ? AND minute < ?`), node, before.Unix()).Scan(&m)
	if err != nil || !m.Valid {
		return time.Time{}, false, err
	}
	return time.Unix(m.Int64, 0).UTC(), true, nil
}

func (t *sqlTx) PutTenant(ctx context.Context, id, name string) error {
	_, err := t.tx.ExecContext(ctx, t.bind(`INSERT INTO tenants (id, name) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name`), id, name)
	return err
}

func (t *sqlTx) PutSample(ctx context.Context, node string, minute time.Time, credit time.Duration) error {
	_, err := t.tx.ExecContext(ctx, t.bind(`INSERT INTO samples (node, minute, credit_seconds) VALUES (?, ?, ?)`),
		node, minute.Unix(), int64(credit/time.Second))
	return err
}

func (t *sqlTx) PutUsage(ctx context.Context, u Row) error {
	var bytes any
	if u.RecordingsKnown {
		bytes = u.RecordingBytes
	}
	_, err := t.tx.ExecContext(ctx, t.bind(`INSERT INTO tenant_usage
		(node, minute, tenant_id, meetings, users, participant_minutes, recording_bytes, unknown_recordings) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		u.Node, u.Minute.Unix(), u.TenantID, u.Meetings, u.Users, u.ParticipantMinutes, bytes, u.UnknownRecordings)
	return err
}

func (t *sqlTx) PutMeeting(ctx context.Context, key, tenantID string, minute time.Time) error {
	_, err := t.tx.ExecContext(ctx, t.bind(`INSERT INTO meetings (meeting_key, tenant_id, first_minute, last_minute) VALUES (?, ?, ?, ?)
		ON CONFLICT (meeting_key) DO UPDATE SET last_minute =
			CASE WHEN excluded.last_minute > meetings.last_minute THEN excluded.last_minute ELSE meetings.last_minute END`),
		key, tenantID, minute.Unix(), minute.Unix())
	return err
}

func (t *sqlTx) RecordingSizes(ctx context.Context) (map[string]RecordingSize, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT recording_key, tenant_id, bytes FROM recordings`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]RecordingSize{}
	for rows.Next() {
		var k string
		var r RecordingSize
		if err := rows.Scan(&k, &r.TenantID, &r.Bytes); err != nil {
			return nil, err
		}
		out[k] = r
	}
	return out, rows.Err()
}

func (t *sqlTx) PutRecordingSize(ctx context.Context, key string, r RecordingSize) error {
	_, err := t.tx.ExecContext(ctx, t.bind(`INSERT INTO recordings (recording_key, tenant_id, bytes) VALUES (?, ?, ?)
		ON CONFLICT (recording_key) DO UPDATE SET tenant_id = excluded.tenant_id, bytes = excluded.bytes`), key, r.TenantID, r.Bytes)
	return err
}

func (t *sqlTx) ScaleliteSampled(ctx context.Context, scalelite string, minute time.Time) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(ctx, t.bind(`SELECT COUNT(*) FROM scalelite_samples WHERE scalelite = ? AND minute = ?`), scalelite, minute.Unix()).Scan(&n)
	return n > 0, err
}

func (t *sqlTx) PutScaleliteSample(ctx context.Context, scalelite string, minute time.Time, known bool) error {
	k := 0
	if known {
		k = 1
	}
	_, err := t.tx.ExecContext(ctx, t.bind(`INSERT INTO scalelite_samples (scalelite, minute, recordings_known) VALUES (?, ?, ?)`),
		scalelite, minute.Unix(), k)
	return err
}

func (t *sqlTx) PutScaleliteRecordings(ctx context.Context, r ScaleliteRow) error {
	_, err := t.tx.ExecContext(ctx, t.bind(`INSERT INTO scalelite_recordings
		(scalelite, minute, tenant_id, recording_bytes, unknown_recordings) VALUES (?, ?, ?, ?, ?)`),
		r.Scalelite, r.Minute.Unix(), r.TenantID, r.RecordingBytes, r.UnknownRecordings)
	return err
}

func (t *sqlTx) Commit() error   { return t.tx.Commit() }
func (t *sqlTx) Rollback() error { return t.tx.Rollback() }

// Usage sums samples in [from, to): participant-minutes add up; peaks are
// the largest per-minute sum over the nodes; meetings count by the
// minute they were first seen.
func (s *SQLite) Usage(ctx context.Context, from, to time.Time) ([]TenantUsage, error) {
	return sumUsage(ctx, s.db, sqliteBind, from, to)
}

// sumUsage is Usage on either store.
func sumUsage(ctx context.Context, db *sql.DB, bind func(string) string, from, to time.Time) ([]TenantUsage, error) {
	byID := map[string]*TenantUsage{}
	get := func(id string) *TenantUsage {
		u := byID[id]
		if u == nil {
			u = &TenantUsage{TenantID: id}
			byID[id] = u
		}
		return u
	}
	// Recording bytes of a minute: the nodes' rows (NULL when a node's
	// getRecordings failed) and the Scalelites' rows, which never count a
	// recording a node's row counts.
	rows, err := db.QueryContext(ctx, bind(`
		WITH src AS (
			SELECT tenant_id, minute, users, participant_minutes AS pm,
				COALESCE(recording_bytes, 0) AS bytes, unknown_recordings AS unknown
			FROM tenant_usage WHERE minute >= ? AND minute < ?
			UNION ALL
			SELECT tenant_id, minute, 0, 0, recording_bytes, unknown_recordings
			FROM scalelite_recordings WHERE minute >= ? AND minute < ?),
		per_minute AS (
			SELECT tenant_id, minute, SUM(users) AS users, SUM(pm) AS pm,
				SUM(bytes) AS bytes, SUM(unknown) AS unknown
			FROM src GROUP BY tenant_id, minute)
		SELECT tenant_id, CAST(SUM(pm) AS BIGINT), CAST(MAX(users) AS BIGINT), CAST(MAX(bytes) AS BIGINT), COUNT(*),
			CAST(MAX(unknown) AS BIGINT)
		FROM per_minute GROUP BY tenant_id`),
		from.Unix(), to.Unix(), from.Unix(), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("usage store: %w", err)
	}
	for rows.Next() {
		var id string
		var pm, peak, bytes, n, unknown int64
		if err := rows.Scan(&id, &pm, &peak, &bytes, &n, &unknown); err != nil {
			rows.Close()
			return nil, fmt.Errorf("usage store: %w", err)
		}
		u := get(id)
		u.ParticipantMinutes, u.PeakUsers, u.PeakRecordingBytes, u.Samples = pm, peak, bytes, n
		u.UnknownRecordings = unknown
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage store: %w", err)
	}
	rows, err = db.QueryContext(ctx, bind(`SELECT tenant_id, COUNT(*) FROM meetings WHERE first_minute >= ? AND first_minute < ? GROUP BY tenant_id`),
		from.Unix(), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("usage store: %w", err)
	}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("usage store: %w", err)
		}
		get(id).Meetings = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage store: %w", err)
	}
	names := map[string]string{}
	rows, err = db.QueryContext(ctx, `SELECT id, name FROM tenants`)
	if err != nil {
		return nil, fmt.Errorf("usage store: %w", err)
	}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("usage store: %w", err)
		}
		names[id] = name
	}
	rows.Close()
	out := make([]TenantUsage, 0, len(byID))
	for id, u := range byID {
		switch {
		case id == "":
			u.Tenant = Unattributed
		case names[id] != "":
			u.Tenant = names[id]
		default:
			u.Tenant = id
		}
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tenant != out[j].Tenant {
			return out[i].Tenant < out[j].Tenant
		}
		return out[i].TenantID < out[j].TenantID
	})
	return out, rows.Err()
}
