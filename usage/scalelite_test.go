package usage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/fake"
)

// meterScalelite makes the rig's collector ask the fake Scalelite's
// getRecordings too. A multitenant Scalelite is asked at each tenant's
// host (school.127.0.0.1:PORT): the rig's HTTP client sends every name
// to 127.0.0.1, standing in for the tenants' DNS records.
func (r *rig) meterScalelite() {
	d := &net.Dialer{Timeout: 5 * time.Second}
	r.c.HTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err == nil && net.ParseIP(host) == nil {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return d.DialContext(ctx, network, addr)
		}}}
	r.c.Scalelites = []Scalelite{{URL: r.sl.URL, Secret: "lb-secret", Pool: r.pool}}
}

// minute is each tenant's usage in the sample minute of t alone.
func (r *rig) minute(t time.Time) map[string]TenantUsage {
	r.t.Helper()
	from := t.Truncate(time.Minute)
	return r.between(from, from.Add(time.Minute))
}

// storage is each tenant's recording bytes and unknown recordings in the
// minute of t.
type storage struct{ bytes, unknown int64 }

func (r *rig) storage(t time.Time) map[string]storage {
	r.t.Helper()
	out := map[string]storage{}
	for name, u := range r.minute(t) {
		if u.PeakRecordingBytes != 0 || u.UnknownRecordings != 0 {
			out[name] = storage{u.PeakRecordingBytes, u.UnknownRecordings}
		}
	}
	return out
}

func (r *rig) wantStorage(t time.Time, want map[string]storage) {
	r.t.Helper()
	if got := r.storage(t); !reflect.DeepEqual(got, want) {
		r.t.Errorf("%s: recording storage %v, want %v", t.Format("15:04"), got, want)
	}
}

func hasWarning(res *Result, s string) bool {
	for _, w := range res.Warnings {
		if strings.Contains(w, s) {
			return true
		}
	}
	return false
}

const gB = 1_000_000_000

func TestRecordingsMovedToScalelite(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		for _, repeat := range []int{0, 2} {
			r := newRigOn(t, b)
			r.repeat = repeat
			r.meterScalelite()
			testRecordingsMovedToScalelite(t, r)
		}
	})
}

