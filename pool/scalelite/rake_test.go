package scalelite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/fake"
	"github.com/omc-coop/omc/remote"
	"golang.org/x/crypto/ssh"
)

// The rake tasks' answers come from the FAKE Scalelite (pool/fake),
// whose servers are FAKE BBB nodes on 127.0.0.1 (servers:panic ends their
// meetings).
func rakeFake(t *testing.T) (*fake.Scalelite, *Rake, *fake.Node) {
	sl := fake.NewScalelite(t, "lb-secret-unused-by-rake")
	n := fake.NewBBB(t).AddNode("bbb1", "abc", "3.0.4")
	return sl, &Rake{Runner: fake.RakeRunner{Scalelite: sl}}, n
}

func lastTask(sl *fake.Scalelite, back int) string {
	c := sl.RakeCalls()
	return c[len(c)-back][5]
}

func TestRakeServers(t *testing.T) {
	ctx := context.Background()
	sl, r, node := rakeFake(t)
	if l, err := r.List(ctx); err != nil || len(l) != 0 {
		t.Fatalf("empty: %v %v", l, err)
	}
	s, err := r.Add(ctx, pool.ServerSpec{URL: node.URL, Secret: "abc", LoadMultiplier: 2, Tag: "eu"})
	if err != nil || s.ID == "" || s.URL != node.URL || s.State != pool.Disabled || s.LoadMultiplier != 2 || s.Tag != "eu" || s.Online {
		t.Fatalf("add: %+v %v", s, err)
	}
	if got := lastTask(sl, 2); got != "servers:add["+node.URL+",abc,2,eu]" {
		t.Fatalf("argv: %q", got)
	}
	sec, empty := "def", ""
	s, err = r.Update(ctx, s.ID, pool.ServerUpdate{Secret: &sec, Tag: &empty, State: pool.Enable})
	if err != nil || s.Secret != "def" || s.LoadMultiplier != 2 || s.Tag != "" || s.State != pool.Enabled {
		t.Fatalf("update: %+v %v", s, err)
	}
	var tasks []string
	for _, a := range sl.RakeCalls() {
		tasks = append(tasks, a[5])
	}
	id := s.ID
	if !strings.Contains(strings.Join(tasks, " "), "servers:update["+id+",def,2] servers:tag["+id+"] servers:enable["+id+"]") {
		t.Fatalf("tasks: %q", tasks)
	}
	sl.SetLoad(id, 12)
	if _, err := r.Update(ctx, id, pool.ServerUpdate{State: pool.Disable}); err == nil || !strings.Contains(err.Error(), "still has load 12") {
		t.Fatalf("disable with load: %v", err)
	}
	node.SetSecret("def")
	// servers:panic ends the meetings Scalelite's table tracks.
	sl.CreateMeeting(node, "class", 3, 1)
	if err := r.Panic(ctx, id, true); err != nil || sl.Servers()[0].State != pool.Enabled || !node.Ending("class") {
		t.Fatalf("panic keep: %v %+v", err, sl.Servers()[0])
	}
	if got := lastTask(sl, 1); got != "servers:panic["+id+",true]" {
		t.Fatalf("argv: %q", got)
	}
	if err := r.Panic(ctx, id, false); err != nil || sl.Servers()[0].State != pool.Disabled {
		t.Fatalf("panic: %v %+v", err, sl.Servers()[0])
	}
	if err := r.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, id); !errors.Is(err, pool.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := r.Add(ctx, pool.ServerSpec{URL: "https://x/api", Secret: "a,b"}); err == nil {
		t.Fatal("a comma reached rake")
	}
}

func TestRakeTenants(t *testing.T) {
	ctx := context.Background()
	sl, r, _ := rakeFake(t)
	if _, err := r.Tenants(ctx); !errors.Is(err, pool.ErrMultitenancyDisabled) {
		t.Fatalf("got %v", err)
	}
	sl.SetMultitenancy(true)
	tn, err := r.AddTenant(ctx, "school", []string{"s1", "s2"})
	if err != nil || tn.ID == "" || tn.Name != "school" || strings.Join(tn.Secrets, " ") != "s1 s2" {
		t.Fatalf("add: %+v %v", tn, err)
	}
	tn, err = r.UpdateTenant(ctx, tn.ID, "", []string{"s3"})
	if err != nil || tn.Name != "school" || strings.Join(tn.Secrets, " ") != "s3" {
		t.Fatalf("update: %+v %v", tn, err)
	}
	if got := lastTask(sl, 2); got != "tenants:update["+tn.ID+",,s3]" {
		t.Fatalf("argv %q", got)
	}
	if err := r.DeleteTenant(ctx, tn.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteTenant(ctx, tn.ID); !errors.Is(err, pool.ErrNotFound) {
		t.Fatalf("got %v", err)
	}
}

// Through a real sshd: a fake docker on the PATH records its argv, one
// argument per line, so the test sees that each rake task with its
// arguments arrived as one element, and that -t and -i were not passed.
func TestRakeOverSSH(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(bin, 0o755)
	log := filepath.Join(dir, "argv.log")
	script := `#!/bin/sh
# FAKE docker for tests: records argv, answers like Scalelite's rake.
{ echo "argc=$#"; for a in "$@"; do echo "arg=$a"; done; } >> ` + log + `
case "$6" in
servers) printf 'id: sv1\n\turl: https://bbb1.example.org/bigbluebutton/api\n\tsecret: abc\n\tdisabled\n\tload: unavailable\n\tload multiplier: 1.0\n\tbbb version: \n\ttag: \n\toffline\n' ;;
servers:add*) printf 'OK\nid: sv1\n' ;;
*) echo "ERROR: No server found with id: x" >&2; exit 1 ;;
esac
`
	os.WriteFile(filepath.Join(bin, "docker"), []byte(script), 0o755)
	srv := sshtest.Start(t)
	c, err := remote.Dial(context.Background(), remote.Config{Name: "scalelite", Address: "127.0.0.1", Port: srv.Port, User: srv.User,
		KeyFile: srv.KeyFile, HostKeys: []string{string(authorized(srv))}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := &Rake{Runner: SSHRunner{Client: c}, Docker: filepath.Join(bin, "docker")}
	s, err := r.Add(context.Background(), pool.ServerSpec{URL: "https://bbb1.example.org/bigbluebutton/api", Secret: "abc"})
	if err != nil || s.ID != "sv1" || s.URL != "https://bbb1.example.org/bigbluebutton/api" || s.State != pool.Disabled {
		t.Fatalf("add: %+v %v", s, err)
	}
	if err := r.Delete(context.Background(), "x"); !errors.Is(err, pool.ErrNotFound) {
		t.Fatalf("delete: %v", err)
	}
	b, _ := os.ReadFile(log)
	want := "argc=6\narg=exec\narg=scalelite-api\narg=bundle\narg=exec\narg=rake\narg=servers:add[https://bbb1.example.org/bigbluebutton/api,abc,1]\n" +
		"argc=6\narg=exec\narg=scalelite-api\narg=bundle\narg=exec\narg=rake\narg=servers\n"
	if !strings.HasPrefix(string(b), want) {
		t.Fatalf("argv log:\n%s", b)
	}
}

func authorized(s *sshtest.Server) []byte {
	return []byte(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey))))
}
