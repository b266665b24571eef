package provision

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// countingConn is a host that answers every probe with nothing and
// counts, with the others, how many hosts are between Dial and Close.
type countingConn struct {
	localConn
	open *inFlight
}

func (c *countingConn) Close() error { c.open.add(-1); return nil }

type inFlight struct {
	mu        sync.Mutex
	now, most int
	built     []string
}

func (f *inFlight) add(d int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now += d
	f.most = max(f.most, f.now)
}

// A host's steps are built when its turn comes: with Checking 2, never
// more than two hosts hold theirs; a host whose steps fail to build
// fails alone, with that error, and is never dialled.
func TestRunBuildsStepsWhenTheHostsTurnComes(t *testing.T) {
	d := tempDir(t)
	f := &inFlight{}
	var hosts []Host
	for i := range 6 {
		name := fmt.Sprintf("h%d", i)
		hosts = append(hosts, Host{
			Name: name,
			Build: func() ([]Step, error) {
				f.add(1) // held from here until the connection closes
				f.mu.Lock()
				f.built = append(f.built, name)
				f.mu.Unlock()
				if i == 3 {
					f.add(-1)
					return nil, errors.New("omc.yaml:9:13: node h3: broken template")
				}
				return []Step{&FileStep{Path: d + "/" + name, Content: []byte("same\n"), Mode: 0o644, Owner: "root", Group: "root"}}, nil
			},
			Dial: func(context.Context) (Conn, error) {
				if i == 3 {
					t.Error("dialled a host whose steps did not build")
				}
				return &countingConn{open: f}, nil
			},
		})
	}
	rs := Run(context.Background(), hosts, Options{Mode: Plan, Parallel: 1, Checking: 2})
	for i, r := range rs {
		switch {
		case i == 3 && (r.Err == nil || !strings.Contains(r.Err.Error(), "node h3: broken template")):
			t.Errorf("h3: %v", r.Err)
		case i != 3 && (r.Err != nil || r.Changed != 1):
			t.Errorf("%s: %+v", r.Host, r)
		}
	}
	if len(f.built) != 6 || f.most > 2 {
		t.Fatalf("built %v, at most %d at once (want 6 built, at most 2)", f.built, f.most)
	}
}

// Parallel bounds the hosts changing at once, not the hosts looking: with
// Parallel 2 and six hosts out of sync, all six connect and check at
// once, and then change two at a time. Each change waits (bounded) until
// all six hosts have dialled, so a run that held hosts back to two in
// flight would time out there and fail the count.
func TestParallelBoundsChangesNotChecks(t *testing.T) {
	d := tempDir(t)
	for _, sub := range []string{"dialled", "active"} {
		if err := os.Mkdir(filepath.Join(d, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f := &inFlight{}
	var hosts []Host
	for i := range 6 {
		name := fmt.Sprintf("h%d", i)
		run := fmt.Sprintf(`d=%[1]s; i=0
while [ "$(ls $d/dialled | wc -l)" -lt 6 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
ls $d/dialled | wc -l >> $d/dialled-seen
mkdir $d/active/%[2]s; ls $d/active | wc -l >> $d/active-seen; sleep 0.1; rmdir $d/active/%[2]s`, d, name)
		hosts = append(hosts, Host{
			Name:  name,
			Steps: []Step{&CommandStep{Label: "change", Run: run, Unless: "false"}},
			Dial: func(context.Context) (Conn, error) {
				f.add(1)
				if err := os.WriteFile(filepath.Join(d, "dialled", name), nil, 0o644); err != nil {
					return nil, err
				}
				return &countingConn{open: f}, nil
			},
		})
	}
	for _, r := range Run(context.Background(), hosts, Options{Mode: Apply, Parallel: 2}) {
		if r.Err != nil || r.Changed != 1 {
			t.Fatalf("%s: %+v", r.Host, r)
		}
	}
	read := func(name string) []string {
		b, err := os.ReadFile(filepath.Join(d, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(b))
	}
	for _, n := range read("dialled-seen") {
		if n != "6" {
			t.Fatalf("a change ran with %s hosts dialled, want all 6 checked first: %v", n, read("dialled-seen"))
		}
	}
	most := 0
	for _, n := range read("active-seen") {
		most = max(most, int(n[0]-'0'))
	}
	if most < 1 || most > 2 || f.most != 6 {
		t.Fatalf("%d changing at once (want at most Parallel=2), %d connected at once (want 6)", most, f.most)
	}
}

// Hosts in flight share one copy of each distinct content, and its hash.
func TestContentCacheKeepsEachContentOnce(t *testing.T) {
	c := &contentCache{}
	a := &FileStep{Path: "/a", Content: []byte("alike\n")}
	b := &FileStep{Path: "/b", Content: []byte("alike\n")}
	other := &FileStep{Path: "/c", Content: []byte("other\n")}
	c.shareAll([]Step{a, other})
	c.shareAll([]Step{b, &DirStep{Path: "/d"}})
	if &a.Content[0] != &b.Content[0] || &a.Content[0] == &other.Content[0] {
		t.Fatal("alike contents are not one copy, or unlike ones are")
	}
	if a.contentSum() != sha256.Sum256([]byte("alike\n")) || other.contentSum() != sha256.Sum256([]byte("other\n")) {
		t.Fatal("shared hash differs from the content's")
	}
	b.Content = []byte("changed\n") // no longer the shared copy
	if b.contentSum() != sha256.Sum256([]byte("changed\n")) {
		t.Fatal("hash of a content changed after sharing")
	}
}