func testRecordingsMovedToScalelite(t *testing.T, r *rig) {
	school := map[string]string{"tenant-id": r.school.ID, "bbb-context": "Jane Doe's thesis defence"}
	uni := map[string]string{"tenant-id": r.uni.ID}
	r.n1.AddRecording(fake.Recording{RecordID: "r1", MeetingID: "m1", Size: 1 * gB, Metadata: school})
	r.n2.AddRecording(fake.Recording{RecordID: "r2", MeetingID: "m2", Size: 300_000_000, Metadata: uni})
	// rx was imported before omc metered: no node ever listed it.
	r.sl.AddRecording(fake.Recording{RecordID: "rx", MeetingID: "mx", Metadata: school})

	// 09:00 r1 and r2 on the nodes; rx in Scalelite, of unknown size.
	res := r.collectAt(at(9, 0, 10))
	if len(res.Scalelites) != 1 || res.Scalelites[0].Status != "sampled" || res.Scalelites[0].Recordings != 1 ||
		res.Scalelites[0].UnknownRecordings != 1 || !hasWarning(res, "1 recordings of unknown size") {
		t.Fatalf("09:00: %+v %q", res.Scalelites, res.Warnings)
	}
	r.wantStorage(at(9, 0, 0), map[string]storage{"school": {1 * gB, 1}, "uni": {300_000_000, 0}})

	// 09:01 the import of r1 runs: it is on bbb-1 and in Scalelite. Once.
	r.sl.AddRecording(fake.Recording{RecordID: "r1", MeetingID: "m1", Metadata: school})
	r.collectAt(at(9, 1, 10))
	r.wantStorage(at(9, 1, 0), map[string]storage{"school": {1 * gB, 1}, "uni": {300_000_000, 0}})

	// 09:02 r1 is off bbb-1, r2 imported off bbb-2: Scalelite lists them
	// without a size; they count at the size the nodes listed.
	r.n1.DeleteRecording("r1")
	if !r.sl.Import(r.n2, "r2") {
		t.Fatal("r2 was not on bbb-2")
	}
	res = r.collectAt(at(9, 2, 10))
	if sr := res.Scalelites[0]; sr.Recordings != 3 || sr.RecordingBytes != 1_300_000_000 || sr.UnknownRecordings != 1 {
		t.Errorf("09:02: %+v", sr)
	}
	r.wantStorage(at(9, 2, 0), map[string]storage{"school": {1 * gB, 1}, "uni": {300_000_000, 0}})

	// 09:03 a new recording on bbb-1.
	r.n1.AddRecording(fake.Recording{RecordID: "r3", MeetingID: "m3", Size: 500_000_000, Metadata: school})
	r.collectAt(at(9, 3, 10))
	r.wantStorage(at(9, 3, 0), map[string]storage{"school": {1_500_000_000, 1}, "uni": {300_000_000, 0}})

	// 09:04 Scalelite is down: its recordings are unknown this minute (not
	// guessed), the nodes' still count; a warning says so.
	r.sl.SetDown(true)
	res = r.collectAt(at(9, 4, 10))
	if res.Failed() != 0 || len(res.Scalelites) != 1 || res.Scalelites[0].Status != "failed" ||
		!hasWarning(res, "recordings not measured (stored as unknown") {
		t.Errorf("09:04: %+v %q", res.Scalelites, res.Warnings)
	}
	r.wantStorage(at(9, 4, 0), map[string]storage{"school": {500_000_000, 0}})
	r.sl.SetDown(false)

	// 09:05 r1 is deleted from Scalelite: it no longer counts.
	r.sl.DeleteRecording("r1")
	r.collectAt(at(9, 5, 10))
	r.wantStorage(at(9, 5, 0), map[string]storage{"school": {500_000_000, 1}, "uni": {300_000_000, 0}})

	// 09:06 r3's import runs while bbb-1 is down: Scalelite's part counts
	// it. Later in the minute bbb-1 answers and Scalelite does not: what
	// Scalelite's part counted is unknown now, so bbb-1's recordings are
	// stored unknown rather than counting r3 twice.
	r.sl.AddRecording(fake.Recording{RecordID: "r3", MeetingID: "m3", Metadata: school})
	r.n1.SetDown(true)
	r.collectAt(at(9, 6, 10))
	r.n1.SetDown(false)
	r.sl.SetDown(true)
	res = r.collectAt(at(9, 6, 40))
	if res.Nodes[0].Status != "sampled" || res.Scalelites[0].Status != "already" || !hasWarning(res, "bbb-1: recordings not measured: Scalelite") {
		t.Errorf("09:06:40: %+v %+v %q", res.Nodes, res.Scalelites, res.Warnings)
	}
	r.sl.SetDown(false)
	r.wantStorage(at(9, 6, 0), map[string]storage{"school": {500_000_000, 1}, "uni": {300_000_000, 0}})

	// 09:07 the same, but Scalelite answers both times: bbb-1's part
	// leaves r3, which Scalelite lists, to Scalelite's part of 09:07:10.
	r.n1.SetDown(true)
	r.collectAt(at(9, 7, 10))
	r.n1.SetDown(false)
	res = r.collectAt(at(9, 7, 40))
	if res.Nodes[0].Status != "sampled" || res.Scalelites[0].Status != "already" || len(res.Warnings) != 0 {
		t.Errorf("09:07:40: %+v %+v %q", res.Nodes, res.Scalelites, res.Warnings)
	}
	r.wantStorage(at(9, 7, 0), map[string]storage{"school": {500_000_000, 1}, "uni": {300_000_000, 0}})

	// The month: the peaks of those minutes.
	got := r.usage("2026-11")
	if s, u := got["school"], got["uni"]; s.PeakRecordingBytes != 1_500_000_000 || s.UnknownRecordings != 1 ||
		u.PeakRecordingBytes != 300_000_000 || u.UnknownRecordings != 0 {
		t.Errorf("month: %+v", got)
	}
	// The report says so.
	rep, err := BuildReport(context.Background(), r.store, "2026-11", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	var text, csv strings.Builder
	rep.WriteText(&text)
	rep.WriteCSV(&csv)
	if !strings.Contains(text.String(), "school: up to 1 recordings of unknown size") || !strings.Contains(text.String(), "1.5 + unknown") ||
		!strings.Contains(csv.String(), ",unknown_recordings\n") || !strings.Contains(csv.String(), "1500000000,,,,,1\n") {
		t.Errorf("report:\n%s\n%s", text.String(), csv.String())
	}
}

// TestScaleliteWithoutMultitenancy: one getRecordings signed with the
// load-balancer secret; recordings go to the tenant their metadata names.
func TestScaleliteWithoutMultitenancy(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		r := newRigOn(t, b)
		r.meterScalelite()
		r.sl.SetMultitenancy(false)
		r.n1.AddRecording(fake.Recording{RecordID: "r1", MeetingID: "m1", Size: 2 * gB, Metadata: map[string]string{"tenant-id": r.school.ID}})
		r.n1.AddRecording(fake.Recording{RecordID: "r2", MeetingID: "m2", Size: 1 * gB})
		r.collectAt(at(9, 0, 0))
		r.sl.Import(r.n1, "r1")
		r.sl.Import(r.n1, "r2")
		r.sl.AddRecording(fake.Recording{RecordID: "r9", MeetingID: "m9"})
		res := r.collectAt(at(9, 1, 0))
		if sr := res.Scalelites[0]; sr.Status != "sampled" || sr.Recordings != 3 || sr.UnknownRecordings != 1 {
			t.Errorf("%+v %q", res.Scalelites, res.Warnings)
		}
		// Without multitenancy there are no tenant names: IDs only.
		r.wantStorage(at(9, 1, 0), map[string]storage{r.school.ID: {2 * gB, 0}, Unattributed: {1 * gB, 1}})
		if r.sl.Calls("bbb:getRecordings") != 2 {
			t.Errorf("getRecordings asked %d times, want once a collect", r.sl.Calls("bbb:getRecordings"))
		}
	})
}

