package fleet

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/remote"
)

type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("no HTTP in this test")
}

// omc status --transfers asks, over SSH as omc up reaches a node (a real
// sshd on loopback here), each bbb node that sends recordings to its
// group's managed Scalelite: how many tars wait and since when. Each
// node's spool is its own directory here (Dir's {node}); their tars have
// known times. bbb-4's sshd is gone: it says so, the others still answer.
// A node in a group without a scalelite node is not asked.
func TestStatusTransfersOverSSH(t *testing.T) {
	t.Setenv("OMC_STATE_DIR", t.TempDir())
	t.Setenv("OMC_SSH_CONFIG", "none")
	srv := sshtest.Start(t)
	spool := t.TempDir()
	t0 := time.Now().Truncate(time.Second)
	tars := map[string][]time.Duration{
		"bbb-1": {45 * time.Minute, 5 * time.Minute, 30 * time.Second}, // oldest past 20 min: stuck
		"bbb-2": {19 * time.Minute},                                    // within two tries
		"bbb-3": {},                                                    // nothing waits
	}
	for node, ages := range tars {
		dir := filepath.Join(spool, node)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, age := range ages {
			p := filepath.Join(dir, fmt.Sprintf("meeting-%d.tar", i))
			os.WriteFile(p, []byte("tar"), 0o644)
			if err := os.Chtimes(p, t0.Add(-age), t0.Add(-age)); err != nil {
				t.Fatal(err)
			}
		}
		// Being packed, not waiting: not counted.
		part := filepath.Join(dir, "packing.tar.part")
		os.WriteFile(part, nil, 0o644)
		os.Chtimes(part, t0.Add(-time.Hour), t0.Add(-time.Hour))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()

	hostKey := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey)))
	node := func(name string, port int) string {
		return fmt.Sprintf("      - {name: %s, address: 127.0.0.1, host_key: %q, ssh: {port: %d, key: %s, user: %s}}\n", name, hostKey, port, srv.KeyFile, srv.User)
	}
	inv := transfersInventory(t, node("bbb-1", srv.Port)+node("bbb-2", srv.Port)+node("bbb-3", srv.Port)+node("bbb-4", closed)+
		`      - {name: sl-1, roles: [scalelite], address: 127.0.0.1, domain: sl.example.org}
`, `  school:
    provider: static
    roles: [bbb]
    nodes:
      - {name: school-bbb, address: 127.0.0.1, domain: bbb.school.example, settings: {bbb_version: "3.0"}}
`)
	deps := &PoolDeps{HTTP: &http.Client{Transport: failingTransport{}}}
	st, err := Status(context.Background(), inv, StatusOptions{Deps: deps, Transfers: &TransferOptions{Dir: filepath.Join(spool, "{node}")}})
	t1 := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]*TransferStatus{}
	for _, p := range st.Pools {
		for _, n := range p.Nodes {
			rows[n.Node] = n.Transfers
		}
	}
	for _, n := range st.Nodes {
		if n.Transfers != nil {
			t.Errorf("%s has no scalelite node to send to, but was asked: %+v", n.Node, n.Transfers)
		}
	}
	// The age is by the node's clock, read between t0 and t1.
	checkAge := func(name string, ts *TransferStatus, want time.Duration) {
		t.Helper()
		if ts.Age() < want || ts.Age() > want+t1.Sub(t0)+time.Second {
			t.Errorf("%s: oldest %s old, want %s (plus the test's own time)", name, ts.Age(), want)
		}
	}
	for name, want := range map[string]struct {
		waiting int
		oldest  time.Duration
		stuck   bool
	}{"bbb-1": {3, 45 * time.Minute, true}, "bbb-2": {1, 19 * time.Minute, false}, "bbb-3": {0, 0, false}} {
		ts := rows[name]
		if ts == nil || ts.Error != "" || ts.Waiting != want.waiting || ts.Stuck != want.stuck {
			t.Errorf("%s: %+v, want %d waiting, stuck %v", name, ts, want.waiting, want.stuck)
			continue
		}
		if want.waiting == 0 {
			if ts.Oldest != nil || ts.OldestAge != 0 {
				t.Errorf("%s: nothing waits, yet oldest %v (%ds)", name, ts.Oldest, ts.OldestAge)
			}
			continue
		}
		if ts.Oldest == nil || !ts.Oldest.Equal(t0.Add(-want.oldest)) {
			t.Errorf("%s: oldest %v, want %v", name, ts.Oldest, t0.Add(-want.oldest))
		}
		checkAge(name, ts, want.oldest)
	}
	if ts := rows["bbb-4"]; ts == nil || ts.Error == "" || ts.Waiting != 0 || ts.Stuck {
		t.Errorf("bbb-4 (no sshd): %+v, want an error and nothing else", ts)
	}
	if rows["sl-1"] != nil {
		t.Errorf("the scalelite node was asked: %+v", rows["sl-1"])
	}
	// One connection each to the three nodes sshd serves.
	if n := strings.Count(srv.Log(), "Accepted publickey"); n != 3 {
		t.Errorf("%d SSH logins, want 3", n)
	}
}

