package remote

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/rttproxy"
	"github.com/omc-coop/omc/internal/sshtest"
)

// A run that finds nothing to do costs the host as many round trips as
// the least any tool can do, the benchmark's floor: one session with one
// exec that checks, its answer ending in a marker line, and the
// connection dropped once the marker is in (bench/floor.go: letting the
// shell exit costs a write more, x/crypto's answer to the server's
// channel close). omc's is the shell's exec carrying the probe
// (RunFirst), then Close: a host in sync is not locked (provision's
// engine takes the lock only to change). The round trips are counted at
// a proxy as the client's write bursts. The test passes when, in any of
// five tries, omc needs no more round trips than the floor: on a loaded
// machine a burst can split either side's count now and then.
func TestNoopRoundTripsEqualTheFloor(t *testing.T) {
	srv := sshtest.Start(t)
	// A round-trip time keeps what a side sends without waiting together:
	// on bare loopback an answer can slip between two such writes.
	p, err := rttproxy.Start(srv.Addr, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg := configFor(srv, nil)
	cfg.Port, cfg.KnownHosts = p.Port(), nil
	cfg.HostKeys = []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey)))}
	cfg.LockPath = filepath.Join(t.TempDir(), "lock")
	probe := "echo probe"

	floor := func() {
		kb, err := os.ReadFile(srv.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := ssh.ParsePrivateKey(kb)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		sc, chans, reqs, err := ssh.NewClientConn(nc, p.Addr(), &ssh.ClientConfig{User: srv.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: ssh.FixedHostKey(srv.HostKey), HostKeyAlgorithms: []string{srv.HostKey.Type()}})
		if err != nil {
			t.Fatal(err)
		}
		s, err := ssh.NewClient(sc, chans, reqs).NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		out, err := s.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start("exec /bin/sh -c '" + probe + "; echo @@end; read x'"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(out)
		for l := ""; l != "@@end\n"; {
			if l, err = br.ReadString('\n'); err != nil {
				t.Fatalf("floor: %q, %v", l, err)
			}
		}
	}
	omc := func() {
		c := mustDial(t, cfg)
		r, err := c.RunFirst(ctxT(t), probe)
		if err != nil || string(r.Stdout) != "probe\n" {
			t.Fatalf("RunFirst = %q, %v", r.Stdout, err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	count := func(f func()) int64 {
		b0 := p.Bursts()
		f()
		return p.Bursts() - b0
	}
	var tries []string
	for range 5 {
		fl, om := count(floor), count(omc)
		tries = append(tries, fmt.Sprintf("floor %d, omc %d", fl, om))
		if om <= fl {
			t.Logf("round trips per host (client write bursts): %s", strings.Join(tries, "; "))
			return
		}
	}
	t.Errorf("round trips per host (client write bursts): %s; want omc's no more than the floor's", strings.Join(tries, "; "))
}

// LockRun runs its script only under the lock; UnlockClose leaves the
// lock free and its file empty when it returns.
func TestLockRunAndUnlockClose(t *testing.T) {
	srv := sshtest.Start(t)
	cfg := configFor(srv, testKnownHosts(t))
	lockPath := filepath.Join(t.TempDir(), "run", "omc", "lock")
	cfg.LockPath = lockPath
	ctx := ctxT(t)

	a := mustDial(t, cfg)
	stale, r, err := a.LockRun(ctx, "run A", "echo ran; exit 3")
	if err != nil || stale != "" || string(r.Stdout) != "ran\n" || r.ExitCode != 3 || r.Skipped {
		t.Fatalf("LockRun = %q, %+v, %v", stale, r, err)
	}
	b := mustDial(t, cfg)
	marker := filepath.Join(t.TempDir(), "b-ran")
	_, r, err = b.LockRun(ctx, "run B", "touch "+marker)
	var le *LockedError
	if !errors.As(err, &le) || le.Holder != "run A" {
		t.Fatalf("LockRun while held: %+v, %v; want *LockedError held by run A", r, err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the script ran without the lock (%v)", err)
	}
	if err := a.UnlockClose(ctx); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(lockPath); err != nil || len(data) != 0 {
		t.Errorf("lock file after UnlockClose: %q, %v", data, err)
	}
	// Free at once: no stale text, no wait.
	stale, _, err = b.LockRun(ctx, "run B", "true")
	if err != nil || stale != "" {
		t.Fatalf("LockRun after UnlockClose = %q, %v", stale, err)
	}
	if err := b.UnlockClose(ctx); err != nil {
		t.Fatal(err)
	}
}
