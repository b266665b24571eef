package provision

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/remote"
)

// Integration tests: the engine against real OpenSSH servers on 127.0.0.1.

func sshHost(t *testing.T, name string, srv *sshtest.Server, kh *remote.KnownHosts, steps ...Step) Host {
	return Host{Name: name, Steps: steps, Dial: func(ctx context.Context) (Conn, error) {
		c, err := remote.Dial(ctx, remote.Config{Name: name, Address: "127.0.0.1", Port: srv.Port, User: srv.User, KeyFile: srv.KeyFile, KnownHosts: kh, Timeout: 5 * time.Second,
			LockPath: lockPath(srv)})
		if err != nil {
			return nil, err
		}
		return SSH(c), nil
	}}
}

// hostSteps are a small but real mix: a dir, two files, a line, a guarded command.
func hostSteps(dir string) []Step {
	return []Step{
		&DirStep{Path: dir + "/etc", Mode: 0o755, Owner: "root", Group: "root"},
		&FileStep{Path: dir + "/etc/app.conf", Content: []byte("listen=443\nworkers=4\n"), Mode: 0o640, Owner: "root", Group: "root"},
		&FileStep{Path: dir + "/etc/deep/nested.conf", Content: []byte("x\n"), Mode: 0o600, Owner: "root", Group: "root"},
		&LineStep{Path: dir + "/etc/env", Line: "LOG=info", Match: mustRe("^LOG=")},
		&CommandStep{Label: "marker", Run: "touch " + shell.Quote(dir+"/ran"), Creates: dir + "/ran"},
	}
}

func collect() (*sync.Mutex, *[]Event, Observer) {
	var mu sync.Mutex
	var ev []Event
	return &mu, &ev, ObserverFunc(func(e Event) { mu.Lock(); ev = append(ev, e); mu.Unlock() })
}

func TestSSHConvergeRerunDrift(t *testing.T) {
	srvs := []*sshtest.Server{sshtest.Start(t), sshtest.Start(t), sshtest.Start(t)}
	kh := &remote.KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	var hosts []Host
	var dirs []string
	for i, s := range srvs {
		d := tempDir(t)
		dirs = append(dirs, d)
		hosts = append(hosts, sshHost(t, fmt.Sprintf("h%d", i), s, kh, hostSteps(d)...))
	}

	rs := Run(t.Context(), hosts, Options{Mode: Apply})
	for _, r := range rs {
		if r.Err != nil || r.Changed != 5 {
			t.Fatalf("converge %s: changed=%d err=%v", r.Host, r.Changed, r.Err)
		}
	}
	want := "listen=443\nworkers=4\n"
	if b, _ := os.ReadFile(dirs[0] + "/etc/app.conf"); string(b) != want {
		t.Fatalf("app.conf = %q, want %q", b, want)
	}

	// Re-run: nothing changes and nothing is written (mtimes stay).
	before := mtimes(t, dirs)
	rs = Run(t.Context(), hosts, Options{Mode: Apply})
	for _, r := range rs {
		if r.Err != nil || r.Changed != 0 {
			t.Fatalf("re-run %s: changed=%d err=%v", r.Host, r.Changed, r.Err)
		}
	}
	if after := mtimes(t, dirs); after != before {
		t.Fatalf("re-run touched files:\nbefore %s\nafter  %s", before, after)
	}

	// Drift on one host: plan shows it (and only there), up repairs it.
	os.WriteFile(dirs[1]+"/etc/app.conf", []byte("listen=80\n"), 0o644)
	mu, ev, obs := collect()
	rs = Run(t.Context(), hosts, Options{Mode: Plan, Observer: obs})
	if rs[0].Changed != 0 || rs[2].Changed != 0 || rs[1].Changed == 0 {
		t.Fatalf("plan changes per host: %d %d %d", rs[0].Changed, rs[1].Changed, rs[2].Changed)
	}
	mu.Lock()
	var diff string
	for _, e := range *ev {
		if e.Host == "h1" && e.Step == "file "+dirs[1]+"/etc/app.conf" {
			diff = e.Diff
		}
	}
	mu.Unlock()
	if !strings.Contains(diff, "-listen=80") || !strings.Contains(diff, "+listen=443") {
		t.Fatalf("plan diff:\n%s", diff)
	}
	if b, _ := os.ReadFile(dirs[1] + "/etc/app.conf"); string(b) != "listen=80\n" {
		t.Fatal("plan changed the file")
	}
	rs = Run(t.Context(), hosts, Options{Mode: Apply})
	if rs[1].Err != nil || rs[1].Changed != 1 || rs[0].Changed != 0 {
		t.Fatalf("repair: %+v", rs)
	}
	if b, _ := os.ReadFile(dirs[1] + "/etc/app.conf"); string(b) != want {
		t.Fatalf("not repaired: %q", b)
	}
}

