package remote

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newKey(t testing.TB) ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKnownHostsAddForget(t *testing.T) {
	kh := testKnownHosts(t)
	a, b, c := newKey(t), newKey(t), newKey(t)
	if err := kh.Forget("10.0.0.1", 22); err != nil {
		t.Fatalf("Forget on a missing file: %v", err)
	}
	if err := kh.Add("10.0.0.1", 22, a); err != nil {
		t.Fatal(err)
	}
	if err := kh.Add("10.0.0.1", 2222, b); err != nil {
		t.Fatal(err)
	}
	if err := kh.Add("2001:db8::1", 22, c); err != nil {
		t.Fatal(err)
	}
	// A user's line naming several hosts, and a hashed one.
	f, _ := os.OpenFile(kh.Path, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "# comment\n10.0.0.1,other.example %s", ssh.MarshalAuthorizedKey(a))
	fmt.Fprintf(f, "%s %s", knownhosts.HashHostname("10.0.0.1"), ssh.MarshalAuthorizedKey(a))
	f.Close()

	check := func(host string, port int, key ssh.PublicKey, want bool) {
		t.Helper()
		got, err := kh.known(hostPort(host, port))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, k := range got {
			found = found || keysEqual(k.Key, key)
		}
		if found != want {
			t.Errorf("%s:%d has key: %v, want %v", host, port, found, want)
		}
	}
	check("10.0.0.1", 22, a, true)
	check("10.0.0.1", 2222, b, true)
	check("10.0.0.1", 2222, a, false)
	check("2001:db8::1", 22, c, true)

	if err := kh.Forget("10.0.0.1", 22); err != nil {
		t.Fatal(err)
	}
	check("10.0.0.1", 22, a, false)
	check("10.0.0.1", 2222, b, true)
	check("other.example", 22, a, true)
	data, _ := os.ReadFile(kh.Path)
	if !strings.Contains(string(data), "# comment\n") || strings.Contains(string(data), "|1|") {
		t.Errorf("after Forget:\n%s", data)
	}

	// Add replaces: a provider's fresh key supersedes what was there.
	if err := kh.Add("10.0.0.1", 2222, c); err != nil {
		t.Fatal(err)
	}
	check("10.0.0.1", 2222, b, false)
	check("10.0.0.1", 2222, c, true)
}

func TestKnownHostsConcurrent(t *testing.T) {
	kh := testKnownHosts(t)
	var wg sync.WaitGroup
	keys := make([]ssh.PublicKey, 40)
	for i := range keys {
		keys[i] = newKey(t)
	}
	for i, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if added, err := (&KnownHosts{Path: kh.Path}).record(hostPort(fmt.Sprintf("10.0.1.%d", i), 22), k); err != nil || !added {
				t.Error(added, err)
			}
		}()
	}
	wg.Wait()
	data, _ := os.ReadFile(kh.Path)
	if n := strings.Count(string(data), "\n"); n != len(keys) {
		t.Errorf("%d lines, want %d", n, len(keys))
	}

	// Other processes: the test binary adds through the same lock.
	if os.Getenv("OMC_KH_CHILD") != "" {
		return
	}
	var cmds []*exec.Cmd
	for i := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKnownHostsChild$")
		cmd.Env = append(os.Environ(), "OMC_KH_CHILD="+kh.Path, fmt.Sprintf("OMC_KH_N=%d", i))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	data, _ = os.ReadFile(kh.Path)
	if n := strings.Count(string(data), "\n"); n != len(keys)+4*10 {
		t.Errorf("%d lines after 4 processes, want %d", n, len(keys)+40)
	}
	if fi, _ := os.Stat(kh.Path); fi.Mode() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
}

// TestKnownHostsChild is run by TestKnownHostsConcurrent in other processes.
func TestKnownHostsChild(t *testing.T) {
	path := os.Getenv("OMC_KH_CHILD")
	if path == "" {
		t.Skip("helper process")
	}
	kh := &KnownHosts{Path: path}
	for i := range 10 {
		if err := kh.Add(fmt.Sprintf("10.0.2%s.%d", os.Getenv("OMC_KH_N"), i), 22, newKey(t)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDefaultKnownHostsPath(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/x/state")
	if got := DefaultKnownHostsPath(); got != "/x/state/omc/known_hosts" {
		t.Errorf("got %s", got)
	}
	t.Setenv("XDG_STATE_HOME", "relative")
	t.Setenv("HOME", "/home/u")
	if got := DefaultKnownHostsPath(); got != filepath.Join("/home/u", ".local/state/omc/known_hosts") {
		t.Errorf("got %s", got)
	}
}
