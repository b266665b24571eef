package cmd

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/providers/hcloud"
	"github.com/omc-coop/omc/provision"
)

// waitRig makes one hcloud server (bbb-eu-1-2) on the fake through
// machinesWith. Its SSH wait is a stand-in that answers once the
// provider has reported two ticks of waiting; with interrupt, the first
// tick interrupts the run as Ctrl-C does instead. The clock moves 35 s
// at each reading.
func waitRig(t *testing.T, ctx context.Context, interrupt context.CancelCauseFunc) (stderr, debugLog string, err error) {
	d := isolate(t)
	_, endpoint := hcloudFake(t)
	p := filepath.Join(d, "omc.yaml")
	os.WriteFile(p, []byte(`apiVersion: omc/v1
name: t
groups:
  eu-1:
    provider: hcloud
    location: fsn1
    server_type: cx22
    image: ubuntu-22.04
    nodes:
      - {name: bbb-eu-1-2}
`), 0o644)
	inv, lerr := inventory.Load(p)
	if lerr != nil {
		t.Fatal(lerr)
	}
	var logBuf bytes.Buffer
	ctx = fleet.WithLog(ctx, slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	var errb bytes.Buffer
	s := &ui.Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &errb, CI: true}

	var mu sync.Mutex
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(35 * time.Second)
		return clock
	}
	ticks := make(chan struct{}, 1000)
	_, _, err = machinesWith(ctx, s, inv, inv.Nodes(), provision.Apply, func(name string, pe *providerEvents) (providers.Provider, error) {
		if name != "hcloud" {
			t.Fatalf("provider %s", name)
		}
		pe.every = time.Millisecond
		return hcloud.New(hcloud.Options{Token: testHcloudToken, Endpoint: endpoint, StateDir: t.TempDir(), PublicKey: testPubKey(t),
			PollInterval: time.Millisecond, RetryBackoff: time.Millisecond,
			ProgressEvery: pe.every, Now: now,
			Events: func(e providers.Event) {
				pe.event(e)
				if e.State == "waiting" {
					if interrupt != nil {
						interrupt(interrupted{os.Interrupt})
					}
					ticks <- struct{}{}
				}
			},
			WaitSSH: func(ctx context.Context, _ string) error {
				for seen := 0; seen < 2 || interrupt != nil; seen++ {
					select {
					case <-ticks:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				return nil
			}}), nil
	})
	return errb.String(), logBuf.String(), err
}

// Off a terminal, each server's wait for SSH is a plain line per report,
// with the time waited, and the same goes into the debug log with the
// provider's own lines.
func TestWaitForSSHIsReported(t *testing.T) {
	errs, debugLog, err := waitRig(t, context.Background(), nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, errs)
	}
	for _, want := range []string{
		"hcloud: creating server bbb-eu-1-2 (cx22, ubuntu-22.04, fsn1)",
		"bbb-eu-1-2: waiting for SSH (35s)\n",
		"bbb-eu-1-2: waiting for SSH (1m10s)\n",
		"bbb-eu-1-2: waiting for SSH (1m45s)\n",
		"bbb-eu-1-2: SSH answers (after ",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if strings.Contains(errs, "\x1b[") {
		t.Errorf("escape codes off a terminal:\n%q", errs)
	}
	for _, want := range []string{
		`level=INFO msg=provider provider=hcloud line="hcloud: creating server bbb-eu-1-2`,
		`level=INFO msg=provider provider=hcloud node=bbb-eu-1-2 phase=wait-ssh state=start elapsed=35s`,
		`level=DEBUG msg=provider provider=hcloud node=bbb-eu-1-2 phase=wait-ssh state=waiting elapsed=1m10s`,
		`level=INFO msg=provider provider=hcloud node=bbb-eu-1-2 phase=wait-ssh state=ready elapsed=`,
	} {
		if !strings.Contains(debugLog, want) {
			t.Errorf("debug log lacks %q:\n%s", want, debugLog)
		}
	}
}

// Ctrl-C during the wait says what it interrupted, on screen, in the
// error and in the debug log; the exit code is 130's.
func TestWaitForSSHInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	errs, debugLog, err := waitRig(t, ctx, cancel)
	const what = "interrupted (Ctrl-C) while waiting for SSH on bbb-eu-1-2"
	if err == nil || !strings.Contains(err.Error(), what) || exitCode(err) != ExitInterrupt {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), "SSH does not answer") {
		t.Errorf("an interrupted wait is not an unanswered one: %v", err)
	}
	if !strings.Contains(errs, "bbb-eu-1-2: stopped waiting for SSH (after ") {
		t.Errorf("stderr:\n%s", errs)
	}
	if !strings.Contains(debugLog, `level=ERROR msg=provider provider=hcloud node=bbb-eu-1-2 phase=wait-ssh state=interrupted`) || !strings.Contains(debugLog, what) {
		t.Errorf("debug log:\n%s", debugLog)
	}
}
