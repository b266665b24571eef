package robot

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/providers/robot/fake"
)

const (
	testUser     = "#ws+omcTestUser"
	testPassword = "robot-pw-7f3e9a1c5b2d"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is one test's world: a fake Robot account, a provider pointed at it
// and a stand-in installer that checks the server booted into rescue.
type env struct {
	t        *testing.T
	fake     *fake.Fake
	p        *Provider
	opts     Options
	stderr   *syncBuffer
	inst     *recordingInstaller
	waits    []string
	mu       sync.Mutex
	requests int
}

type recordingInstaller struct {
	mu      sync.Mutex
	f       *fake.Fake
	targets []Target
	err     error
	// inRescue records, per install, whether the fake server had booted
	// into rescue with the operator's key when the install ran.
	inRescue []bool
	numbers  map[string]int // node → server number, set by the test
}

func (r *recordingInstaller) Install(_ context.Context, t Target) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.targets = append(r.targets, t)
	ok := false
	for _, n := range r.numbers {
		if v, found := r.f.Server(n); found && v.IP == t.Address && v.InRescue {
			ok = true
		}
	}
	r.inRescue = append(r.inRescue, ok)
	return r.err
}

func newEnv(t *testing.T, mod ...func(*Options)) *env {
	t.Helper()
	f, endpoint := fake.Serve(t, testUser, testPassword)
	f.AddProduct("EX44", "Dedicated Server EX44", "39.0000", "0.0000", "FSN1", "NBG1", "HEL1")
	f.AddMarket(2366354, "SB106", "Intel Core i7-6700", 64, "2x SSD SATA 512 GB", "FSN1-DC18", "50.4200")
	e := &env{t: t, fake: f, stderr: &syncBuffer{}}
	e.inst = &recordingInstaller{f: f, numbers: map[string]int{}}
	e.opts = Options{
		User: testUser, Password: testPassword, Endpoint: endpoint,
		StateDir: t.TempDir(), Stderr: e.stderr, PublicKey: testPublicKey(t),
		Installer: e.inst, ResetSettle: -1, PollInterval: 5 * time.Millisecond, OrderTimeout: 5 * time.Second,
		RetryBackoff: time.Millisecond,
		WaitSSH: func(_ context.Context, addr string, keys []string) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.waits = append(e.waits, addr+" "+strings.Join(keys, ","))
			return nil
		},
		OnRequest: func(string, string) { e.mu.Lock(); e.requests++; e.mu.Unlock() },
	}
	for _, m := range mod {
		m(&e.opts)
	}
	e.p = New(e.opts)
	return e
}

// again is a fresh provider on the same state and account: the next run.
func (e *env) again(mod ...func(*Options)) *Provider {
	o := e.opts
	for _, m := range mod {
		m(&o)
	}
	return New(o)
}

func testPublicKey(t *testing.T) string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return providers.AuthorizedKey(k)
}

func load(t *testing.T, src string) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.LoadReader("omc.yaml", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func nodesOf(inv *inventory.Inventory, names ...string) []*inventory.Node {
	var out []*inventory.Node
	for _, n := range inv.Nodes() {
		for _, want := range names {
			if n.Name == want {
				out = append(out, n)
			}
		}
	}
	return out
}

// noSecrets fails when the credentials show in any of texts.
func noSecrets(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, testPassword) || strings.Contains(s, testUser) {
			t.Fatalf("credentials shown in:\n%s", s)
		}
	}
}