// TestScaleliteTenantSecretChecked: a tenant's call is signed with its own
// secret on its own host; with the wrong secret Scalelite refuses it and
// the minute is unknown, with a warning.
func TestScaleliteTenantSecretChecked(t *testing.T) {
	r := newRig(t)
	r.meterScalelite()
	r.n1.AddRecording(fake.Recording{RecordID: "r1", MeetingID: "m1", Size: 1 * gB, Metadata: map[string]string{"tenant-id": r.uni.ID}})
	r.collectAt(at(9, 0, 0))
	r.sl.Import(r.n1, "r1")
	if _, err := r.pool.UpdateTenant(context.Background(), r.uni.ID, "", []string{"uni-new-secret"}); err != nil {
		t.Fatal(err)
	}
	// The collector reads the tenants (and their secrets) each collect.
	res := r.collectAt(at(9, 1, 0))
	if res.Scalelites[0].Status != "sampled" {
		t.Fatalf("%+v %q", res.Scalelites, res.Warnings)
	}
	r.wantStorage(at(9, 1, 0), map[string]storage{"uni": {1 * gB, 0}})
	// A pool that hands out a stale secret: refused as Scalelite does.
	r.c.Scalelites[0].Pool = staleSecrets{r.pool}
	res = r.collectAt(at(9, 2, 0))
	if sr := res.Scalelites[0]; sr.Status != "failed" || !strings.Contains(sr.Error, "checksumError") {
		t.Errorf("%+v", sr)
	}
	r.wantStorage(at(9, 2, 0), map[string]storage{})
}

