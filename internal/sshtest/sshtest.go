// Package sshtest runs a real OpenSSH server on 127.0.0.1 for tests, and
// a TCP proxy in front of one that can freeze like a dead link (Proxy).
//
// Each Server is its own /usr/sbin/sshd process with a fresh ed25519 host
// key and a fresh authorized client key, both in the test's temp dir. It
// logs at VERBOSE level to LogPath, so a test can count connections
// ("Accepted publickey") and see what the server did. Start skips the test
// when sshd is missing or the test does not run as root, and fails it
// instead under CI (see internal/testenv).
package sshtest

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/testenv"
)

// SSHD is the server binary Start runs.
const SSHD = "/usr/sbin/sshd"

// sshdPath is SSHD; a test points it at a missing file to check what
// Start does on a machine without sshd.
var sshdPath = SSHD

// SFTPServers are the places sftp-server is found on common distributions.
var SFTPServers = []string{"/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/lib/ssh/sftp-server"}

// Server is a running sshd.
type Server struct {
	Addr    string        // "127.0.0.1:PORT"
	Port    int           // TCP port on 127.0.0.1
	User    string        // the current user, who may log in
	KeyFile string        // private key (OpenSSH format, no passphrase) authorized to log in
	HostKey ssh.PublicKey // the server's host key
	LogPath string        // sshd's log (stderr, LogLevel VERBOSE)
	// TracePath is strace's output when the server runs WithTrace.
	TracePath string

	t       testing.TB
	dir     string
	hostKey string // host private key file
	opts    options
	cmd     *exec.Cmd
	// cgroup (WithCPU) holds sshd and its sessions; cgroupUsage reads
	// its processor time.
	cgroup      string
	cgroupUsage func(dir string) (time.Duration, error)
	exited      chan struct{}
}

// Option changes how a server starts.
type Option func(*options)

type options struct {
	newHostKey bool
	sftpServer bool
	config     []string
	env        []string
	trace      bool
	cpu        bool
}

// WithNewHostKey makes the server present a freshly generated host key.
// Start always does; pass it to Restart to simulate a rebuilt server.
func WithNewHostKey() Option { return func(o *options) { o.newHostKey = true } }

// WithSFTPServer serves SFTP with the sftp-server binary instead of
// sshd's internal-sftp.
func WithSFTPServer() Option { return func(o *options) { o.sftpServer = true } }

// WithConfig adds sshd_config lines, e.g. "MaxSessions 2". Use WithEnv
// for SetEnv: sshd honours only the first SetEnv line.
func WithConfig(lines ...string) Option {
	return func(o *options) { o.config = append(o.config, lines...) }
}

// WithEnv makes sshd set NAME=VALUE in every session's environment.
func WithEnv(vars ...string) Option {
	return func(o *options) { o.env = append(o.env, vars...) }
}

// WithTrace runs sshd under strace, which records in TracePath every
// process the server and its sessions start (see Processes). Start skips
// the test when strace is missing (or fails it under CI).
func WithTrace() Option { return func(o *options) { o.trace = true } }

// WithCPU puts sshd in a cgroup of its own, whose processor time CPU
// reports. Start skips the test when no cgroup can be made (or fails it
// under CI).
func WithCPU() Option { return func(o *options) { o.cpu = true } }

// Start runs sshd on a free port of 127.0.0.1 and stops it when the test
// ends. It skips the test when sshd or root is missing, or fails it under
// CI.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		testenv.Missing(t, "sshtest: needs sshd at %s (apt-get install openssh-server)", sshdPath)
	}
	if os.Geteuid() != 0 {
		testenv.Missing(t, "sshtest: needs root: sshd must read its host key and switch to the logged-in user; run the tests as root")
	}
	// sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	s := &Server{t: t, dir: t.TempDir(), User: u.Username}
	s.LogPath = filepath.Join(s.dir, "sshd.log")
	s.KeyFile = filepath.Join(s.dir, "id_ed25519")
	s.hostKey = filepath.Join(s.dir, "ssh_host_ed25519_key")
	for _, o := range opts {
		o(&s.opts)
	}
	if err := s.newHostKey(); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	pub, err := writeKey(s.KeyFile)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	if err := os.WriteFile(s.authorizedKeys(), ssh.MarshalAuthorizedKey(pub), 0o600); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	t.Cleanup(s.Stop)
	// Another process may take the free port before sshd binds it: retry.
	for attempt := 0; ; attempt++ {
		if s.Port, err = freePort(); err != nil {
			t.Fatalf("sshtest: %v", err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		err = s.start()
		if err == nil {
			return s
		}
		if attempt == 2 || !strings.Contains(s.Log(), "Address already in use") {
			t.Fatalf("sshtest: %v", err)
		}
	}
}

// AuthorizeKey lets key log in too (sshd reads the file at each login).
func (s *Server) AuthorizeKey(key ssh.PublicKey) {
	s.t.Helper()
	s.AuthorizeLine(string(ssh.MarshalAuthorizedKey(key)))
}

// AuthorizeLine adds one authorized_keys line as written, options (such
// as restrict,command="...") included.
func (s *Server) AuthorizeLine(line string) {
	s.t.Helper()
	f, err := os.OpenFile(s.authorizedKeys(), os.O_WRONLY|os.O_APPEND, 0o600)
	if err == nil {
		_, err = f.Write([]byte(strings.TrimRight(line, "\n") + "\n"))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		s.t.Fatalf("sshtest: %v", err)
	}
}

// Log returns what sshd has logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// Stop kills the listening sshd. Sessions already open keep running, as
// with a real sshd restart. Stop is idempotent.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	s.cmd = nil
}

