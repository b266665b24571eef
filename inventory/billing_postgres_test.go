package inventory

import (
	"path/filepath"
	"strings"
	"testing"
)

// pgInv is an inventory whose billing.database is db (written as a YAML
// double-quoted string), with password_secret pass when not "".
func pgInv(db, pass string) string {
	src := "apiVersion: omc/v1\nname: coop\ngroups: {}\nsecrets:\n  pgpass: env:OMC_TEST_PG_PASSWORD\nbilling:\n  database: \"" + db + "\"\n"
	if pass != "" {
		src += "  password_secret: " + pass + "\n"
	}
	return src
}

func TestBillingDatabaseAcceptsSQLiteAndPostgres(t *testing.T) {
	const password = "pg-Secret-7f3a"
	t.Setenv("OMC_TEST_PG_PASSWORD", password)
	for _, c := range []struct {
		db, pass, want string
		postgres       bool
	}{
		{"state/usage.db", "", filepath.Join(".", "state", "usage.db"), false},
		{"/var/lib/omc/usage.db", "", "/var/lib/omc/usage.db", false},
		{"postgres://omc@db.example.org/usage", "pgpass", "postgres://omc@db.example.org/usage", true},
		{"postgresql://omc@db.example.org:5433/usage", "pgpass", "postgresql://omc@db.example.org:5433/usage", true},
		{"postgres://omc@10.0.0.5:5432/usage?sslmode=verify-full", "pgpass", "postgres://omc@10.0.0.5:5432/usage?sslmode=verify-full", true},
		{"postgres://omc@[2001:db8::1]/usage?sslmode=require", "", "postgres://omc@[2001:db8::1]/usage?sslmode=require", true},
		{"postgres://omc@/usage?host=/run/postgresql", "", "postgres://omc@/usage?host=/run/postgresql", true},
	} {
		inv := mustLoad(t, pgInv(c.db, c.pass))
		if got := inv.BillingDatabase(); got != c.want {
			t.Errorf("%s: database %q, want %q", c.db, got, c.want)
		}
		if IsPostgresURL(inv.BillingDatabase()) != c.postgres {
			t.Errorf("%s: postgres %v", c.db, !c.postgres)
		}
		pw, err := inv.BillingPassword()
		if err != nil {
			t.Errorf("%s: password: %v", c.db, err)
		}
		if want := map[bool]string{true: password, false: ""}[c.pass != ""]; pw != want {
			t.Errorf("%s: password %q", c.db, pw)
		}
		if vals := inv.SecretValues(); c.pass != "" && !strings.Contains(strings.Join(vals, "\n"), password) {
			t.Errorf("%s: the password is not among the values output is redacted of", c.db)
		}
	}
}

func TestBillingPasswordSecretUnset(t *testing.T) {
	// Declared but unreadable: Load succeeds (as for any secret), the
	// password's error names the variable.
	inv := mustLoad(t, pgInv("postgres://omc@db/usage", "pgpass"))
	_, err := inv.BillingPassword()
	if err == nil || !strings.Contains(err.Error(), "OMC_TEST_PG_PASSWORD") {
		t.Errorf("unset password: %v", err)
	}
}

func TestBillingDatabaseRejectsBadForms(t *testing.T) {
	const password = "hunter2-Xq9"
	for _, c := range []struct {
		db, pass, want string
	}{
		{"usage.db?mode=ro", "", `t.yaml:7:13: billing.database: must be a file path (without '?' or '#')`},
		{"usage.db#x", "", `t.yaml:7:13: billing.database: must be a file path`},
		{"postgres://omc:" + password + "@db/usage", "", `t.yaml:7:13: billing.database: the URL must not contain the password: declare it under secrets and name it in billing.password_secret`},
		{"postgresql://omc:" + password + "@db:5432/usage?sslmode=require", "pgpass", `t.yaml:7:13: billing.database: the URL must not contain the password`},
		{"postgres://omc@db/usage?password=" + password, "", `t.yaml:7:13: billing.database: the URL must not contain the password`},
		{"postgres://omc:" + password + "@[bad/usage", "", `t.yaml:7:13: billing.database: not a valid postgres://user@host[:port]/db URL`},
		{"postgres://omc@db/usage?sslmode=sometimes", "", `t.yaml:7:13: billing.database: sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full`},
		{"postgres://omc@db/usage?connect_timeout=5", "", `t.yaml:7:13: billing.database: query parameter "connect_timeout" is not supported; only sslmode and host`},
		{"postgres://omc@db/usage?host=run/pg", "", `t.yaml:7:13: billing.database: host= in the query is a unix socket directory`},
		{"postgres://omc@db/usage#frag", "", `t.yaml:7:13: billing.database: a postgres://user@host[:port]/db URL has no '#' part`},
		{"postgres://db/usage", "", `t.yaml:7:13: billing.database: name the database user`},
		{"postgres://omc@db/", "", `t.yaml:7:13: billing.database: name one database after the host`},
		{"postgres://omc@db:0/usage", "", `t.yaml:7:13: billing.database: port "0" is not a TCP port`},
		{"postgres://omc@/usage", "", `t.yaml:7:13: billing.database: name the host`},
		{"usage.db", "pgpass", `t.yaml:8:20: billing.password_secret: only a postgres:// database takes a password`},
		{"postgres://omc@db/usage", "nosuch", `t.yaml:8:20: billing.password_secret: secret "nosuch" is not declared under secrets`},
	} {
		_, err := loadString(t, pgInv(c.db, c.pass))
		if err == nil {
			t.Errorf("%s: accepted", c.db)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, c.want) {
			t.Errorf("%s:\n got %s\nwant %s", c.db, msg, c.want)
		} else if strings.Contains(msg, password) {
			t.Errorf("%s: the error shows the password: %s", c.db, msg)
		}
	}
}
