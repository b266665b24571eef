package remote

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/sshtest"
)

func TestMain(m *testing.M) {
	// Tests say when an agent is used.
	os.Unsetenv("SSH_AUTH_SOCK")
	os.Exit(m.Run())
}

func testKnownHosts(t testing.TB) *KnownHosts {
	return &KnownHosts{Path: filepath.Join(t.TempDir(), "state", "omc", "known_hosts")}
}

func configFor(s *sshtest.Server, kh *KnownHosts) Config {
	return Config{
		Name:       "node1",
		Address:    "127.0.0.1",
		Port:       s.Port,
		User:       s.User,
		KeyFile:    s.KeyFile,
		KnownHosts: kh,
		Timeout:    5 * time.Second,
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustDial(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := Dial(ctxT(t), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustShell(t testing.TB, c *Client) *Shell {
	t.Helper()
	s, err := c.Shell(ctxT(t))
	if err != nil {
		t.Fatalf("Shell: %v", err)
	}
	return s
}

func mustRun(t testing.TB, s *Shell, script string) Result {
	t.Helper()
	r, err := s.Run(ctxT(t), script)
	if err != nil {
		t.Fatalf("Run(%q): %v", script, err)
	}
	return r
}

// accepted counts sshd's "Accepted publickey" log lines, waiting briefly
// for want of them to appear.
func accepted(s *sshtest.Server, want int) int {
	deadline := time.Now().Add(2 * time.Second)
	for {
		n := strings.Count(s.Log(), "Accepted publickey")
		if n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}
