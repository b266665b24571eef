package sshtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/testenv"
)

// Agent is a real ssh-agent holding one fresh key, for tests of
// agent-only setups: no key file where omc looks, SSH_AUTH_SOCK set.
type Agent struct {
	Sock string        // its socket; StartAgent sets SSH_AUTH_SOCK to it
	Key  ssh.PublicKey // the key it holds, whose file is gone
}

// StartAgent runs ssh-agent -D on a socket in the test's temp dir, adds a
// new ed25519 key with ssh-add, deletes the key's files, and points
// SSH_AUTH_SOCK at the agent for the rest of the test. It skips the test
// when ssh-agent is missing (fails it under CI).
func StartAgent(t testing.TB) *Agent {
	t.Helper()
	if _, err := exec.LookPath("ssh-agent"); err != nil {
		testenv.Missing(t, "needs ssh-agent and ssh-add (apt-get install openssh-client)")
	}
	if _, err := exec.LookPath("ssh-add"); err != nil {
		testenv.Missing(t, "needs ssh-agent and ssh-add (apt-get install openssh-client)")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 500 {
			t.Fatal("ssh-agent did not create its socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
	keyFile := filepath.Join(dir, "id_agent")
	pub, err := writeKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	add := exec.Command("ssh-add", keyFile)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v: %s", err, out)
	}
	os.Remove(keyFile)
	os.Remove(keyFile + ".pub")
	t.Setenv("SSH_AUTH_SOCK", sock)
	return &Agent{Sock: sock, Key: pub}
}