func TestSSHOneConnectionOneExecWhenNothingChanges(t *testing.T) {
	srv := sshtest.Start(t)
	kh := &remote.KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	d := tempDir(t)
	var clients []*remote.Client
	h := Host{Name: "h", Steps: hostSteps(d), Dial: func(ctx context.Context) (Conn, error) {
		c, err := remote.Dial(ctx, remote.Config{Name: "h", Address: "127.0.0.1", Port: srv.Port, User: srv.User, KeyFile: srv.KeyFile, KnownHosts: kh, LockPath: lockPath(srv)})
		clients = append(clients, c)
		return SSH(c), err
	}}
	Run(t.Context(), []Host{h}, Options{Mode: Apply})
	clients = nil
	rs := Run(t.Context(), []Host{h}, Options{Mode: Apply})
	if rs[0].Err != nil || rs[0].Changed != 0 {
		t.Fatalf("%+v", rs[0])
	}
	if st := clients[0].Stats(); st.Dials != 1 || st.Execs != 1 {
		t.Fatalf("no-op run used %d connections and %d execs; want 1 and 1", st.Dials, st.Execs)
	}
}

func TestSSHFailureStopsOnlyThatHost(t *testing.T) {
	good := sshtest.Start(t)
	dead := sshtest.Start(t)
	dead.Stop() // refuses connections
	kh := &remote.KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	d := tempDir(t)
	rs := Run(t.Context(), []Host{sshHost(t, "dead", dead, kh, hostSteps(tempDir(t))...), sshHost(t, "good", good, kh, hostSteps(d)...)}, Options{Mode: Apply})
	var de *remote.DialError
	if !errors.As(rs[0].Err, &de) {
		t.Fatalf("dead host: want *remote.DialError, got %v", rs[0].Err)
	}
	if rs[1].Err != nil || rs[1].Changed != 5 {
		t.Fatalf("good host: %+v", rs[1])
	}
}

func TestSSHChangedHostKeyStopsHost(t *testing.T) {
	srv := sshtest.Start(t)
	kh := &remote.KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	d := tempDir(t)
	h := sshHost(t, "h", srv, kh, hostSteps(d)...)
	if rs := Run(t.Context(), []Host{h}, Options{Mode: Apply}); rs[0].Err != nil {
		t.Fatal(rs[0].Err)
	}
	srv.Restart(sshtest.WithNewHostKey())
	os.Remove(d + "/etc/app.conf")
	rs := Run(t.Context(), []Host{h}, Options{Mode: Apply})
	var he *remote.HostKeyError
	if !errors.As(rs[0].Err, &he) {
		t.Fatalf("want *remote.HostKeyError, got %v", rs[0].Err)
	}
	if _, err := os.Stat(d + "/etc/app.conf"); !os.IsNotExist(err) {
		t.Fatal("a host with a changed key was changed")
	}
}

