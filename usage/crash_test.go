package usage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// failStore fails the n-th write of a transaction, after the writes
// before it went through.
type failStore struct {
	Store
	failAt int
	writes int
	// hang, instead of failing, signals and blocks (for the kill test).
	hang func()
}

var errInjected = errors.New("injected failure")

func (s *failStore) Begin(ctx context.Context) (Tx, error) {
	tx, err := s.Store.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &failTx{Tx: tx, s: s}, nil
}

type failTx struct {
	Tx
	s *failStore
}

func (t *failTx) write() error {
	t.s.writes++
	if t.s.failAt > 0 && t.s.writes == t.s.failAt {
		if t.s.hang != nil {
			t.s.hang()
		}
		return errInjected
	}
	return nil
}

func (t *failTx) PutTenant(ctx context.Context, id, name string) error {
	if err := t.Tx.PutTenant(ctx, id, name); err != nil {
		return err
	}
	return t.write()
}

func (t *failTx) PutSample(ctx context.Context, node string, m time.Time, c time.Duration) error {
	if err := t.Tx.PutSample(ctx, node, m, c); err != nil {
		return err
	}
	return t.write()
}

func (t *failTx) PutUsage(ctx context.Context, u Row) error {
	if err := t.Tx.PutUsage(ctx, u); err != nil {
		return err
	}
	return t.write()
}

func (t *failTx) PutMeeting(ctx context.Context, key, tenant string, m time.Time) error {
	if err := t.Tx.PutMeeting(ctx, key, tenant, m); err != nil {
		return err
	}
	return t.write()
}

func (t *failTx) PutRecordingSize(ctx context.Context, key string, r RecordingSize) error {
	if err := t.Tx.PutRecordingSize(ctx, key, r); err != nil {
		return err
	}
	return t.write()
}

func (t *failTx) PutScaleliteSample(ctx context.Context, sl string, m time.Time, known bool) error {
	if err := t.Tx.PutScaleliteSample(ctx, sl, m, known); err != nil {
		return err
	}
	return t.write()
}

func (t *failTx) PutScaleliteRecordings(ctx context.Context, r ScaleliteRow) error {
	if err := t.Tx.PutScaleliteRecordings(ctx, r); err != nil {
		return err
	}
	return t.write()
}

func TestFailureMidCollectLeavesNothingHalfCounted(t *testing.T) {
	eachStore(t, testFailureMidCollectLeavesNothingHalfCounted)
}

func testFailureMidCollectLeavesNothingHalfCounted(t *testing.T, b backend) {
	r := newRigOn(t, b)
	// Fail each of the first writes of the 09:03 sample in turn (tenant
	// names, bbb-1's sample, its meetings and rows, bbb-2's...): the
	// store must look as before every time, and a later run of the same
	// minute must count it exactly once.
	r.meeting(r.n1, "a", 10, at(8, 58, 0), &r.school)
	r.meeting(r.n2, "c", 5, at(9, 0, 0), &r.school)
	r.collectAt(at(9, 2, 0))
	before := r.usage("2026-11")
	fs := &failStore{Store: r.store}
	r.c.Store = fs
	r.clk.Set(at(9, 3, 0))
	for k := 1; k <= 8; k++ {
		fs.failAt, fs.writes = k, 0
		if _, err := r.c.Collect(context.Background()); !errors.Is(err, errInjected) {
			t.Fatalf("write %d: err %v", k, err)
		}
		if got := r.usage("2026-11"); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Fatalf("after a failure at write %d:\n got %+v\nwant %+v", k, got, before)
		}
	}
	fs.failAt = 0
	res, err := r.c.Collect(context.Background())
	if err != nil || res.Nodes[0].Status != "sampled" || res.Nodes[1].Status != "sampled" {
		t.Fatalf("retry: %+v, %v", res, err)
	}
	// 09:02 (first sample): A 10×min(5, 4) = 40, C 5×min(5, 2) = 10;
	// 09:03: A +10, C +5.
	got := r.usage("2026-11")["school"]
	if got.ParticipantMinutes != 65 || got.Meetings != 2 || got.PeakUsers != 15 {
		t.Errorf("after the retry: %+v", got)
	}
}

// TestKilledMidCollectLeavesNothingHalfCounted kills a collecting process
// (SIGKILL, no chance to roll back) after some of its writes, then checks
// the database it left.
func TestKilledMidCollectLeavesNothingHalfCounted(t *testing.T) {
	if spec := os.Getenv("OMC_USAGE_CRASH_CHILD"); spec != "" {
		crashChild(t, spec)
		return
	}
	eachStore(t, testKilledMidCollectLeavesNothingHalfCounted)
}

// openSpec opens the store a crash child and its parent share:
// sqlite:PATH or postgres:URL.
func openSpec(t *testing.T, spec string) Store {
	t.Helper()
	var st Store
	var err error
	switch kind, arg, _ := strings.Cut(spec, ":"); kind {
	case "sqlite":
		st, err = OpenSQLite(context.Background(), arg)
	case "postgres":
		st, err = OpenPostgres(context.Background(), arg, "")
	default:
		t.Fatalf("store %q", spec)
	}
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func testKilledMidCollectLeavesNothingHalfCounted(t *testing.T, b backend) {
	spec := "sqlite:" + t.TempDir() + "/usage.db"
	if b.name == "postgres" {
		spec = "postgres:" + pgNewDatabase(t, "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKilledMidCollectLeavesNothingHalfCounted$", "-test.v")
	cmd.Env = append(os.Environ(), "OMC_USAGE_CRASH_CHILD="+spec)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "CRASH-READY") {
			ready = true
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if !ready {
		t.Fatal("the child never reached the middle of its collect")
	}

	// The child committed the 09:00 sample (A 10×2; C not a minute old
	// yet, but seen: 15 people), then died writing 09:01.
	st := openSpec(t, spec)
	defer st.Close()
	from, to, _ := Month("2026-11", time.UTC)
	us, err := st.Usage(context.Background(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 1 || us[0].ParticipantMinutes != 20 || us[0].Samples != 1 || us[0].Meetings != 2 || us[0].PeakUsers != 15 {
		t.Fatalf("after the kill: %+v", us)
	}
	// (On PostgreSQL this also waits for the dead collect's lock.)
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, node := range []string{"bbb-1", "bbb-2"} {
		if done, err := tx.NodeSampled(context.Background(), node, at(9, 1, 0)); err != nil || done {
			t.Errorf("%s 09:01 sampled %v (%v) after the kill", node, done, err)
		}
	}
}

// crashChild runs in the child: one good sample, then a collect that
// stops for good after a few writes, holding its transaction open.
func crashChild(t *testing.T, spec string) {
	r := newRig(t)
	r.store.Close()
	st := openSpec(t, spec)
	r.store = st
	r.c.Store = st
	r.meeting(r.n1, "a", 10, at(8, 58, 0), &r.school)
	r.meeting(r.n2, "c", 5, at(9, 0, 30), &r.school)
	r.collectAt(at(9, 0, 20))
	fs := &failStore{Store: st, failAt: 4, hang: func() {
		fmt.Println("CRASH-READY")
		os.Stdout.Sync()
		time.Sleep(50 * time.Second) // killed long before
	}}
	r.c.Store = fs
	r.clk.Set(at(9, 1, 0))
	r.c.Collect(context.Background())
	t.Fatal("the child was not killed")
}
