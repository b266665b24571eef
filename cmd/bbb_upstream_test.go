package cmd

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/remote"
)

// hiddenNodes start bbb-1..3 answering like a default BBB 3.0: the API
// root hides bbbVersion (allowRevealOfBBBVersion=false).
func (r *poolRig) hiddenNodes() {
	r.t.Helper()
	for _, n := range []string{"bbb-1", "bbb-2", "bbb-3"} {
		r.node(n, "3.0.4").RevealVersion(false)
	}
}

// omc up enables nodes whose API root hides the version: the gate reads
// the installed release over SSH (here a fake of the node's shell that
// answers fleet.BBBReleaseScript from the fake node).
func TestUpEnablesNodesThatHideTheirVersion(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.hiddenNodes()
	var mu sync.Mutex
	var asked []string
	r.deps.Exec = func(_ context.Context, n *inventory.Node, m providers.Machine, script string) (remote.Result, error) {
		mu.Lock()
		asked = append(asked, n.Name+"@"+m.Address)
		mu.Unlock()
		if script != fleet.BBBReleaseScript {
			return remote.Result{}, errors.New("unexpected script")
		}
		return remote.Result{Stdout: []byte(r.bbb.Node(n.Name).Version() + "\n")}, nil
	}
	errs, code := r.up("bbb-1", "bbb-2", "bbb-3")
	if code != 0 || strings.Count(errs, "enable health check passed (bbbVersion 3.0.4)") != 3 {
		t.Fatalf("up: %d\n%s", code, errs)
	}
	for _, n := range []string{"bbb-1", "bbb-2", "bbb-3"} {
		if s := r.state(t, n); s.State != pool.Enabled {
			t.Errorf("%s: %+v", n, s)
		}
	}
	if len(asked) != 3 || !strings.HasSuffix(asked[0], "@127.0.0.1") {
		t.Errorf("asked over SSH: %v", asked)
	}
}

// Without a way to read it, the node is left out and omc says what is
// missing.
func TestUpSaysWhyAHiddenVersionLeavesANodeOut(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.hiddenNodes()
	r.deps.Exec = func(context.Context, *inventory.Node, providers.Machine, string) (remote.Result, error) {
		return remote.Result{}, errors.New("ssh: connect to host 127.0.0.1 port 22: connection refused")
	}
	errs, code := r.up("bbb-1")
	want := "bbb-1 not enabled in pool eu: left disabled: the API root hides bbbVersion (allowRevealOfBBBVersion=false) and reading the installed release failed: over SSH: ssh: connect to host 127.0.0.1 port 22: connection refused (expected 3.0)"
	if code != ExitError || !strings.Contains(errs, want) || r.state(t, "bbb-1").State != pool.Disabled {
		t.Fatalf("up: %d\n%s", code, errs)
	}
}

// drain --force: Scalelite's panic ends the meetings it tracks; a meeting
// made on the node directly runs on, and omc ends it on the node.
func TestForcedDrainEndsMeetingsScaleliteDoesNotTrack(t *testing.T) {
	r := newPoolRig(t, staticNodes)
	r.threeUp()
	node := r.bbb.Node("bbb-2")
	r.sl.CreateMeeting(node, "through-scalelite", 4, 1)
	node.CreateMeetingAt("on-the-node", 3, 1, time.Now().Add(-time.Hour))
	r.sl.Poll(context.Background())
	_, errs, code := r.call(false, func(s *ui.Streams, g *globalOptions) error {
		return runDrain(context.Background(), s, g, &drainOptions{Node: "bbb-2", Timeout: 0, Force: true, Yes: true})
	})
	if code != 0 || len(node.Meetings()) != 0 || r.state(t, "bbb-2").State != pool.Disabled || node.Calls("end") < 2 {
		t.Fatalf("forced drain: %d %+v %+v (%d ends)\n%s", code, r.state(t, "bbb-2"), node.Meetings(), node.Calls("end"), errs)
	}
}
