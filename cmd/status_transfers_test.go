package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision/roles"
	"github.com/omc-coop/omc/remote"
)

// omc status --transfers in text and JSON: each bbb node's answer (here
// from a stand-in for SSH; fleet's test asks a real sshd) is shown under
// its pool: the count, the oldest's age, the stuck mark, or why the node
// could not be asked. The exit code stays the pool's.
func TestStatusTransfersTextAndJSON(t *testing.T) {
	r := newPoolRig(t, staticNodes+"      - {name: sl-1, roles: [scalelite], address: 127.0.0.1, domain: sl.example.org}\n")
	r.threeUp()
	r.sl.Poll(context.Background())
	// NOW WAITING OLDEST, as the node's script prints them.
	answers := map[string]string{"bbb-1": "1700007200 2 1700000000\n", "bbb-2": "1700007200 1 1700006900\n"}
	var scripts []string
	r.deps.Exec = func(_ context.Context, n *inventory.Node, _ providers.Machine, script string) (remote.Result, error) {
		r.mu.Lock()
		scripts = append(scripts, script)
		r.mu.Unlock()
		if a, ok := answers[n.Name]; ok {
			return remote.Result{Stdout: []byte(a)}, nil
		}
		return remote.Result{}, errors.New("dial tcp 127.0.0.1:22: connect: connection refused")
	}
	status := func(json bool, transfers bool) (string, string, int) {
		return r.call(json, func(s *ui.Streams, g *globalOptions) error {
			return runStatus(context.Background(), s, g, &statusOptions{Transfers: transfers})
		})
	}
	out, errs, code := status(false, false)
	if code != 0 || strings.Contains(out, "transfers") || len(scripts) != 0 {
		t.Fatalf("without --transfers: code %d, %d nodes asked\n%s%s", code, len(scripts), out, errs)
	}
	out, errs, code = status(false, true)
	if code != 0 {
		t.Fatalf("a stuck transfer or an unreachable node changed the exit code: %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		"\n  bbb-1: transfers waiting 2, oldest 2h00m, STUCK (waiting over 20m)\n",
		"\n  bbb-2: transfers waiting 1, oldest 5m\n",
		"\n  bbb-3: transfers unknown: dial tcp 127.0.0.1:22: connect: connection refused\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if len(scripts) != 3 || !strings.Contains(scripts[0], "/var/bigbluebutton/recording/scalelite") || strings.Contains(out, "sl-1:") {
		t.Errorf("asked %d nodes (want the 3 bbb nodes, in the spool):\n%s", len(scripts), strings.Join(scripts, "\n"))
	}

	out, _, code = status(true, true)
	if code != 0 {
		t.Fatalf("json: code %d", code)
	}
	checkStatusSchema(t, out)
	var st struct {
		Pools []struct {
			Nodes []struct {
				Node      string         `json:"node"`
				Transfers map[string]any `json:"transfers"`
			} `json:"nodes"`
		} `json:"pools"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for _, n := range st.Pools[0].Nodes {
		got[n.Node] = n.Transfers
	}
	want := map[string]string{
		"bbb-1": `{"oldest":"2023-11-14T22:13:20Z","oldest_age_seconds":7200,"stuck":true,"waiting":2}`,
		"bbb-2": `{"oldest":"2023-11-15T00:08:20Z","oldest_age_seconds":300,"stuck":false,"waiting":1}`,
		"bbb-3": `{"error":"dial tcp 127.0.0.1:22: connect: connection refused","oldest":null,"oldest_age_seconds":0,"stuck":false,"waiting":0}`,
	}
	for node, w := range want {
		b, _ := json.Marshal(got[node])
		if string(b) != w {
			t.Errorf("%s: transfers %s, want %s", node, b, w)
		}
	}
}

// The live view shows only the transfers that matter: those waiting,
// and the nodes that could not be asked (first line only).
func TestStatusWatchFrameShowsWaitingTransfers(t *testing.T) {
	sn := watchSnapshotFixture()
	nodes := sn.Status.Pools[0].Nodes
	nodes[0].Transfers = &fleet.TransferStatus{}
	nodes[1].Transfers = &fleet.TransferStatus{Waiting: 3, OldestAge: 50 * 60, Stuck: true}
	nodes[2].Transfers = &fleet.TransferStatus{Error: "ssh: handshake failed\nsecond line"}
	got := renderWatch(sn, ui.NewStyles(io.Discard, false))
	lines := strings.Split(got, "\n")
	for _, want := range []string{"  bbb-eu-2: transfers waiting 3, oldest 50m, STUCK (waiting over 20m)", "  bbb-eu-3: transfers unknown: ssh: handshake failed"} {
		if !slices.Contains(lines, want) {
			t.Errorf("no line %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "bbb-eu-1: transfers") || strings.Contains(got, "second line") {
		t.Errorf("a node with nothing waiting, or a whole error, is shown:\n%s", got)
	}
}

// The README names the flag, the JSON fields and the timer's figures,
// which come from the role: a change of the interval must reach it.
func TestStatusTransfersAreDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| `omc status --transfers` |", `"transfers":{"waiting","oldest","oldest_age_seconds","stuck","error"?}`,
		fmt.Sprintf("retry timer (every %d minutes)", int(roles.TransferRetry.Minutes())),
		fmt.Sprintf("waited over %d minutes", int(roles.TransferStuckAfter.Minutes())),
		fmt.Sprintf("a timer retries it every %d minutes", int(roles.TransferRetry.Minutes()))} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README lacks %q", want)
		}
	}
}
