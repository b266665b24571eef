package remote

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/internal/testenv"
)

func TestTempName(t *testing.T) {
	for in, want := range map[string]string{
		"/etc/nginx/nginx.conf": "/etc/nginx/.nginx.conf.omc-tmp",
		"/x":                    "/.x.omc-tmp",
		"rel/f":                 "rel/.f.omc-tmp",
	} {
		if got := TempName(in); got != want {
			t.Errorf("TempName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFiles(t *testing.T) {
	srv := sshtest.Start(t)
	c := mustDial(t, configFor(srv, testKnownHosts(t)))
	ctx := ctxT(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "conf")

	if _, err := c.ReadFile(ctx, p); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), p) {
		t.Fatalf("ReadFile of a missing file: %v", err)
	}
	data := []byte("hello\nworld\n")
	if err := c.WriteFile(ctx, p, data, 0o640, 1, 2); err != nil {
		t.Fatal(err)
	}
	checkFile(t, p, data, 0o640, 1, 2)
	got, err := c.ReadFile(ctx, p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}

	// Overwrite: new mode and owner, special bits, no temp file left.
	big := bytes.Repeat([]byte("0123456789abcdef"), 200000)
	if err := c.WriteFile(ctx, p, big, 0o600|os.ModeSetgid, 0, 0); err != nil {
		t.Fatal(err)
	}
	checkFile(t, p, big, 0o600|os.ModeSetgid, 0, 0)
	if got, err := c.ReadFile(ctx, p); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("ReadFile of a big file: %d bytes, %v", len(got), err)
	}
	// -1 keeps the default owner.
	if err := c.WriteFile(ctx, p, nil, 0o644, -1, 3); err != nil {
		t.Fatal(err)
	}
	checkFile(t, p, nil, 0o644, 0, 3)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries, want only the file", len(entries))
	}

	// A planted symlink at the temp name is replaced, not followed.
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep"), 0o600)
	os.Symlink(victim, TempName(p))
	if err := c.WriteFile(ctx, p, []byte("new"), 0o644, -1, -1); err != nil {
		t.Fatal(err)
	}
	if v, _ := os.ReadFile(victim); string(v) != "keep" {
		t.Errorf("write followed a symlink: victim = %q", v)
	}

	if err := c.WriteFile(ctx, filepath.Join(dir, "nodir", "f"), data, 0o644, -1, -1); err == nil || !strings.Contains(err.Error(), "node1") {
		t.Errorf("write into a missing dir: %v", err)
	}

	if got := c.Stats(); got != (Stats{Dials: 1, Execs: 1}) {
		t.Errorf("Stats = %+v, want one SFTP exec", got)
	}
	mustRun(t, mustShell(t, c), "true")
	if got := c.Stats(); got != (Stats{Dials: 1, Execs: 2}) {
		t.Errorf("Stats = %+v, want shell + SFTP", got)
	}
}

func checkFile(t *testing.T, p string, data []byte, mode os.FileMode, uid, gid int) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("%s: %d bytes, want %d (%v)", p, len(got), len(data), err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", p, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
	}
	if _, err := os.Lstat(TempName(p)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp file left: %v", err)
	}
}

func TestWriteFileInterrupted(t *testing.T) {
	srv := sshtest.Start(t)
	kh := testKnownHosts(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "target")
	os.WriteFile(p, []byte("old content"), 0o644)
	os.WriteFile(filepath.Join(dir, "neighbour"), []byte("n"), 0o644)

	c := mustDial(t, configFor(srv, kh))
	big := bytes.Repeat([]byte("x"), 64<<20)
	done := make(chan error, 1)
	go func() { done <- c.WriteFile(ctxT(t), p, big, 0o644, -1, -1) }()
	// Kill the connection once data is arriving.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(TempName(p)); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the write never started")
		}
		time.Sleep(time.Millisecond)
	}
	c.conn.Close() // as if omc were killed
	if err := <-done; err == nil {
		t.Fatal("WriteFile succeeded on a closed connection")
	}
	if got, _ := os.ReadFile(p); string(got) != "old content" {
		t.Fatalf("target after an interrupted write: %d bytes", len(got))
	}

	c2 := mustDial(t, configFor(srv, kh))
	if err := c2.WriteFile(ctxT(t), p, []byte("new"), 0o600, -1, -1); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "new" {
		t.Errorf("target = %q", got)
	}
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "neighbour target" {
		t.Errorf("dir holds %v", names)
	}
}

