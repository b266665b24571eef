package cmd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/scalelite"
)

// A stray disabled entry listed before a node's real, enabled one: status
// shows the entry the sync keeps (enabled), names the duplicate as a
// problem, and omc pool sync removes it without touching any host; a
// second pool sync writes nothing.
func TestStatusShowsTheKeptEntryAndPoolSyncRemovesTheDuplicate(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.threeUp()
	ctx := context.Background()
	real1 := r.state(t, "bbb-1")
	api := &scalelite.Client{URL: r.sl.URL, Secret: testLBSecret}
	if err := api.Delete(ctx, real1.ID); err != nil {
		t.Fatal(err)
	}
	stray := r.sl.AddServerDirect(real1.URL, real1.Secret, pool.Disabled)
	kept := r.sl.AddServerDirect(real1.URL, real1.Secret, pool.Enabled)
	r.sl.Poll(ctx)

	out, errs, code := run(t, "", "status", "-i", r.inv, "-o", "json")
	r.seen.WriteString(out + errs)
	if code != ExitUnhealthy {
		t.Fatalf("status with a duplicate: code %d\n%s\n%s", code, out, errs)
	}
	var st statusV1
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	n1 := st.Pools[0].Nodes[0]
	if n1.Node != "bbb-1" || n1.PoolState != pool.Enabled || !n1.Online || n1.Healthy ||
		len(n1.Problems) != 1 || !strings.Contains(n1.Problems[0], "registered 2 times") ||
		!strings.Contains(n1.Problems[0], stray+" (disabled)") || !strings.Contains(n1.Problems[0], "omc pool sync bbb-1") {
		t.Fatalf("bbb-1 with a stray duplicate: %+v", n1)
	}

	before := r.sl.Writes()
	out, errs, code = run(t, "", "pool", "sync", "eu", "--dry-run", "-i", r.inv)
	r.seen.WriteString(out + errs)
	if code != 0 || !strings.Contains(errs, "remove-duplicate duplicate entry "+stray) || r.sl.Writes() != before {
		t.Fatalf("dry run: code %d, %d writes\n%s", code, r.sl.Writes()-before, errs)
	}
	out, errs, code = run(t, "", "pool", "sync", "eu", "-i", r.inv)
	r.seen.WriteString(out + errs)
	if code != 0 || !strings.Contains(errs, "bbb-1: pool eu: remove-duplicate duplicate entry "+stray) {
		t.Fatalf("pool sync: code %d\n%s\n%s", code, out, errs)
	}
	l := pool.FindByURL(r.sl.Servers(), real1.URL)
	if len(l) != 1 || l[0].ID != kept || l[0].State != pool.Enabled {
		t.Fatalf("after pool sync: %+v", l)
	}
	before = r.sl.Writes()
	_, errs, code = run(t, "", "pool", "sync", "-i", r.inv)
	if code != 0 || r.sl.Writes() != before || !strings.Contains(errs, "every pool is as the inventory says") {
		t.Fatalf("second pool sync: code %d, %d writes\n%s", code, r.sl.Writes()-before, errs)
	}
	if out, errs, code = run(t, "", "status", "-i", r.inv); code != 0 {
		t.Fatalf("status after pool sync: code %d\n%s\n%s", code, out, errs)
	}
}

// When Scalelite cannot be read, each node's pool state is unknown, and
// no node counts as healthy.
func TestStatusWithScaleliteUnreadableShowsUnknownNotHealthy(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.threeUp()
	t.Setenv("OMC_T_LB", testLBSecret+"-wrong")
	out, errs, code := run(t, "", "status", "-i", r.inv, "-o", "json")
	r.seen.WriteString(out + errs)
	if code != ExitUnhealthy {
		t.Fatalf("code %d\n%s\n%s", code, out, errs)
	}
	var st statusV1
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.Healthy || st.Pools[0].Error == "" || len(st.Pools[0].Nodes) != 3 {
		t.Fatalf("%s", out)
	}
	for _, n := range st.Pools[0].Nodes {
		if n.PoolState != "unknown" || n.Healthy || !strings.Contains(strings.Join(n.Problems, "\n"), "pool state unknown") {
			t.Errorf("%s: %+v", n.Node, n)
		}
	}
	out, errs, _ = run(t, "", "status", "-i", r.inv)
	r.seen.WriteString(out + errs)
	if !strings.Contains(out, "3 nodes, 0 healthy") || !strings.Contains(errs, "3 of 3 nodes unhealthy") {
		t.Fatalf("text:\n%s\n%s", out, errs)
	}
}

