package usage

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omc-coop/omc/pool/fake"
	"github.com/omc-coop/omc/usage/money"
)

// Stock BBB's getRecordings has no size: its recordings are of unknown
// size, never 0 bytes, in the store, the report and the invoice.
func TestStockBBBRecordingsOfUnknownSize(t *testing.T) {
	r := newRig(t)
	r.n1.ServeSizes(false) // as stock bbb-web
	r.n1.AddRecording(fake.Recording{RecordID: "r1", MeetingID: "m1", Size: 7 * gB, Metadata: map[string]string{"tenant-id": r.school.ID}})
	r.n2.AddRecording(fake.Recording{RecordID: "r2", MeetingID: "m2", Size: 2 * gB, Metadata: map[string]string{"tenant-id": r.uni.ID}})
	r.collectAt(at(9, 0, 10))
	r.wantStorage(at(9, 0, 0), map[string]storage{"school": {0, 1}, "uni": {2 * gB, 0}})

	ctx := context.Background()
	gbPrice := money.Micro(100_000) // 0.10 per GB
	pl := &PriceList{Currency: "EUR", Prices: Prices{RecordingGB: &gbPrice}}
	rep, err := BuildReport(ctx, r.store, "2026-11", pl, "")
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	rep.WriteText(&text)
	lines := strings.Split(text.String(), "\n")
	school := ""
	for _, l := range lines {
		if strings.HasPrefix(l, "school ") {
			school = l
		}
	}
	if !strings.Contains(school, "unknown") {
		t.Errorf("school's storage should read unknown:\n%s", text.String())
	}
	for _, tr := range rep.Tenants {
		if tr.Tenant != "school" {
			continue
		}
		l := tr.Charges.Lines[0]
		if l.Quantity != "unknown" || !strings.Contains(l.Item, "1 recordings of unknown size not billed") || l.Amount != 0 {
			t.Errorf("invoice line %+v", l)
		}
	}
}

// A store made before unknown sizes were kept is upgraded in place.
func TestStoreSchemaUpgradeFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	v1 := strings.Replace(strings.Join(schema, ";\n"), "\n\t\tunknown_recordings INTEGER NOT NULL DEFAULT 0,", "", 1)
	if strings.Contains(v1, "unknown_recordings INTEGER NOT NULL DEFAULT 0") {
		t.Fatal("could not make the version 1 schema")
	}
	for _, q := range []string{v1, `INSERT INTO meta (key, value) VALUES ('schema', '1'), ('salt', '00')`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	st, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var v string
	var n int
	st.db.QueryRow(`SELECT value FROM meta WHERE key = 'schema'`).Scan(&v)
	st.db.QueryRow(`SELECT COUNT(*) FROM pragma_table_info('tenant_usage') WHERE name = 'unknown_recordings'`).Scan(&n)
	if v != schemaVersion || n != 1 {
		t.Fatalf("schema %s, unknown_recordings columns %d", v, n)
	}
}