func TestSSHConcurrentRunsLock(t *testing.T) {
	srv := sshtest.Start(t)
	kh := &remote.KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	d := tempDir(t)
	// The slow step says it runs (so the first run holds the lock) and
	// waits for the test to let it finish (30 s at most).
	started, release := shell.Quote(d+"/started"), shell.Quote(d+"/release")
	slow := &CommandStep{Label: "slow", Creates: d + "/slow",
		Run: "touch " + started + "; for i in $(seq 600); do [ -e " + release + " ] && break; sleep 0.05; done; touch " + shell.Quote(d+"/slow")}
	h := sshHost(t, "h", srv, kh, slow)
	first := make(chan Result)
	go func() { first <- Run(context.Background(), []Host{h}, Options{Mode: Apply, Holder: "first run"})[0] }()
	for i := 0; ; i++ {
		if _, err := os.Stat(d + "/started"); err == nil {
			break
		}
		if i == 3000 {
			t.Fatal("the first run's step never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	second := Run(t.Context(), []Host{h}, Options{Mode: Apply, Holder: "second run"})[0]
	if err := os.WriteFile(d+"/release", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var le *remote.LockedError
	if !errors.As(second.Err, &le) || !strings.Contains(le.Holder, "first run") {
		t.Fatalf("second run: want *remote.LockedError naming the first, got %v", second.Err)
	}
	if r := <-first; r.Err != nil || r.Changed != 1 {
		t.Fatalf("first run: %+v", r)
	}
	if _, err := os.Stat(d + "/slow"); err != nil {
		t.Fatalf("the first run did not finish its step: %v", err)
	}
}

// A host in sync is looked at without its lock: a no-op run leaves the
// lock file as it was (no flock, no holder written), and reports the host
// in sync even while another run holds the lock. A host with something
// to change takes the lock first, so that run is refused while it is held.
func TestSSHLockOnlyToChange(t *testing.T) {
	srv := sshtest.Start(t)
	kh := &remote.KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	d := tempDir(t)
	h := sshHost(t, "h", srv, kh, hostSteps(d)...)
	if r := Run(t.Context(), []Host{h}, Options{Mode: Apply, Holder: "converging run"})[0]; r.Err != nil || r.Changed == 0 {
		t.Fatalf("converging run: %+v", r)
	}
	st, err := os.Stat(lockPath(srv))
	if err != nil {
		t.Fatalf("a run that changed the host took no lock: %v", err)
	}
	if r := Run(t.Context(), []Host{h}, Options{Mode: Apply, Holder: "no-op run"})[0]; r.Err != nil || r.Changed != 0 {
		t.Fatalf("no-op run: %+v", r)
	}
	if st2, err := os.Stat(lockPath(srv)); err != nil || !st2.ModTime().Equal(st.ModTime()) || st2.Size() != 0 {
		t.Fatalf("the no-op run touched the lock file: %v, %v then %v", err, st.ModTime(), st2.ModTime())
	}
	// Another run holds the lock (flock on this machine, where the test
	// host's lock file is).
	if err := os.WriteFile(lockPath(srv), []byte("other run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("flock", lockPath(srv), "sleep", "30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	for i := 0; exec.Command("flock", "-n", lockPath(srv), "true").Run() == nil; i++ {
		if i == 500 {
			t.Fatal("flock never held the lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := Run(t.Context(), []Host{h}, Options{Mode: Apply, Holder: "no-op run"})[0]; r.Err != nil || r.Changed != 0 {
		t.Fatalf("no-op run while another holds the lock: %+v", r)
	}
	if err := os.WriteFile(d+"/etc/app.conf", []byte("drifted\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	r := Run(t.Context(), []Host{h}, Options{Mode: Apply, Holder: "changing run"})[0]
	var le *remote.LockedError
	if !errors.As(r.Err, &le) || !strings.Contains(le.Holder, "other run") {
		t.Fatalf("a run with a change while the lock is held: want *remote.LockedError naming the holder, got %+v", r)
	}
	if b, _ := os.ReadFile(d + "/etc/app.conf"); string(b) != "drifted\n" {
		t.Fatalf("changed a host whose lock another run holds: %q", b)
	}
}

func TestSSHInterruptedRunLeavesNoPartialFileAndNoStaleLockBlocks(t *testing.T) {
	srv := sshtest.Start(t)
	kh := &remote.KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	d := tempDir(t)
	target := d + "/big.bin"
	os.WriteFile(target, []byte("old content\n"), 0o644)
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = byte(i % 251)
	}
	h := sshHost(t, "h", srv, kh, &FileStep{Path: target, Content: big, Mode: 0o644, Owner: "root", Group: "root"})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		// Cancel once the temp file exists, i.e. mid-transfer.
		for i := 0; i < 500; i++ {
			if _, err := os.Stat(remote.TempName(target)); err == nil {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	r := Run(ctx, []Host{h}, Options{Mode: Apply, Holder: "killed run"})[0]
	if r.Err == nil {
		t.Skip("transfer finished before it could be interrupted")
	}
	if b, _ := os.ReadFile(target); string(b) != "old content\n" {
		t.Fatalf("interrupted write left the target changed (%d bytes)", len(b))
	}
	// The next run converges, cleans up, and is not blocked by a lock.
	r = Run(t.Context(), []Host{h}, Options{Mode: Apply})[0]
	if r.Err != nil || r.Changed != 1 {
		t.Fatalf("next run: %+v", r)
	}
	if _, err := os.Stat(remote.TempName(target)); !os.IsNotExist(err) {
		t.Fatal("temp file left behind")
	}
}

// lockPath gives each test sshd its own lock: they all run on this one
// machine, where a real host's /run/omc/lock would be shared.
func lockPath(srv *sshtest.Server) string {
	return filepath.Join(filepath.Dir(srv.LogPath), "omc.lock")
}

// mtimes fingerprints every file's modification time under dirs.
func mtimes(t *testing.T, dirs []string) string {
	var b strings.Builder
	for _, d := range dirs {
		filepath.Walk(d, func(p string, fi os.FileInfo, err error) error {
			if err == nil {
				fmt.Fprintf(&b, "%s@%d ", p, fi.ModTime().UnixNano())
			}
			return nil
		})
	}
	return b.String()
}