// transfersInventory is group eu of static bbb nodes, nodes (the lines
// under its nodes:), whose pool no test reaches, then rest (more groups).
func transfersInventory(t *testing.T, nodes, rest string) *inventory.Inventory {
	t.Helper()
	t.Setenv("OMC_T_LB", "lb-secret-transfers-test-5b1")
	t.Setenv("OMC_T_SEED", "seed-transfers-test-0c9")
	src := `apiVersion: omc/v1
name: t
secrets:
  bbb_seed: env:OMC_T_SEED
groups:
  eu:
    provider: static
    roles: [bbb]
    domain: "{name}.example.org"
    settings: {bbb_version: "3.0"}
    pool: {url: "http://127.0.0.1:1", secret: "env:OMC_T_LB", bbb_url: "http://127.0.0.1:1/{name}/bigbluebutton/api", checks: []}
    nodes:
` + nodes + rest
	inv, err := inventory.LoadReader("omc.yaml", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// Without --transfers, no node is asked.
func TestStatusWithoutTransfersAsksNoNode(t *testing.T) {
	t.Setenv("OMC_STATE_DIR", t.TempDir())
	inv := transfersInventory(t, `      - {name: bbb-1, address: 127.0.0.1}
      - {name: sl-1, roles: [scalelite], address: 127.0.0.1, domain: sl.example.org}
`, "")
	asked := 0
	deps := &PoolDeps{HTTP: &http.Client{Transport: failingTransport{}}, Exec: func(context.Context, *inventory.Node, providers.Machine, string) (remote.Result, error) {
		asked++
		return remote.Result{}, nil
	}}
	st, err := Status(context.Background(), inv, StatusOptions{Deps: deps})
	if err != nil {
		t.Fatal(err)
	}
	if asked != 0 || st.Pools[0].Nodes[0].Transfers != nil {
		t.Fatalf("asked %d nodes; transfers %+v", asked, st.Pools[0].Nodes[0].Transfers)
	}
}

// The script's answer, read: what a node with nothing, with tars, and
// with a clock behind the tars' says.
func TestParseTransfers(t *testing.T) {
	ts, err := parseTransfers("1700000000 0 -\n", 20*time.Minute)
	if err != nil || ts.Waiting != 0 || ts.Oldest != nil || ts.Stuck {
		t.Fatalf("none: %+v %v", ts, err)
	}
	ts, err = parseTransfers("1700003600 2 1700000000\n", 20*time.Minute)
	if err != nil || ts.Waiting != 2 || ts.Age() != time.Hour || !ts.Stuck || !ts.Oldest.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("two: %+v %v", ts, err)
	}
	ts, err = parseTransfers("1700000000 1 1700000060\n", 20*time.Minute)
	if err != nil || ts.Age() != 0 || ts.Stuck {
		t.Fatalf("clock behind: %+v %v", ts, err)
	}
	for _, bad := range []string{"", "sh: find: not found", "1700000000 1 -"} {
		if _, err := parseTransfers(bad, time.Minute); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