// A failed omc remove leaves no hold behind when nothing changed in the
// pool, and says what it left when the node is out of service.
func TestFailedRemoveSaysWhatItLeft(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.threeUp()

	// Scalelite refuses every call: nothing changed, nothing held.
	t.Setenv("OMC_T_LB", testLBSecret+"-wrong")
	out, errs, code := run(t, "", "remove", "bbb-1", "--yes", "-i", r.inv)
	r.seen.WriteString(out + errs)
	if code == 0 || !strings.Contains(errs, "nothing was changed") {
		t.Fatalf("remove against a refusing Scalelite: code %d\n%s", code, errs)
	}
	t.Setenv("OMC_T_LB", testLBSecret)
	r.sl.Poll(context.Background())
	out, errs, code = run(t, "", "status", "-i", r.inv)
	r.seen.WriteString(out + errs)
	if code != 0 || strings.Contains(out, "drained by an operator") {
		t.Fatalf("a failed remove left a hold:\n%s\n%s", out, errs)
	}

	// A node the pool never had: nothing to deregister, and omc says so.
	out, errs, code = run(t, "", "pool", "sync", "-i", r.inv) // bbb-1 back
	if code != 0 {
		t.Fatalf("pool sync: %s", errs)
	}
	if err := (&scalelite.Client{URL: r.sl.URL, Secret: testLBSecret}).Delete(context.Background(), r.state(t, "bbb-2").ID); err != nil {
		t.Fatal(err)
	}
	out, errs, code = run(t, "", "remove", "bbb-2", "--yes", "-i", r.inv)
	r.seen.WriteString(out + errs)
	if code != 0 || !strings.Contains(errs, "bbb-2: pool eu: remove not registered in the pool: nothing to drain or deregister") {
		t.Fatalf("remove of an unregistered node: code %d\n%s", code, errs)
	}

	// A meeting outlives the drain's timeout: the node stays cordoned and
	// held, and omc says so.
	r.bbb.Node("bbb-1").CreateMeeting("maths", 3, 1)
	r.sl.Poll(context.Background())
	out, errs, code = run(t, "", "remove", "bbb-1", "--yes", "--timeout", "10ms", "-i", r.inv)
	r.seen.WriteString(out + errs)
	if code == 0 || !strings.Contains(errs, "it stays cordoned in the pool and held by omc remove (omc enable bbb-1 puts it back)") {
		t.Fatalf("remove with a meeting left: code %d\n%s", code, errs)
	}
	if sv := r.state(t, "bbb-1"); sv.State != pool.Cordoned {
		t.Fatalf("bbb-1 is %s", sv.State)
	}
}