// Restart stops sshd and starts it again on the same port with the same
// host key, unless WithNewHostKey is given.
func (s *Server) Restart(opts ...Option) {
	s.t.Helper()
	s.Stop()
	s.opts.newHostKey = false
	for _, o := range opts {
		o(&s.opts)
	}
	if s.opts.newHostKey {
		if err := s.newHostKey(); err != nil {
			s.t.Fatalf("sshtest: %v", err)
		}
	}
	if err := s.start(); err != nil {
		s.t.Fatalf("sshtest: restart: %v", err)
	}
}

func (s *Server) authorizedKeys() string { return filepath.Join(s.dir, "authorized_keys") }

func (s *Server) newHostKey() error {
	_ = os.Remove(s.hostKey)
	pub, err := writeKey(s.hostKey)
	s.HostKey = pub
	return err
}

func (s *Server) start() error {
	subsystem := "internal-sftp"
	if s.opts.sftpServer {
		subsystem = ""
		for _, p := range SFTPServers {
			if _, err := os.Stat(p); err == nil {
				subsystem = p
				break
			}
		}
		if subsystem == "" {
			testenv.Missing(s.t, "sshtest: no sftp-server binary in %s (apt-get install openssh-server)", strings.Join(SFTPServers, ", "))
		}
	}
	conf := []string{
		"ListenAddress " + s.Addr,
		"HostKey " + s.hostKey,
		"AuthorizedKeysFile " + s.authorizedKeys(),
		"PermitRootLogin yes",
		"StrictModes no",
		"UsePAM no",
		"PidFile none",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"AllowTcpForwarding yes",
		"LogLevel VERBOSE",
		"Subsystem sftp " + subsystem,
		// bash sources ~/.bashrc for every command sshd runs when SHLVL
		// says it is a top-level shell; the test user's rc files (pyenv and
		// the like) would then cost seconds per session. Tests measure omc,
		// not the account, so make bash a second-level shell.
		"SetEnv " + strings.Join(append([]string{"SHLVL=1"}, s.opts.env...), " "),
	}
	conf = append(conf, s.opts.config...)
	cfgPath := filepath.Join(s.dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	logf, err := os.OpenFile(s.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfgPath)
	if s.opts.cpu {
		if s.cgroup == "" {
			if s.cgroup, s.cgroupUsage, err = newCgroup(); err != nil {
				testenv.Missing(s.t, "sshtest: WithCPU needs a cgroup to put sshd in: %v", err)
			}
			s.t.Cleanup(func() { s.Stop(); removeCgroup(s.cgroup) })
		}
		// The server and everything it starts are in the cgroup from
		// the start: its processor time counts every process, daemons
		// and orphans included.
		cmd = exec.Command("/bin/sh", "-c", `echo $$ >"$0/cgroup.procs" && exec "$@"`, s.cgroup, sshdPath, "-D", "-e", "-f", cfgPath)
	}
	if s.opts.trace {
		strace, err := exec.LookPath("strace")
		if err != nil {
			testenv.Missing(s.t, "sshtest: WithTrace needs strace (apt-get install strace)")
		}
		s.TracePath = filepath.Join(s.dir, "strace.txt")
		// Processes, not threads: every fork and every exec, with
		// the programs' arguments in full.
		cmd = exec.Command(strace, "-f", "-q", "-s", "4096", "-e", "trace=execve,fork,vfork,clone,clone3",
			"-o", s.TracePath, "--", sshdPath, "-D", "-e", "-f", cfgPath)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("sshd exited: %s", lastLines(s.Log(), 5))
		default:
		}
		if banner(s.Addr) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("sshd did not accept connections on %s within 10s: %s", s.Addr, lastLines(s.Log(), 5))
}

// banner reports whether an SSH server answers on addr.
func banner(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeKey writes a new ed25519 private key (and NAME.pub) to path.
func writeKey(path string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "sshtest")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return sshPub, os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(sshPub), 0o644)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// CPU is the processor time a server started WithCPU has used so far:
// sshd's and that of every process it and its sessions started.
func (s *Server) CPU() (time.Duration, error) {
	if s.cgroup == "" {
		return 0, fmt.Errorf("sshtest: the server was not started WithCPU")
	}
	return s.cgroupUsage(s.cgroup)
}

// Process is one process a traced server started (WithTrace): the
// listening sshd, a connection's sshd processes, the session's shells and
// what they ran.
type Process struct {
	Pid, Parent int
	// Execs are the argv of each program it exec'd, in order; none
	// for a fork that ran on in its parent's program (a subshell).
	Execs  [][]string
	Exited bool
}

// Processes reads the trace of a server started WithTrace: every process
// it has started so far, in the order they appeared.
func (s *Server) Processes() ([]Process, error) {
	if s.TracePath == "" {
		return nil, fmt.Errorf("sshtest: the server was not started WithTrace")
	}
	b, err := os.ReadFile(s.TracePath)
	if err != nil {
		return nil, err
	}
	return parseTrace(string(b))
}

// parseTrace reads strace -f output: "PID call(args) = RESULT", a call
// split by another process's line as "PID call(args <unfinished ...>"
// and "PID <... call resumed>rest) = RESULT", and "PID +++ exited with
// N +++" or "+++ killed by SIG +++".
func parseTrace(text string) ([]Process, error) {
	var procs []Process
	index := map[int]int{}
	add := func(pid, parent int) *Process {
		if i, ok := index[pid]; ok {
			return &procs[i]
		}
		index[pid] = len(procs)
		procs = append(procs, Process{Pid: pid, Parent: parent})
		return &procs[len(procs)-1]
	}
	pending := map[int]string{} // a call's first half, by pid
	for n, line := range strings.Split(text, "\n") {
		pidText, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil {
			return nil, fmt.Errorf("sshtest: trace line %d: %q", n+1, line)
		}
		rest = strings.TrimLeft(rest, " ")
		p := add(pid, 0)
		if strings.HasPrefix(rest, "+++ ") {
			p.Exited = true
			continue
		}
		if first, ok := strings.CutSuffix(rest, " <unfinished ...>"); ok {
			pending[pid] = first
			continue
		}
		if strings.HasPrefix(rest, "<... ") {
			_, tail, _ := strings.Cut(rest, " resumed>")
			rest = pending[pid] + tail
			delete(pending, pid)
		}
		call, _, _ := strings.Cut(rest, "(")
		// strace pads the result to a column: ")    = 12".
		eq := strings.LastIndex(rest, " = ")
		i := strings.LastIndexByte(rest[:max(eq, 0)], ')')
		if eq < 0 || i < len(call) || strings.TrimSpace(rest[i+1:eq]) != "" {
			continue // a signal's line, or a call that never returned
		}
		args, result := rest[len(call)+1:i], rest[eq+len(" = "):]
		result, _, _ = strings.Cut(result, " ")
		switch call {
		case "clone", "clone3", "fork", "vfork":
			child, err := strconv.Atoi(result)
			if err != nil || child <= 0 || strings.Contains(args, "CLONE_THREAD") {
				continue
			}
			add(child, pid).Parent = pid
		case "execve":
			if result != "0" {
				continue // not found on this PATH entry, say
			}
			argv, err := traceArgv(args)
			if err != nil {
				return nil, fmt.Errorf("sshtest: trace line %d: %v", n+1, err)
			}
			p = add(pid, 0)
			p.Execs = append(p.Execs, argv)
		}
	}
	return procs, nil
}

// traceArgv reads execve's arguments as strace prints them:
// "/path", ["arg0", "arg1"], 0x... /* N vars */, with C escapes in the
// strings.
func traceArgv(args string) ([]string, error) {
	_, list, ok := strings.Cut(args, "[")
	if !ok {
		return nil, fmt.Errorf("no argv in %q", args)
	}
	var argv []string
	for {
		list = strings.TrimLeft(list, ", ")
		if strings.HasPrefix(list, "]") || list == "" {
			return argv, nil
		}
		if !strings.HasPrefix(list, `"`) {
			return nil, fmt.Errorf("bad argv in %q", args)
		}
		// The string ends at the first quote no backslash escapes.
		end := 1
		for ; end < len(list); end++ {
			if list[end] == '\\' {
				end++
			} else if list[end] == '"' {
				break
			}
		}
		if end >= len(list) {
			return nil, fmt.Errorf("unterminated string in %q", args)
		}
		a, err := strconv.Unquote(list[:end+1])
		if err != nil {
			a = list[1:end] // an escape Go does not know: keep it raw
		}
		argv = append(argv, a)
		list = list[end+1:]
		list = strings.TrimPrefix(list, "...") // strace cut a long one
	}
}
