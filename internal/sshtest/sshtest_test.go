package sshtest

import (
	"bytes"
	"os"
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