func TestLock(t *testing.T) {
	srv := sshtest.Start(t)
	kh := testKnownHosts(t)
	ctx := ctxT(t)
	// Other tests' sshd run on this machine too: use a lock of our own.
	lockPath := filepath.Join(t.TempDir(), "run", "omc", "lock")
	cfg := configFor(srv, kh)
	cfg.LockPath = lockPath

	a := mustDial(t, cfg)
	if stale, err := a.Lock(ctx, "run A"); err != nil || stale != "" {
		t.Fatalf("first Lock = %q, %v", stale, err)
	}
	if r := mustRun(t, mustShell(t, a), "ls -l /proc/self/fd/9 2>&1 || echo closed"); !strings.Contains(string(r.Stdout), "closed") {
		t.Errorf("scripts inherit the lock fd: %s", r.Stdout)
	}

	b := mustDial(t, cfg)
	_, err := b.Lock(ctx, "run B")
	var le *LockedError
	if !errors.As(err, &le) || le.Holder != "run A" || le.Host != "node1" {
		t.Fatalf("second Lock: %v, want *LockedError held by run A", err)
	}
	if !strings.Contains(err.Error(), "run A") {
		t.Errorf("message: %s", err)
	}

	// A dies without unlocking: its lock goes with its connection, and
	// the next run sees what it left.
	a.Close()
	stale, err := b.Lock(ctx, "run B")
	if err != nil || stale != "run A" {
		t.Fatalf("Lock after the holder closed = %q, %v; want stale \"run A\"", stale, err)
	}
	if err := b.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(lockPath); len(data) != 0 {
		t.Errorf("lock file after Unlock: %q", data)
	}

	// Killed (connection dropped, no clean close): released as well.
	c := mustDial(t, cfg)
	if stale, err := c.Lock(ctx, "run C\nwith two lines"); err != nil || stale != "" {
		t.Fatalf("Lock after Unlock = %q, %v; want no stale", stale, err)
	}
	c.conn.Close()
	d := mustDial(t, cfg)
	deadline := time.Now().Add(5 * time.Second)
	for {
		stale, err = d.Lock(ctx, "run D")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || stale != "run C\nwith two lines" {
		t.Fatalf("Lock after a dropped holder = %q, %v", stale, err)
	}
	if stale, err := d.Lock(ctx, "again"); err != nil || stale != "" {
		t.Errorf("second Lock by the holder = %q, %v", stale, err)
	}
	if err := d.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Unlock(ctx); err != nil {
		t.Errorf("second Unlock: %v", err)
	}
	if got := d.Stats(); got != (Stats{Dials: 1, Execs: 1}) {
		t.Errorf("Stats = %+v", got)
	}
}

// With Sudo the shell and the files both go through `sudo -n`: a sudo
// first in the login PATH logs its arguments, then runs the real one.
func TestSudo(t *testing.T) {
	sudo, err := exec.LookPath("sudo")
	if err != nil {
		testenv.Missing(t, "needs sudo (apt-get install sudo)")
	}
	bin := t.TempDir()
	calls := filepath.Join(bin, "calls")
	// One line per call: the shell's script argument spans lines.
	wrapper := "#!/bin/sh\necho \"$*\" | tr '\\n' ' ' >>" + shell.Quote(calls) + "\necho >>" + shell.Quote(calls) + "\nexec " + shell.Quote(sudo) + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := sshtest.Start(t, sshtest.WithEnv("PATH="+bin+":/usr/bin:/bin"))
	cfg := configFor(srv, testKnownHosts(t))
	cfg.Sudo = true
	c := mustDial(t, cfg)
	ctx := ctxT(t)
	r := mustRun(t, mustShell(t, c), "id -u; echo $HOME; env | grep -c SUDO_ || true")
	if string(r.Stdout) != "0\n/root\n0\n" {
		t.Errorf("stdout %q (stderr %q)", r.Stdout, r.Stderr)
	}
	p := filepath.Join(t.TempDir(), "f")
	if err := c.WriteFile(ctx, p, []byte("via sudo"), 0o600, 1, 1); err != nil {
		t.Fatal(err)
	}
	checkFile(t, p, []byte("via sudo"), 0o600, 1, 1)
	if got, err := c.ReadFile(ctx, p); err != nil || string(got) != "via sudo" {
		t.Errorf("ReadFile = %q, %v", got, err)
	}
	if got := c.Stats(); got != (Stats{Dials: 1, Execs: 2}) {
		t.Errorf("Stats = %+v", got)
	}
	b, _ := os.ReadFile(calls)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "-n env -i PATH=") || !strings.Contains(lines[0], " /bin/sh") ||
		!strings.HasPrefix(lines[1], "-n /") || !strings.HasSuffix(lines[1], "/sftp-server") {
		t.Errorf("sudo ran %q, want `-n env -i … /bin/sh` for the shell, then `-n …/sftp-server` for the files", lines)
	}
	// sshd logs each session: two commands, no sftp subsystem.
	if log := srv.Log(); strings.Contains(log, "Starting session: subsystem") || strings.Count(log, "Starting session: command") != 2 {
		t.Errorf("want two command sessions and no sftp subsystem:\n%s", log)
	}
}

// TestSudoPasswordRequired puts a sudo that wants a password first in the
// login PATH, as on a host where the user lacks NOPASSWD.
func TestSudoPasswordRequired(t *testing.T) {
	bin := t.TempDir()
	fake := "#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := sshtest.Start(t, sshtest.WithEnv("PATH="+bin+":/usr/bin:/bin"))
	cfg := configFor(srv, testKnownHosts(t))
	cfg.Sudo = true
	c := mustDial(t, cfg)
	_, err := mustShell(t, c).Run(ctxT(t), "true")
	if err == nil || !strings.Contains(err.Error(), "a password is required") || !strings.Contains(err.Error(), "node1") {
		t.Fatalf("Run: %v", err)
	}
	// Files need the shell to find sftp-server, so they fail the same way.
	if err := c.WriteFile(ctxT(t), filepath.Join(t.TempDir(), "f"), nil, 0o644, -1, -1); err == nil {
		t.Fatal("WriteFile worked without sudo")
	}
}

// TestFilesSFTPServer uses the sftp-server binary, as hosts without
// internal-sftp do: fsync and posix-rename must work there too.
func TestFilesSFTPServer(t *testing.T) {
	srv := sshtest.Start(t, sshtest.WithSFTPServer())
	c := mustDial(t, configFor(srv, testKnownHosts(t)))
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("old"), 0o644)
	if err := c.WriteFile(ctxT(t), p, []byte("new"), 0o600, 0, 0); err != nil {
		t.Fatal(err)
	}
	checkFile(t, p, []byte("new"), 0o600, 0, 0)
}
