package scalelite

import (
	"context"
	"errors"
	"fmt"
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
-T) printf 'rake servers:add[url,secret,load_multiplier,tag]  # Add\nrake servers\nrake servers:update[id,secret,load_multiplier,tag]\nrake servers:tag[id,tag]\nrake servers:enable[id]\nrake servers:cordon[id]\nrake servers:disable[id]\nrake servers:remove[id]\nrake servers:panic[id,keep_state,skip_end_calls]\nrake tenants\nrake tenants:add[name,secrets]\nrake tenants:update[id,name,secrets]\nrake tenants:remove[id]\n' ;;
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
	want := "argc=6\narg=exec\narg=scalelite-api\narg=bundle\narg=exec\narg=rake\narg=-T\n" +
		"argc=6\narg=exec\narg=scalelite-api\narg=bundle\narg=exec\narg=rake\narg=servers:add[https://bbb1.example.org/bigbluebutton/api,abc,1]\n" +
		"argc=6\narg=exec\narg=scalelite-api\narg=bundle\narg=exec\narg=rake\narg=servers\n"
	if !strings.HasPrefix(string(b), want) {
		t.Fatalf("argv log:\n%s", b)
	}
}

func authorized(s *sshtest.Server) []byte {
	return []byte(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey))))
}

// Every supported version's output, the logger-prefixed ones (1.6.12 to
// 1.7.0) included, reads the same: before this, 1.7.0 listed 0 servers
// and servers:add "printed no id".
func TestRakeEverySupportedVersion(t *testing.T) {
	for _, v := range []string{"1.6.0", "1.6.6", "1.6.11", "1.6.12", "1.6.12.1", "1.7.0", "1.7.1", "1.8.0", "1.8.5"} {
		t.Run(v, func(t *testing.T) {
			ctx := context.Background()
			sl, r, node := rakeFake(t)
			sl.SetRakeVersion(v)
			sl.SetMultitenancy(true)
			s, err := r.Add(ctx, pool.ServerSpec{URL: node.URL, Secret: "abc", LoadMultiplier: 1.5, Tag: "eu"})
			if err != nil || s.ID == "" || s.Tag != "eu" || s.LoadMultiplier != 1.5 || s.State != pool.Disabled {
				t.Fatalf("add: %+v %v", s, err)
			}
			if s, err = r.Update(ctx, s.ID, pool.ServerUpdate{State: pool.Enable}); err != nil || s.State != pool.Enabled {
				t.Fatalf("enable: %+v %v", s, err)
			}
			sl.SetLoad(s.ID, 15)
			l, err := r.List(ctx)
			if err != nil || len(l) != 1 || l[0].ID != s.ID || l[0].URL != node.URL || l[0].Secret != "abc" || !l[0].LoadKnown || l[0].Load != 15 || !l[0].Online {
				t.Fatalf("list: %+v %v", l, err)
			}
			if s, err = r.Update(ctx, s.ID, pool.ServerUpdate{State: pool.Cordon}); err != nil || s.State != pool.Cordoned {
				t.Fatalf("cordon: %+v %v", s, err)
			}
			if err := r.Delete(ctx, s.ID); err != nil {
				t.Fatal(err)
			}
			if err := r.Delete(ctx, s.ID); !errors.Is(err, pool.ErrNotFound) || strings.Contains(err.Error(), "INFO --") {
				t.Fatalf("delete twice: %v", err)
			}
			tn, err := r.AddTenant(ctx, "school", []string{"s1"})
			if err != nil || tn.Name != "school" {
				t.Fatalf("tenant: %+v %v", tn, err)
			}
			if tn, err = r.UpdateTenant(ctx, tn.ID, "", []string{"s2"}); err != nil || tn.Secrets[0] != "s2" {
				t.Fatalf("update tenant: %+v %v", tn, err)
			}
			if err := r.DeleteTenant(ctx, "nope"); !errors.Is(err, pool.ErrNotFound) {
				t.Fatalf("tenant not found: %v", err)
			}
			// rake -T once, before the first write.
			if c := sl.RakeCalls(); c[0][5] != "-T" || strings.Count(fmt.Sprint(c), "-T") != 1 {
				t.Fatalf("calls: %v", c)
			}
		})
	}
}

// Scalelite before 1.6.0 has no servers:tag (and before 1.5.1 no
// tenants:update, and until 1.5.1.5 "No server found" exits 0): refused,
// with its reason, before any write.
func TestRakeRefusesVersionsBefore160BeforeWriting(t *testing.T) {
	for _, v := range []string{"1.5.0", "1.5.1", "1.5.1.6", "1.5.3"} {
		t.Run(v, func(t *testing.T) {
			ctx := context.Background()
			sl, r, node := rakeFake(t)
			sl.SetRakeVersion(v)
			sl.SetMultitenancy(true)
			_, err := r.Add(ctx, pool.ServerSpec{URL: node.URL, Secret: "abc"})
			if err == nil || !strings.Contains(err.Error(), "older than 1.6.0") || !strings.Contains(err.Error(), "servers:tag[id,tag]") {
				t.Fatalf("add: %v", err)
			}
			if _, err := r.AddTenant(ctx, "school", []string{"s"}); err == nil || !strings.Contains(err.Error(), "older than 1.6.0") {
				t.Fatalf("tenant: %v", err)
			}
			if sl.Writes() != 0 || len(sl.Servers()) != 0 {
				t.Fatalf("written: %d", sl.Writes())
			}
			for _, c := range sl.RakeCalls() {
				if c[5] != "-T" {
					t.Fatalf("ran %s", c[5])
				}
			}
		})
	}
}