type staleSecrets struct{ pool.Pool }

func (s staleSecrets) Tenants(ctx context.Context) ([]pool.Tenant, error) {
	ts, err := s.Pool.Tenants(ctx)
	for i := range ts {
		ts[i].Secrets = []string{"stale"}
	}
	return ts, err
}

// TestFailureMidCollectWithScalelite fails each write of a collect with
// Scalelite's part in turn (remembered sizes, the nodes' rows, the
// Scalelite's sample and rows): the store looks as before every time,
// and the collect that goes through counts each recording once.
func TestFailureMidCollectWithScalelite(t *testing.T) {
	eachStore(t, func(t *testing.T, b backend) {
		r := newRigOn(t, b)
		r.meterScalelite()
		school := map[string]string{"tenant-id": r.school.ID}
		uni := map[string]string{"tenant-id": r.uni.ID}
		r.n1.AddRecording(fake.Recording{RecordID: "r1", MeetingID: "m1", Size: 1 * gB, Metadata: school})
		r.n2.AddRecording(fake.Recording{RecordID: "r2", MeetingID: "m2", Size: 300_000_000, Metadata: uni})
		r.sl.AddRecording(fake.Recording{RecordID: "rx", MeetingID: "mx", Metadata: school})
		r.collectAt(at(9, 0, 0))
		r.sl.Import(r.n1, "r1")
		r.n2.AddRecording(fake.Recording{RecordID: "r4", MeetingID: "m4", Size: 200_000_000, Metadata: uni})
		before := fmt.Sprint(r.usage("2026-11"))
		fs := &failStore{Store: r.store}
		r.c.Store = fs
		r.clk.Set(at(9, 1, 0))
		k := 1
		for ; ; k++ {
			fs.failAt, fs.writes = k, 0
			_, err := r.c.Collect(context.Background())
			if err == nil {
				break
			}
			if !errors.Is(err, errInjected) {
				t.Fatalf("write %d: %v", k, err)
			}
			if got := fmt.Sprint(r.usage("2026-11")); got != before {
				t.Fatalf("after a failure at write %d:\n got %s\nwant %s", k, got, before)
			}
		}
		// r4's size, bbb-2's sample and row, the Scalelite's sample and
		// its two tenants' rows at least.
		if k < 6 {
			t.Errorf("only %d writes failed in turn", k-1)
		}
		r.wantStorage(at(9, 1, 0), map[string]storage{"school": {1 * gB, 1}, "uni": {500_000_000, 0}})
	})
}

// A Scalelite (or what stands at its URL) answering SUCCESS without a
// recordings list has not said "no recordings": the minute's Scalelite
// part is stored as unknown, never as zero.
func TestScaleliteAnsweringNoListIsUnknownNotZero(t *testing.T) {
	r := newRig(t)
	r.meterScalelite()
	r.n1.AddRecording(fake.Recording{RecordID: "r1", MeetingID: "m1", Size: 1 * gB, Metadata: map[string]string{"tenant-id": r.school.ID}})
	odd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`<response><returncode>SUCCESS</returncode><version>2.0</version></response>`))
	}))
	t.Cleanup(odd.Close)
	r.c.Scalelites[0].URL = odd.URL
	res := r.collectAt(at(9, 0, 10))
	if len(res.Scalelites) != 1 || res.Scalelites[0].Status != "failed" || res.Scalelites[0].Recordings != 0 ||
		!hasWarning(res, "recordings not measured (stored as unknown") {
		t.Fatalf("%+v %q", res.Scalelites, res.Warnings)
	}
	// The node's own recording still counts.
	if got := r.storage(at(9, 0, 0)); got["school"].bytes != 1*gB {
		t.Errorf("storage %v", got)
	}
}
