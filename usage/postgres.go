package usage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	// pgx is the maintained pure-Go PostgreSQL driver; its stdlib package
	// makes it a database/sql driver, so the store shares its SQL with
	// SQLite's, and omc stays one static binary without cgo.
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Postgres is the store in a PostgreSQL database, for a fleet whose
// collects run on more than one machine or that wants the samples in its
// own database. The schema is SQLite's with BIGINT columns. Each collect
// and the migration take one transaction-scoped advisory lock
// (pg_advisory_xact_lock), standing in for SQLite's single writer: a
// second collect in the same minute waits, then sees the first one's
// samples and writes nothing twice.
type Postgres struct {
	db *sql.DB
}

var _ Store = (*Postgres)(nil)

// pgLockKey is the advisory lock every writer of the store takes
// ("omc usage" as 8 bytes, so as not to collide with another program's).
const pgLockKey int64 = 0x6f6d632075736167

var pgLock = "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(pgLockKey, 10) + ")"

// pgSchema is the schema with 64-bit integers (PostgreSQL's INTEGER has
// 32 bits; SQLite's has 64 whatever it is called).
var pgSchema = func() []string {
	out := make([]string, len(schema))
	for i, q := range schema {
		out[i] = strings.ReplaceAll(q, " INTEGER", " BIGINT")
	}
	return out
}()

// OpenPostgres opens (making the tables in) the store in the database
// named by dsn, a postgres:// URL (or key=value connection string)
// without a password; password, if not "", is sent to the server. No
// error names the password.
func OpenPostgres(ctx context.Context, dsn, password string) (*Postgres, error) {
	s, err := openPostgres(ctx, dsn, password)
	if err != nil && password != "" && strings.Contains(err.Error(), password) {
		err = errors.New(strings.ReplaceAll(err.Error(), password, "[redacted]"))
	}
	return s, err
}

func openPostgres(ctx context.Context, dsn, password string) (*Postgres, error) {
	if dsn == "" {
		return nil, errors.New("usage store: no database URL (set billing.database in the inventory)")
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// url's message quotes the text, which could hold a password.
			return nil, errors.New("usage store: the database is not a valid postgres:// URL")
		}
		if _, ok := u.User.Password(); ok || u.Query().Has("password") {
			return nil, errors.New("usage store: the database URL must not contain a password (give it separately)")
		}
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("usage store: %w", err)
	}
	if password != "" {
		cfg.Password = password
	}
	where := fmt.Sprintf("postgres %s@%s/%s", cfg.User, cfg.Host, cfg.Database)
	db := stdlib.OpenDB(*cfg)
	s := &Postgres{db: db}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("usage store: %w", err)
	}
	if err := migrateSQL(ctx, db, pgBind, pgSchema, pgLock); err != nil {
		db.Close()
		return nil, fmt.Errorf("usage store %s: %w", where, err)
	}
	return s, nil
}

// pgBind numbers the ? placeholders of the shared SQL as $1, $2, ...
// (none of the statements has a ? in a string literal).
func pgBind(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Close closes the connections.
func (s *Postgres) Close() error { return s.db.Close() }

// Salt returns the store's meeting-key salt.
func (s *Postgres) Salt(ctx context.Context) ([]byte, error) { return readSalt(ctx, s.db) }

// Begin starts a transaction holding the store's advisory lock until it
// commits or rolls back (or its connection dies with its process). In
// READ COMMITTED each statement after the lock sees what the previous
// holder committed.
func (s *Postgres) Begin(ctx context.Context) (Tx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("usage store: %w", err)
	}
	if _, err := tx.ExecContext(ctx, pgLock); err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("usage store: taking the lock: %w", err)
	}
	return &sqlTx{tx: tx, bind: pgBind}, nil
}

// Usage sums samples in [from, to) as SQLite's Usage does.
func (s *Postgres) Usage(ctx context.Context, from, to time.Time) ([]TenantUsage, error) {
	return sumUsage(ctx, s.db, pgBind, from, to)
}