// Every pool command writes a debug log: its calls to Scalelite and the
// nodes (method, host, path, status), how it ended; never a secret, a
// new tenant's secret or a checksum.
func TestPoolCommandsWriteADebugLog(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.threeUp()
	r.sl.SetMultitenancy(true)
	r.sl.Poll(context.Background())
	logs := filepath.Join(fleet.StateDir(), "logs")
	for _, tc := range []struct {
		args []string
		name string
		want []string
	}{
		{[]string{"status"}, "status", []string{"path=/scalelite/api/getServers", "path=/bbb-1/bigbluebutton/api/getMeetings", "msg=end ok=true"}},
		{[]string{"pool", "sync"}, "pool-sync", []string{"path=/scalelite/api/getServers"}},
		{[]string{"drain", "bbb-2", "--force", "--yes", "--timeout", "0"}, "drain", []string{"path=/scalelite/api/updateServer", "path=/scalelite/api/panicServer", "msg=end ok=true"}},
		{[]string{"enable", "bbb-2"}, "enable", []string{"path=/scalelite/api/updateServer"}},
		{[]string{"tenant", "add", "school"}, "tenant-add", []string{"path=/scalelite/api/addTenant"}},
		{[]string{"tenant", "list"}, "tenant-list", []string{"path=/scalelite/api/getTenants"}},
		{[]string{"remove", "bbb-3", "--force", "--yes", "--timeout", "0"}, "remove", []string{"path=/scalelite/api/deleteServer"}},
		{[]string{"enable", "nope"}, "enable", []string{"level=ERROR msg=end"}},
	} {
		before, _ := filepath.Glob(filepath.Join(logs, "*-"+tc.name+"-*.log"))
		out, errs, _ := run(t, "", append(tc.args, "-i", r.inv)...)
		if tc.name != "tenant-add" {
			r.seen.WriteString(out + errs)
		}
		after, _ := filepath.Glob(filepath.Join(logs, "*-"+tc.name+"-*.log"))
		if len(after) != len(before)+1 {
			t.Fatalf("%v: %d logs before, %d after", tc.args, len(before), len(after))
		}
		var newest string
		for _, a := range after {
			if !contains(before, a) {
				newest = a
			}
		}
		b, err := os.ReadFile(newest)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		r.seen.WriteString(text)
		for _, w := range append(tc.want, "command="+tc.name) {
			if !strings.Contains(text, w) {
				t.Errorf("%v: the log lacks %q:\n%s", tc.args, w, text)
			}
		}
		var tenant string
		for _, tn := range r.sl.Tenants() {
			tenant = strings.Join(tn.Secrets, "")
		}
		if strings.Contains(text, "checksum=") || (tenant != "" && strings.Contains(text, tenant)) {
			t.Errorf("%v: the log shows a checksum or a tenant secret:\n%s", tc.args, text)
		}
	}
}

// Nodes whose BBB accepts only sha512 checksums: with the default the
// gate names the algorithm; with the pool's bbb_checksum: sha512 they
// pass and are enabled.
func TestPoolBBBChecksumSignsTheNodesCalls(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	for _, n := range []string{"bbb-1", "bbb-2", "bbb-3"} {
		r.node(n, "3.0.4").RevealVersion(true).SetChecksumAlgorithms("sha512")
	}
	errs, code := r.up("bbb-1")
	if code == 0 || !strings.Contains(errs, "refuses sha256 checksums (its supportedChecksumAlgorithms; the pool's bbb_checksum: chooses omc's)") {
		t.Fatalf("default sha256: code %d\n%s", code, errs)
	}
	src, err := os.ReadFile(r.inv)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(r.inv, []byte(strings.Replace(string(src), "      checks: []\n", "      checks: []\n      bbb_checksum: sha512\n", 1)), 0o644)
	if errs, code = r.up("bbb-1", "bbb-2", "bbb-3"); code != 0 {
		t.Fatalf("bbb_checksum: sha512: code %d\n%s", code, errs)
	}
	if sv := r.state(t, "bbb-1"); sv.State != pool.Enabled {
		t.Fatalf("bbb-1 %s", sv.State)
	}
}

// --debug (or OMC_DEBUG=1) mirrors the run's debug log to stderr, masked
// like the file; without it stderr carries no log lines.
func TestDebugMirrorsTheLogToStderr(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.threeUp()
	r.sl.Poll(context.Background())
	out, errs, _ := run(t, "", "status", "--debug", "-i", r.inv)
	r.seen.WriteString(out + errs)
	if !strings.Contains(errs, "msg=start command=status") || !strings.Contains(errs, "path=/scalelite/api/getServers") {
		t.Fatalf("--debug: stderr %q", errs)
	}
	t.Setenv("OMC_DEBUG", "1")
	_, errs, _ = run(t, "", "status", "-i", r.inv)
	r.seen.WriteString(errs)
	if !strings.Contains(errs, "msg=start command=status") {
		t.Fatalf("OMC_DEBUG=1: stderr %q", errs)
	}
	t.Setenv("OMC_DEBUG", "")
	_, errs, _ = run(t, "", "status", "-i", r.inv)
	if strings.Contains(errs, "msg=") {
		t.Fatalf("without --debug: stderr %q", errs)
	}
}
