package usage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// The PostgreSQL store runs the same behavioural tests as SQLite's
// (eachStore), against a throwaway cluster this package starts once:
// initdb and postgres from the system's PostgreSQL, as an unprivileged
// user, in a temporary directory, listening on a unix socket there and
// on no TCP port. TestMain stops it. Without the binaries the PostgreSQL
// subtests skip, except in CI (CI set), where they fail.

var postgresBackend = backend{"postgres", func(t *testing.T) (Store, string) {
	t.Helper()
	dsn := pgNewDatabase(t, "")
	st, err := OpenPostgres(context.Background(), dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	return st, ""
}}

// pgCluster is the package's test cluster.
var pgCluster struct {
	once    sync.Once
	bin     string // directory of initdb, pg_ctl, postgres
	dir     string // the temporary directory: data/, the socket, the log
	runAs   string // OS user running the server ("" for this process's)
	missing bool   // no PostgreSQL binaries here
	err     error  // why it did not start
	dbs     atomic.Int64
}

// pgSuperuser is the cluster's superuser role (trusted on the socket).
const pgSuperuser = "omc"

// pgPasswordRole must give a password: pg_hba asks it for scram-sha-256.
const pgPasswordRole = "omc_password"

func TestMain(m *testing.M) {
	code := m.Run()
	pgStop()
	os.Exit(code)
}

func pgBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { // newest version first
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if pgHasBinaries(d) {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && pgHasBinaries(filepath.Dir(p)) {
		return filepath.Dir(p)
	}
	return ""
}

func pgHasBinaries(dir string) bool {
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

// pgCommand runs a PostgreSQL binary as the cluster's user, for at most
// timeout.
func pgCommand(timeout time.Duration, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	path := filepath.Join(pgCluster.bin, name)
	var cmd *exec.Cmd
	if pgCluster.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", pgCluster.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = pgCluster.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func pgStart() {
	c := &pgCluster
	if c.bin = pgBinDir(); c.bin == "" {
		c.missing = true
		return
	}
	dir, err := os.MkdirTemp("", "omc-pg-") // short: a socket path has at most 107 bytes
	if err != nil {
		c.err = err
		return
	}
	c.dir = dir
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		for _, name := range []string{"postgres", "nobody"} {
			if u, err := user.Lookup(name); err == nil {
				c.runAs = name
				uid, _ = strconv.Atoi(u.Uid)
				gid, _ = strconv.Atoi(u.Gid)
				break
			}
		}
		if c.runAs == "" {
			c.err = fmt.Errorf("running as root and there is no postgres or nobody user to run PostgreSQL as")
			return
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			c.err = fmt.Errorf("running as root and runuser is missing: %v", err)
			return
		}
	}
	hba := filepath.Join(dir, "pg_hba.conf")
	if err := os.WriteFile(hba, []byte("local all "+pgPasswordRole+" scram-sha-256\nlocal all all trust\n"), 0o644); err != nil {
		c.err = err
		return
	}
	if uid >= 0 {
		for _, p := range []string{dir, hba} {
			if err := os.Chown(p, uid, gid); err != nil {
				c.err = err
				return
			}
		}
	}
	data := filepath.Join(dir, "data")
	if err := pgCommand(60*time.Second, "initdb", "-D", data, "-U", pgSuperuser, "-A", "trust", "-E", "UTF8", "--no-sync"); err != nil {
		c.err = err
		return
	}
	opts := fmt.Sprintf("-c listen_addresses='' -c unix_socket_directories='%s' -c hba_file='%s' -c fsync=off -c max_connections=40 -c shared_buffers=16MB -c password_encryption=scram-sha-256",
		dir, hba)
	if err := pgCommand(60*time.Second, "pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-t", "45", "-o", opts, "start"); err != nil {
		if log, _ := os.ReadFile(filepath.Join(dir, "log")); len(log) > 0 {
			err = fmt.Errorf("%v\nserver log:\n%s", err, log)
		}
		c.err = err
	}
}

// pgStop stops the cluster (if it was started) and removes its directory.
func pgStop() {
	c := &pgCluster
	if c.dir == "" {
		return
	}
	data := filepath.Join(c.dir, "data")
	if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err == nil {
		if err := pgCommand(30*time.Second, "pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "20", "stop"); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the test PostgreSQL:", err)
			// Still running: kill the postmaster (its children follow).
			if b, err := os.ReadFile(filepath.Join(data, "postmaster.pid")); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])); err == nil && pid > 1 {
					syscall.Kill(pid, syscall.SIGKILL)
					time.Sleep(time.Second)
				}
			}
		}
	}
	os.RemoveAll(c.dir)
}

// needPostgres starts the cluster on first use; it skips the test when
// there is no PostgreSQL, unless in CI.
func needPostgres(t *testing.T) {
	t.Helper()
	pgCluster.once.Do(pgStart)
	if pgCluster.missing {
		msg := "PostgreSQL binaries (initdb, pg_ctl, postgres) not found in /usr/lib/postgresql/*/bin or $PATH; install the postgresql package to test the PostgreSQL store"
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatal(msg + " (CI is set: .ci/packages.txt installs it)")
		}
		t.Skip(msg)
	}
	if pgCluster.err != nil {
		t.Fatalf("the test PostgreSQL did not start: %v", pgCluster.err)
	}
}

