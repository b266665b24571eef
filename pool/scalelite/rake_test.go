package scalelite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/remote"
	"golang.org/x/crypto/ssh"
)

// rakeEmu answers like Scalelite's rake tasks (lib/tasks/servers.rake,
// tenants.rake), printing what they print, on an in-memory pool. It is
// a FAKE for tests.
type rakeEmu struct {
	argvs   [][]string
	servers []map[string]string
	tenants []map[string]string
	n       int
	mt      bool
}

var taskRe = regexp.MustCompile(`^([a-zA-Z:_]+)(?:\[(.*)\])?$`)

func (e *rakeEmu) Run(_ context.Context, argv []string) ([]byte, []byte, int, error) {
	e.argvs = append(e.argvs, argv)
	if len(argv) != 7 || strings.Join(argv[:6], " ") != "docker exec scalelite-api bundle exec rake" {
		return nil, []byte("bad argv"), 2, nil
	}
	m := taskRe.FindStringSubmatch(argv[6])
	task := m[1]
	var args []string
	if m[2] != "" {
		args = strings.Split(m[2], ",")
	}
	// Ruby's split drops trailing empty fields, as rake does.
	for len(args) > 0 && args[len(args)-1] == "" {
		args = args[:len(args)-1]
	}
	arg := func(i int) (string, bool) {
		if i < len(args) {
			return args[i], true
		}
		return "", false
	}
	find := func() map[string]string {
		for _, s := range e.servers {
			if s["id"] == args[0] {
				return s
			}
		}
		return nil
	}
	var out strings.Builder
	if strings.HasPrefix(task, "tenants") && !e.mt {
		return nil, []byte("Multitenancy is disabled, task can not be completed\n"), 1, nil
	}
	switch task {
	case "servers":
		out.WriteString("I, [2026-11-22T22:00:00] INFO -- : a log line\n")
		for _, s := range e.servers {
			fmt.Fprintf(&out, "id: %s\n\turl: %s\n\tsecret: %s\n\t%s\n\tload: %s\n\tload multiplier: %s\n\tbbb version: \n\ttag: %s\n\t%s\n",
				s["id"], s["url"], s["secret"], s["state"], s["load"], s["lm"], s["tag"], s["online"])
		}
	case "servers:add":
		e.n++
		lm, _ := arg(2)
		tag, _ := arg(3)
		e.servers = append(e.servers, map[string]string{"id": fmt.Sprint("id-", e.n), "url": args[0], "secret": args[1], "state": "disabled",
			"load": "unavailable", "lm": lm, "tag": tag, "online": "offline"})
		fmt.Fprintf(&out, "OK\nid: id-%d\n", e.n)
	case "servers:update", "servers:tag", "servers:enable", "servers:cordon", "servers:disable", "servers:remove", "servers:panic":
		s := find()
		if s == nil {
			return nil, []byte("ERROR: No server found with id: " + args[0] + "\n"), 1, nil
		}
		switch task {
		case "servers:update":
			if v, ok := arg(1); ok {
				s["secret"] = v
			}
			if v, ok := arg(2); ok {
				s["lm"] = v
			}
		case "servers:tag":
			s["tag"], _ = arg(1)
		case "servers:enable":
			s["state"] = "enabled"
		case "servers:cordon":
			s["state"] = "cordoned"
		case "servers:disable":
			if s["load"] != "unavailable" && s["load"] != "0" {
				// $stdin.gets is nil without -i: NoMethodError.
				return nil, []byte("rake aborted!\nNoMethodError: undefined method `chomp' for nil\n"), 1, nil
			}
			s["state"] = "disabled"
		case "servers:remove":
			for i, x := range e.servers {
				if x["id"] == args[0] {
					e.servers = append(e.servers[:i], e.servers[i+1:]...)
					break
				}
			}
		case "servers:panic":
			if _, keep := arg(1); !keep {
				s["state"] = "disabled"
			}
		}
		out.WriteString("OK\n")
	case "tenants":
		for _, t := range e.tenants {
			fmt.Fprintf(&out, "id: %s\n\tname: %s\n\tsecrets: %s\n", t["id"], t["name"], t["secrets"])
		}
		fmt.Fprintf(&out, "Total number of tenants: %d\n", len(e.tenants))
	case "tenants:add":
		e.n++
		e.tenants = append(e.tenants, map[string]string{"id": fmt.Sprint("t-", e.n), "name": args[0], "secrets": args[1]})
		fmt.Fprintf(&out, "OK\nNew Tenant id: t-%d\n", e.n)
	case "tenants:update":
		for _, t := range e.tenants {
			if t["id"] == args[0] {
				if v, _ := arg(1); v != "" {
					t["name"] = v
				}
				if v, _ := arg(2); v != "" {
					t["secrets"] = v
				}
			}
		}
		out.WriteString("OK\n")
	case "tenants:remove":
		for i, t := range e.tenants {
			if t["id"] == args[0] {
				e.tenants = append(e.tenants[:i], e.tenants[i+1:]...)
				out.WriteString("Tenant was successfully deleted.\n")
				return []byte(out.String()), nil, 0, nil
			}
		}
		return nil, []byte("Couldn't find Tenant\n"), 1, nil
	default:
		return nil, []byte("Don't know how to build task '" + task + "'\n"), 1, nil
	}
	return []byte(out.String()), nil, 0, nil
}

