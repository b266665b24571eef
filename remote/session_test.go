package remote

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/sshtest"
)

// TestNoopSessionProcesses counts what a no-op session starts on the host
// (every fork and exec, traced at sshd) against the floor's session: one
// sh -c of the same probe. omc's may add env (the clean environment),
// flock (the lock), and two forks: the script's subshell and its watcher
// (session.go); on a host whose /bin/sh is not dash, a second /bin/sh.
// Before the watcher, a session was three shells, a cat, a subshell and
// flock more than the floor.
func TestNoopSessionProcesses(t *testing.T) {
	srv := sshtest.Start(t, sshtest.WithTrace())
	cfg := configFor(srv, nil)
	cfg.HostKeys = []string{string(ssh.MarshalAuthorizedKey(srv.HostKey))}
	cfg.LockPath = filepath.Join(t.TempDir(), "lock")
	const probe = "[ -d /proc ] && echo probe"

	omc := func() {
		c := mustDial(t, cfg)
		if _, r, err := c.LockRun(ctxT(t), "test", probe); err != nil || string(r.Stdout) != "probe\n" {
			t.Fatalf("LockRun = %q, %v", r.Stdout, err)
		}
		if err := c.UnlockClose(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	floor := func() {
		kb, err := os.ReadFile(srv.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := ssh.ParsePrivateKey(kb)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ssh.Dial("tcp", srv.Addr, &ssh.ClientConfig{User: srv.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: ssh.FixedHostKey(srv.HostKey), HostKeyAlgorithms: []string{srv.HostKey.Type()}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if out, err := s.Output("exec /bin/sh -c '" + probe + "'"); err != nil || string(out) != "probe\n" {
			t.Fatalf("floor: %q, %v", out, err)
		}
	}
	// The first session of each kind makes the lock's directory and file.
	omc()
	sessionProcesses(t, srv, floor)
	fp, fe := sessionProcesses(t, srv, floor)
	op, oe := sessionProcesses(t, srv, omc)

	wantExecs := len(execs(fp)) + 2 // env, flock
	if sh, _ := filepath.EvalSymlinks("/bin/sh"); filepath.Base(sh) != "dash" {
		wantExecs++ // exec /bin/sh -s
	}
	t.Logf("floor: %d processes, execs %s", len(fp), fe)
	t.Logf("omc:   %d processes, execs %s", len(op), oe)
	if len(op) > len(fp)+3 || len(execs(op)) > wantExecs {
		t.Errorf("a no-op session started %d processes and %d execs on the host, want at most %d and %d (the floor's %d and %d, and env, flock, a subshell, the watcher):\nfloor: %s\nomc:   %s",
			len(op), len(execs(op)), len(fp)+3, wantExecs, len(fp), len(execs(fp)), fe, oe)
	}
	if !strings.Contains(oe, "flock") {
		t.Errorf("omc's session ran no flock: %s", oe)
	}
}

// sessionProcesses runs session and returns the processes it started on
// the host below sshd (the login shell and what it ran), once they have
// all ended, and the programs they exec'd, as text.
func sessionProcesses(t *testing.T, srv *sshtest.Server, session func()) ([]sshtest.Process, string) {
	t.Helper()
	before, err := srv.Processes()
	if err != nil {
		t.Fatal(err)
	}
	session()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		all, err := srv.Processes()
		if err != nil {
			t.Fatal(err)
		}
		procs := all[len(before):]
		ended := true
		for _, p := range procs {
			ended = ended && p.Exited
		}
		if ended || time.Now().After(deadline) {
			if !ended {
				t.Fatalf("the session's processes have not all ended within 10s")
			}
			sess := belowSSHD(procs)
			if len(sess) == 0 {
				t.Fatalf("no session processes in the trace: %+v", procs)
			}
			var progs []string
			for _, p := range sess {
				for _, argv := range p.Execs {
					progs = append(progs, filepath.Base(argv[0]))
				}
			}
			return sess, strings.Join(progs, " ")
		}
	}
}

// belowSSHD keeps the processes that are not sshd's own: the first one to
// exec something else (the login shell), and its descendants.
func belowSSHD(procs []sshtest.Process) []sshtest.Process {
	in := map[int]bool{}
	var out []sshtest.Process
	sshd, _ := exec.LookPath(sshtest.SSHD)
	for _, p := range procs {
		own := in[p.Parent]
		if !own && len(p.Execs) > 0 && p.Execs[0][0] != sshd && p.Execs[0][0] != filepath.Base(sshd) {
			own = true
		}
		if own {
			in[p.Pid] = true
			out = append(out, p)
		}
	}
	return out
}

func execs(procs []sshtest.Process) [][]string {
	var all [][]string
	for _, p := range procs {
		all = append(all, p.Execs...)
	}
	return all
}

// TestSessionScriptReadsTheRestOfItsInput: the session's shell runs the
// exec's first input and then its input, whether it reads the rest
// itself (dash) or hands it to a new /bin/sh (other shells, as bash); a
// descriptor the first input opened (the lock's) stays open.
func TestSessionScriptReadsTheRestOfItsInput(t *testing.T) {
	for _, sh := range []string{"/bin/dash", "/bin/bash"} {
		t.Run(filepath.Base(sh), func(t *testing.T) {
			if _, err := os.Stat(sh); err != nil {
				t.Skipf("no %s", sh)
			}
			cmd := exec.Command(sh, "-c", sessionScript, "sh", "echo first; exec 7>&1")
			cmd.Stdin = strings.NewReader("{\necho second >&7\n}\n{\nexit 4\n}\necho never\n")
			out, err := cmd.Output()
			if string(out) != "first\nsecond\n" || cmd.ProcessState.ExitCode() != 4 {
				t.Errorf("%s: output %q, exit %d (%v); want first, second, exit 4", sh, out, cmd.ProcessState.ExitCode(), err)
			}
		})
	}
}