// pgURL is a postgres:// URL for role and database on the test socket.
func pgURL(role, db string) string {
	return "postgres://" + role + "@/" + db + "?host=" + url.QueryEscape(pgCluster.dir)
}

// pgAdmin runs statements as the superuser.
func pgAdmin(t *testing.T, stmts ...string) {
	t.Helper()
	db, err := sql.Open("pgx", pgURL(pgSuperuser, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// pgNewDatabase makes an empty database owned by owner (the superuser if
// "") and returns its URL.
func pgNewDatabase(t *testing.T, owner string) string {
	t.Helper()
	needPostgres(t)
	name := fmt.Sprintf("usage_%d", pgCluster.dbs.Add(1))
	role := pgSuperuser
	q := "CREATE DATABASE " + name
	if owner != "" {
		q += " OWNER " + owner
		role = owner
	}
	pgAdmin(t, q)
	return pgURL(role, name)
}

func TestPostgresPasswordIsUsedAndNeverShown(t *testing.T) {
	needPostgres(t)
	// No password from the environment or a ~/.pgpass: only the one given.
	t.Setenv("PGPASSWORD", "")
	os.Unsetenv("PGPASSWORD")
	t.Setenv("PGPASSFILE", filepath.Join(t.TempDir(), "no-pgpass"))
	b := make([]byte, 16)
	rand.Read(b)
	password := "pw-" + hex.EncodeToString(b)
	pgAdmin(t, "CREATE ROLE "+pgPasswordRole+" LOGIN PASSWORD '"+password+"'")
	dsn := pgNewDatabase(t, pgPasswordRole)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	st, err := OpenPostgres(ctx, dsn, password)
	if err != nil {
		t.Fatalf("with the password: %v", err)
	}
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.PutSample(ctx, "bbb-1", at(9, 0, 0), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := tx.PutUsage(ctx, Row{Node: "bbb-1", Minute: at(9, 0, 0), TenantID: "t", Meetings: 1, Users: 3, ParticipantMinutes: 3,
		RecordingBytes: 5_000_000_000, RecordingsKnown: true}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	from, to, _ := Month("2026-11", time.UTC)
	us, err := st.Usage(ctx, from, to)
	if err != nil || len(us) != 1 || us[0].PeakRecordingBytes != 5_000_000_000 || us[0].ParticipantMinutes != 3 {
		t.Errorf("usage %+v, %v", us, err)
	}
	st.Close()

	wrong := "wrong-" + password
	for _, c := range []struct {
		name, dsn, password string
	}{
		{"no password", dsn, ""},
		{"wrong password", dsn, wrong},
		{"password in the URL", strings.Replace(dsn, pgPasswordRole+"@", pgPasswordRole+":"+password+"@", 1), ""},
		{"password in the query", dsn + "&password=" + password, ""},
		{"password in the URL and given", strings.Replace(dsn, pgPasswordRole+"@", pgPasswordRole+":"+password+"@", 1), password},
		{"unparsable URL", "postgres://" + pgPasswordRole + ":" + password + "@[bad/x", password},
		{"no such database", strings.Replace(dsn, "/usage_", "/nodb_", 1), password},
	} {
		st, err := OpenPostgres(ctx, c.dsn, c.password)
		if err == nil {
			st.Close()
			t.Errorf("%s: opened", c.name)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, password) || strings.Contains(msg, hex.EncodeToString(b)) {
			t.Errorf("%s: the error shows the password: %s", c.name, msg)
		} else {
			t.Logf("%s: %s", c.name, msg)
		}
	}
}

// TestPostgresSchemaHoldsCountsOnly checks the PostgreSQL tables: the same
// columns as SQLite's, 64-bit integers.
func TestPostgresSchemaHoldsCountsOnly(t *testing.T) {
	r := newRigOn(t, postgresBackend)
	r.meeting(r.n1, "Jane Doe's room", 3, at(8, 50, 0), &r.school)
	r.collectAt(at(9, 0, 0))
	st := r.store.(*Postgres)
	rows, err := st.db.QueryContext(context.Background(), `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string][]string{}
	for rows.Next() {
		var tbl, col, typ string
		if err := rows.Scan(&tbl, &col, &typ); err != nil {
			t.Fatal(err)
		}
		got[tbl] = append(got[tbl], col+" "+typ)
	}
	want := map[string][]string{
		"meta":                 {"key text", "value text"},
		"tenants":              {"id text", "name text"},
		"samples":              {"node text", "minute bigint", "credit_seconds bigint"},
		"tenant_usage":         {"node text", "minute bigint", "tenant_id text", "meetings bigint", "users bigint", "participant_minutes bigint", "recording_bytes bigint", "unknown_recordings bigint"},
		"meetings":             {"meeting_key text", "tenant_id text", "first_minute bigint", "last_minute bigint"},
		"recordings":           {"recording_key text", "tenant_id text", "bytes bigint"},
		"scalelite_recordings": {"scalelite text", "minute bigint", "tenant_id text", "recording_bytes bigint", "unknown_recordings bigint"},
		"scalelite_samples":    {"scalelite text", "minute bigint", "recordings_known bigint"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("columns\n got %v\nwant %v", got, want)
	}
}

func TestPgBind(t *testing.T) {
	if got := pgBind(`INSERT INTO t (a, b) VALUES (?, ?) WHERE c = ?`); got != `INSERT INTO t (a, b) VALUES ($1, $2) WHERE c = $3` {
		t.Error(got)
	}
}