func TestRakeServers(t *testing.T) {
	ctx := context.Background()
	emu := &rakeEmu{}
	r := &Rake{Runner: emu}
	if l, err := r.List(ctx); err != nil || len(l) != 0 {
		t.Fatalf("empty: %v %v", l, err)
	}
	s, err := r.Add(ctx, pool.ServerSpec{URL: "https://bbb1.example.org/bigbluebutton/api", Secret: "abc", LoadMultiplier: 2, Tag: "eu"})
	if err != nil || s.ID != "id-1" || s.State != pool.Disabled || s.LoadMultiplier != 2 || s.Tag != "eu" || s.Online {
		t.Fatalf("add: %+v %v", s, err)
	}
	if got := emu.argvs[len(emu.argvs)-2][6]; got != "servers:add[https://bbb1.example.org/bigbluebutton/api,abc,2,eu]" {
		t.Fatalf("argv: %q", got)
	}
	sec, empty := "def", ""
	s, err = r.Update(ctx, s.ID, pool.ServerUpdate{Secret: &sec, Tag: &empty, State: pool.Enable})
	if err != nil || s.Secret != "def" || s.LoadMultiplier != 2 || s.Tag != "" || s.State != pool.Enabled {
		t.Fatalf("update: %+v %v", s, err)
	}
	var tasks []string
	for _, a := range emu.argvs {
		tasks = append(tasks, a[6])
	}
	if !strings.Contains(strings.Join(tasks, " "), "servers:update[id-1,def,2] servers:tag[id-1] servers:enable[id-1]") {
		t.Fatalf("tasks: %q", tasks)
	}
	emu.servers[0]["load"] = "12.0"
	if _, err := r.Update(ctx, s.ID, pool.ServerUpdate{State: pool.Disable}); err == nil || !strings.Contains(err.Error(), "still has load 12") {
		t.Fatalf("disable with load: %v", err)
	}
	if err := r.Panic(ctx, s.ID, true); err != nil || emu.servers[0]["state"] != "enabled" {
		t.Fatalf("panic keep: %v %v", err, emu.servers[0])
	}
	if got := emu.argvs[len(emu.argvs)-1][6]; got != "servers:panic[id-1,true]" {
		t.Fatalf("argv: %q", got)
	}
	if err := r.Panic(ctx, s.ID, false); err != nil || emu.servers[0]["state"] != "disabled" {
		t.Fatalf("panic: %v %v", err, emu.servers[0])
	}
	if err := r.Delete(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, s.ID); !errors.Is(err, pool.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := r.Add(ctx, pool.ServerSpec{URL: "https://x/api", Secret: "a,b"}); err == nil {
		t.Fatal("a comma reached rake")
	}
}

func TestRakeTenants(t *testing.T) {
	ctx := context.Background()
	emu := &rakeEmu{}
	r := &Rake{Runner: emu}
	if _, err := r.Tenants(ctx); !errors.Is(err, pool.ErrMultitenancyDisabled) {
		t.Fatalf("got %v", err)
	}
	emu.mt = true
	tn, err := r.AddTenant(ctx, "school", []string{"s1", "s2"})
	if err != nil || tn.ID != "t-1" || strings.Join(tn.Secrets, " ") != "s1 s2" {
		t.Fatalf("add: %+v %v", tn, err)
	}
	tn, err = r.UpdateTenant(ctx, tn.ID, "", []string{"s3"})
	if err != nil || tn.Name != "school" || strings.Join(tn.Secrets, " ") != "s3" {
		t.Fatalf("update: %+v %v", tn, err)
	}
	if got := emu.argvs[len(emu.argvs)-2][6]; got != "tenants:update[t-1,,s3]" {
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
