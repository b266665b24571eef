package sshtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func login(t *testing.T, s *Server) {
	t.Helper()
	key, err := os.ReadFile(s.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey),
		Timeout:         5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.Output("echo $SHLVL")
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("exec: %q %v", out, err)
	}
}

func TestRestart(t *testing.T) {
	s := Start(t)
	login(t, s)
	port, key := s.Port, s.HostKey
	s.Restart()
	if s.Port != port || !bytes.Equal(s.HostKey.Marshal(), key.Marshal()) {
		t.Fatal("Restart changed the port or the host key")
	}
	login(t, s)
	s.Restart(WithNewHostKey())
	if s.Port != port || bytes.Equal(s.HostKey.Marshal(), key.Marshal()) {
		t.Fatal("Restart(WithNewHostKey()) kept the key or changed the port")
	}
	login(t, s)
	if n := strings.Count(s.Log(), "Accepted publickey"); n != 3 {
		t.Errorf("log has %d logins, want 3", n)
	}
	s.Stop()
	s.Stop()
}

// TestHelperStartWithoutSSHD is run by TestMissingSSHDFailsInCI in a
// child process: Start on a machine whose sshd is missing.
func TestHelperStartWithoutSSHD(t *testing.T) {
	if os.Getenv("OMC_SSHTEST_HELPER") == "" {
		t.Skip("helper process")
	}
	sshdPath = filepath.Join(t.TempDir(), "no-sshd-here")
	Start(t)
	t.Log("Start returned")
}

// Without sshd the real-sshd tests skip on a developer's machine but fail
// under CI, naming sshd, so a broken CI machine cannot pass.
func TestMissingSSHDFailsInCI(t *testing.T) {
	run := func(ci string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStartWithoutSSHD$", "-test.v")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CI=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "OMC_SSHTEST_HELPER=1", "CI="+ci)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("true")
	if err == nil || !strings.Contains(out, "--- FAIL: TestHelperStartWithoutSSHD") || strings.Contains(out, "Start returned") {
		t.Fatalf("CI=true: want a failure, got %v:\n%s", err, out)
	}
	if !strings.Contains(out, "needs sshd at ") || !strings.Contains(out, "no-sshd-here") || !strings.Contains(out, "openssh-server") {
		t.Fatalf("CI=true: the failure should name the missing sshd and its package:\n%s", out)
	}
	out, err = run("")
	if err != nil || !strings.Contains(out, "--- SKIP: TestHelperStartWithoutSSHD") || !strings.Contains(out, "needs sshd at ") {
		t.Fatalf("no CI: want a skip naming sshd, got %v:\n%s", err, out)
	}
}

// parseTrace follows forks (not threads), execs that succeeded, calls
// split by another process's line, strace's padded results and exits.
func TestParseTrace(t *testing.T) {
	const trace = `100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 101
101 execve("/usr/bin/env", ["env", "-i", "/bin/sh", "-c", "echo \"a b\"\n"], 0x5 /* 4 vars */) = 0
101 execve("/usr/local/bin/sh", ["sh"], 0x5 /* 1 var */) = -1 ENOENT (No such file or directory)
101 vfork( <unfinished ...>
102 execve("/usr/bin/flock", ["flock", "-n", "9"], 0x5 /* 4 vars */ <unfinished ...>
101 <... vfork resumed>)              = 102
102 <... execve resumed>)             = 0
101 clone(child_stack=0x7, flags=CLONE_VM|CLONE_THREAD|CLONE_SIGHAND, tls=0x1) = 103
101 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=102, si_status=0} ---
102 +++ exited with 0 +++
101 +++ killed by SIGTERM +++
`
	procs, err := parseTrace(trace)
	if err != nil {
		t.Fatal(err)
	}
	want := []Process{
		{Pid: 100},
		{Pid: 101, Parent: 100, Execs: [][]string{{"env", "-i", "/bin/sh", "-c", "echo \"a b\"\n"}}, Exited: true},
		{Pid: 102, Parent: 101, Execs: [][]string{{"flock", "-n", "9"}}, Exited: true},
	}
	if !reflect.DeepEqual(procs, want) {
		t.Errorf("parseTrace:\n got %+v\nwant %+v", procs, want)
	}
}
