//go:build realscalelite

// Probes of omc's Scalelite clients (Client: the JSON API; Rake: the rake
// tasks) against a REAL Scalelite that tools/real-scalelite/run.sh
// starts on loopback. run.sh copies this file into a scratch clone of
// omc, into pool/scalelite/ (the parser functions are package-internal),
// and runs it with -tags realscalelite; it is not part of omc's suite.
//
// Environment (set by run.sh):
//
//	REALSL_URL        Scalelite's base URL (http://localhost:PORT)
//	REALSL_SECRET     its LOADBALANCER_SECRET
//	REALSL_RAKE_DIR   the Scalelite tree to run `bundle exec rake` in
//	                  (RAILS_ENV, DATABASE_URL, ... already in the env)
//	REALSL_CAPTURED   a folder of rake outputs run.sh captured (NAME.out,
//	                  NAME.err, NAME.rc)
//	REALSL_BBB        the fake BBB base URL (http://127.0.0.1:PORT)
//	REALSL_MT_OFF     1 when Scalelite runs without multitenancy
//	REALSL_NO_TAGS    1 when this Scalelite has no server tags (before
//	                  1.6.0): a tag given to Add is dropped, not an error
//
// Each probe logs what omc made of the real answer ("SEEN ...") and fails
// (t.Errorf) where omc's own contract (pool.Pool's doc, the client's
// comments) is not met.
package scalelite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/pool"
)

func realEnv(t *testing.T, names ...string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, n := range names {
		v := os.Getenv(n)
		if v == "" {
			t.Skipf("%s not set: run tools/real-scalelite/run.sh", n)
		}
		m[n] = v
	}
	return m
}

// localRake runs the argv omc would send over SSH (docker exec CONTAINER
// bundle exec rake TASK) as `bundle exec rake TASK` in the Scalelite tree.
type localRake struct {
	dir  string
	t    *testing.T
	seen [][]string
}

func (l *localRake) Run(ctx context.Context, argv []string) ([]byte, []byte, int, error) {
	if len(argv) < 4 || argv[1] != "exec" {
		return nil, nil, 0, fmt.Errorf("unexpected argv %q", argv)
	}
	l.seen = append(l.seen, argv)
	cmd := exec.CommandContext(ctx, argv[3], argv[4:]...)
	cmd.Dir = l.dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code, err = ee.ExitCode(), nil
	}
	l.t.Logf("RAKE %s -> exit %d\n--- stdout\n%s--- stderr\n%s---", strings.Join(argv[3:], " "), code, out.String(), tail(errb.String(), 600))
	return out.Bytes(), errb.Bytes(), code, err
}

// replayRake answers each task from run.sh's captured outputs.
type replayRake struct {
	byTask map[string]string // task with args -> capture name
	dir    string
}

func (r replayRake) Run(_ context.Context, argv []string) ([]byte, []byte, int, error) {
	task := argv[len(argv)-1]
	name, ok := r.byTask[task]
	if !ok {
		name, ok = r.byTask[strings.SplitN(task, "[", 2)[0]]
	}
	if !ok {
		return nil, nil, 0, fmt.Errorf("no capture for %q", task)
	}
	out, _ := os.ReadFile(filepath.Join(r.dir, name+".out"))
	errb, _ := os.ReadFile(filepath.Join(r.dir, name+".err"))
	rc, _ := os.ReadFile(filepath.Join(r.dir, name+".rc"))
	code, _ := strconv.Atoi(strings.TrimSpace(string(rc)))
	return out, errb, code, nil
}

// wantTag is the tag a server added with tag should show: none on a
// Scalelite without tags.
func wantTag(tag string) string {
	if os.Getenv("REALSL_NO_TAGS") == "1" {
		return ""
	}
	return tag
}

// refused says whether err is omc's documented refusal of a Scalelite
// without server tags (api: rake needs 1.6.0: docs/scalelite-versions.md).
func refused(err error) bool {
	return err != nil && os.Getenv("REALSL_NO_TAGS") == "1" && strings.Contains(err.Error(), "older than 1.6.0")
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func show(s pool.Server) string {
	return fmt.Sprintf("{ID:%s URL:%s Secret:%q Tag:%q BBBVersion:%q State:%q Load:%v LoadKnown:%v LoadMultiplier:%v Online:%v}",
		s.ID, s.URL, s.Secret, s.Tag, s.BBBVersion, s.State, s.Load, s.LoadKnown, s.LoadMultiplier, s.Online)
}

func showT(x pool.Tenant) string {
	return fmt.Sprintf("{ID:%s Name:%q Secrets:%q}", x.ID, x.Name, x.Secrets)
}

// TestRealRakeCaptured feeds the rake outputs run.sh captured from the
// real Scalelite to omc's parser (parseRecords, serverOf, tenantOf), and
// to Rake.Add/AddTenant through a replaying runner.
func TestRealRakeCaptured(t *testing.T) {
	e := realEnv(t, "REALSL_CAPTURED")
	dir := e["REALSL_CAPTURED"]
	files, _ := filepath.Glob(filepath.Join(dir, "*.out"))
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no captures in %s", dir)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".out")
		b, _ := os.ReadFile(f)
		recs := parseRecords(string(b))
		switch {
		case strings.HasPrefix(name, "servers-list"):
			t.Logf("CAPTURE %s: %d records", name, len(recs))
			for _, m := range recs {
				t.Logf("SEEN %s record %q -> %s", name, m, show(serverOf(m)))
			}
			want := strings.Count(string(b), "\nid: ")
			if strings.HasPrefix(string(b), "id: ") {
				want++
			}
			if len(recs) != want {
				t.Errorf("%s: parseRecords found %d servers, the output has %d \"id: \" lines", name, len(recs), want)
			}
			for _, m := range recs {
				s := serverOf(m)
				if s.State == "" || s.URL == "" {
					t.Errorf("%s: server %s parsed without state or URL: %s", name, s.ID, show(s))
				}
			}
		case strings.HasPrefix(name, "tenants-list"):
			t.Logf("CAPTURE %s: %d records", name, len(recs))
			for _, m := range recs {
				x := tenantOf(m)
				t.Logf("SEEN %s record %q -> %s", name, m, showT(x))
				if x.Name == "" || len(x.Secrets) == 0 {
					t.Errorf("%s: tenant %s parsed without name or secrets: %s", name, x.ID, showT(x))
				}
			}
		default:
			t.Logf("CAPTURE %s (not a listing): parseRecords -> %q", name, recs)
		}
	}

	// servers:add then servers, as Rake.Add runs them.
	if _, err := os.Stat(filepath.Join(dir, "servers-add.out")); err == nil {
		r := &Rake{Runner: replayRake{dir: dir, byTask: map[string]string{"-T": "tasks", "servers:add": "servers-add", "servers": "servers-list-after-add"}}}
		s, err := r.Add(context.Background(), pool.ServerSpec{URL: "http://x/bigbluebutton/api", Secret: "x"})
		t.Logf("SEEN Rake.Add over captured servers:add + servers -> %s, err %v", show(s), err)
		if refused(err) {
			t.Logf("SEEN Rake.Add refused, as documented for this version")
		} else if err != nil || s.ID == "" {
			t.Errorf("Rake.Add on the real outputs: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "tenants-add.out")); err == nil {
		r := &Rake{Runner: replayRake{dir: dir, byTask: map[string]string{"-T": "tasks", "tenants:add": "tenants-add", "tenants": "tenants-list-after-add"}}}
		x, err := r.AddTenant(context.Background(), "x", []string{"y"})
		t.Logf("SEEN Rake.AddTenant over captured tenants:add + tenants -> %s, err %v", showT(x), err)
		if refused(err) {
			t.Logf("SEEN Rake.AddTenant refused, as documented for this version")
		} else if err != nil || x.ID == "" {
			t.Errorf("Rake.AddTenant on the real outputs: %v", err)
		}
	}
	// Failures: what omc's run() makes of the real exit code and text.
	for task, name := range map[string]string{
		"servers:enable[nope]": "servers-enable-unknown",
		"servers:remove[nope]": "servers-remove-unknown",
		"tenants:remove[nope]": "tenants-remove-unknown",
		"tenants:update[nope]": "tenants-update-unknown",
		"tenants":              "tenants-list-mt-unset",
		"servers:add[ftp://x]": "servers-add-bad-url",
	} {
		if _, err := os.Stat(filepath.Join(dir, name+".out")); err != nil {
			continue
		}
		r := &Rake{Runner: replayRake{dir: dir, byTask: map[string]string{task: name, strings.SplitN(task, "[", 2)[0]: name}}}
		_, err := r.run(context.Background(), strings.SplitN(task, "[", 2)[0])
		t.Logf("SEEN run(%s) on capture %s -> err %v (ErrNotFound %v, ErrMultitenancyDisabled %v)", task, name, err, errors.Is(err, pool.ErrNotFound), errors.Is(err, pool.ErrMultitenancyDisabled))
	}
}

// TestRealRakeLive drives Rake against the real rake tasks, run locally.
func TestRealRakeLive(t *testing.T) {
	e := realEnv(t, "REALSL_RAKE_DIR", "REALSL_BBB")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lr := &localRake{dir: e["REALSL_RAKE_DIR"], t: t}
	r := &Rake{Runner: lr}
	url := e["REALSL_BBB"] + "/rake-node/bigbluebutton/api"

	s, err := r.Add(ctx, pool.ServerSpec{URL: url, Secret: "rakesecret1", LoadMultiplier: 2.5, Tag: "rk"})
	t.Logf("SEEN Rake.Add -> %s, err %v", show(s), err)
	if refused(err) {
		t.Skip("omc's api: rake refuses this Scalelite (no server tags), as documented: nothing more to probe")
	}
	if err != nil {
		t.Fatalf("Rake.Add: %v", err)
	}
	if s.State != pool.Disabled || s.Tag != wantTag("rk") || s.LoadMultiplier != 2.5 || s.Secret != "rakesecret1" {
		t.Errorf("Rake.Add: got %s, want disabled, tag %q, multiplier 2.5, the secret", show(s), wantTag("rk"))
	}
	id := s.ID
	sec, lm, tag := "rakesecret2", 1.5, ""
	s, err = r.Update(ctx, id, pool.ServerUpdate{Secret: &sec, LoadMultiplier: &lm, Tag: &tag, State: pool.Enable})
	t.Logf("SEEN Rake.Update secret+lm+tag-removal+enable -> %s, err %v", show(s), err)
	if err == nil && (s.State != pool.Enabled || s.Tag != "" || s.LoadMultiplier != 1.5 || s.Secret != sec) {
		t.Errorf("Rake.Update: got %s", show(s))
	}
	s, err = r.Update(ctx, id, pool.ServerUpdate{State: pool.Cordon})
	t.Logf("SEEN Rake.Update cordon -> %s, err %v", show(s), err)
	s, err = r.Update(ctx, id, pool.ServerUpdate{State: pool.Disable})
	t.Logf("SEEN Rake.Update disable -> %s, err %v", show(s), err)
	err = r.Panic(ctx, id, true)
	t.Logf("SEEN Rake.Panic keep_state -> err %v", err)
	err = r.Delete(ctx, id)
	t.Logf("SEEN Rake.Delete -> err %v", err)

	for _, op := range []struct {
		name string
		f    func() error
	}{
		{"Get", func() error { _, err := r.Get(ctx, "no-such-id"); return err }},
		{"Update(enable)", func() error {
			_, err := r.Update(ctx, "no-such-id", pool.ServerUpdate{State: pool.Enable})
			return err
		}},
		{"Delete", func() error { return r.Delete(ctx, "no-such-id") }},
		{"Panic", func() error { return r.Panic(ctx, "no-such-id", false) }},
	} {
		err := op.f()
		t.Logf("SEEN Rake.%s unknown server id -> err %v (ErrNotFound: %v)", op.name, err, errors.Is(err, pool.ErrNotFound))
		if !errors.Is(err, pool.ErrNotFound) {
			t.Errorf("Rake.%s of an unknown id: %v, want pool.ErrNotFound", op.name, err)
		}
	}

	if os.Getenv("REALSL_MT_OFF") == "1" {
		_, err := r.Tenants(ctx)
		t.Logf("SEEN Rake.Tenants with multitenancy off -> err %v", err)
		return
	}
	x, err := r.AddTenant(ctx, "raketenant", []string{"rk1", "rk2"})
	t.Logf("SEEN Rake.AddTenant -> %s, err %v", showT(x), err)
	if err != nil || x.Name != "raketenant" || strings.Join(x.Secrets, ":") != "rk1:rk2" {
		t.Errorf("Rake.AddTenant: %s, %v", showT(x), err)
	}
	x2, err := r.AddTenant(ctx, "raketenant", []string{"rk3"})
	t.Logf("SEEN Rake.AddTenant same name again -> %s, err %v", showT(x2), err)
	x, err = r.UpdateTenant(ctx, x.ID, "", []string{"rk4"})
	t.Logf("SEEN Rake.UpdateTenant secrets -> %s, err %v", showT(x), err)
	l, err := r.Tenants(ctx)
	for _, y := range l {
		t.Logf("SEEN Rake.Tenants item %s", showT(y))
	}
	t.Logf("SEEN Rake.Tenants -> %d, err %v", len(l), err)
	for _, y := range []pool.Tenant{x, x2} {
		if y.ID != "" {
			err = r.DeleteTenant(ctx, y.ID)
			t.Logf("SEEN Rake.DeleteTenant %s -> err %v", y.ID, err)
		}
	}
	err = r.DeleteTenant(ctx, "no-such-id")
	t.Logf("SEEN Rake.DeleteTenant unknown id -> err %v (ErrNotFound: %v)", err, errors.Is(err, pool.ErrNotFound))
	if !errors.Is(err, pool.ErrNotFound) {
		t.Errorf("Rake.DeleteTenant of an unknown id: %v, want pool.ErrNotFound", err)
	}
	_, err = r.UpdateTenant(ctx, "no-such-id", "", []string{"zz"})
	t.Logf("SEEN Rake.UpdateTenant unknown id -> err %v (ErrNotFound: %v)", err, errors.Is(err, pool.ErrNotFound))
	if !errors.Is(err, pool.ErrNotFound) {
		t.Errorf("Rake.UpdateTenant of an unknown id: %v, want pool.ErrNotFound", err)
	}
}

// TestRealClient drives Client (the JSON API) against the real server.
func TestRealClient(t *testing.T) {
	e := realEnv(t, "REALSL_URL", "REALSL_SECRET", "REALSL_BBB")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := &Client{URL: e["REALSL_URL"], Secret: e["REALSL_SECRET"]}
	url := e["REALSL_BBB"] + "/api-node/bigbluebutton/api"

	s, err := c.Add(ctx, pool.ServerSpec{URL: url, Secret: "apisecret1", LoadMultiplier: 2.5, Tag: "ap"})
	t.Logf("SEEN Client.Add -> %s, err %v", show(s), err)
	if err != nil {
		t.Fatalf("Client.Add: %v", err)
	}
	if s.State != pool.Disabled || s.Tag != wantTag("ap") || s.LoadMultiplier != 2.5 {
		t.Errorf("Client.Add: %s", show(s))
	}
	id := s.ID
	d, err := c.Add(ctx, pool.ServerSpec{URL: url, Secret: "apisecret1"})
	t.Logf("SEEN Client.Add same URL again -> %s, err %v", show(d), err)
	l, _ := c.List(ctx)
	n := 0
	for _, x := range l {
		if x.URL == url {
			n++
		}
	}
	t.Logf("SEEN Client.List: %d entries for %s", n, url)
	if d.ID != "" {
		t.Logf("SEEN Client.Delete duplicate -> err %v", c.Delete(ctx, d.ID))
	}
	sec, lm, tag := "apisecret2", 1.5, ""
	s, err = c.Update(ctx, id, pool.ServerUpdate{Secret: &sec, LoadMultiplier: &lm, Tag: &tag, State: pool.Enable})
	t.Logf("SEEN Client.Update secret+lm+tag-removal+enable -> %s, err %v", show(s), err)
	if err == nil && (s.State != pool.Enabled || s.Tag != "" || s.LoadMultiplier != 1.5 || s.Secret != sec) {
		t.Errorf("Client.Update: got %s", show(s))
	}
	bad := 0.0
	_, err = c.Update(ctx, id, pool.ServerUpdate{LoadMultiplier: &bad})
	t.Logf("SEEN Client.Update load_multiplier 0 -> err %v", err)
	_, err = c.Update(ctx, id, pool.ServerUpdate{State: "enabled"})
	t.Logf("SEEN Client.Update state \"enabled\" (not a Scalelite word) -> err %v", err)
	err = c.Panic(ctx, id, true)
	s, _ = c.Get(ctx, id)
	t.Logf("SEEN Client.Panic keep_state=true -> err %v; state after: %s", err, s.State)
	if s.State != pool.Enabled {
		t.Errorf("Panic with keep_state: state %q after, want enabled kept", s.State)
	}
	err = c.Panic(ctx, id, false)
	s, _ = c.Get(ctx, id)
	t.Logf("SEEN Client.Panic keep_state=false -> err %v; state after: %s", err, s.State)
	t.Logf("SEEN Client.Delete -> err %v", c.Delete(ctx, id))

	for _, op := range []struct {
		name string
		f    func() error
	}{
		{"Get", func() error { _, err := c.Get(ctx, "no-such-id"); return err }},
		{"Update(enable)", func() error {
			_, err := c.Update(ctx, "no-such-id", pool.ServerUpdate{State: pool.Enable})
			return err
		}},
		{"Delete", func() error { return c.Delete(ctx, "no-such-id") }},
		{"Panic", func() error { return c.Panic(ctx, "no-such-id", false) }},
	} {
		err := op.f()
		t.Logf("SEEN Client.%s unknown server id -> err %v (ErrNotFound: %v)", op.name, err, errors.Is(err, pool.ErrNotFound))
		if !errors.Is(err, pool.ErrNotFound) {
			t.Errorf("Client.%s of an unknown id: %v, want pool.ErrNotFound", op.name, err)
		}
	}

	wrong := &Client{URL: e["REALSL_URL"], Secret: "not-the-secret"}
	_, err = wrong.List(ctx)
	t.Logf("SEEN Client.List with a wrong secret -> err %v", err)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Key != "checksumError" {
		t.Errorf("wrong secret: %v, want APIError checksumError", err)
	}
	_, err = wrong.AddTenant(ctx, "w", []string{"w"})
	t.Logf("SEEN Client.AddTenant with a wrong secret -> err %v", err)

	if os.Getenv("REALSL_MT_OFF") == "1" {
		_, err := c.Tenants(ctx)
		t.Logf("SEEN Client.Tenants with multitenancy off -> err %v (ErrMultitenancyDisabled: %v)", err, errors.Is(err, pool.ErrMultitenancyDisabled))
		if !errors.Is(err, pool.ErrMultitenancyDisabled) {
			t.Errorf("Tenants with multitenancy off: %v, want ErrMultitenancyDisabled", err)
		}
		_, err = c.AddTenant(ctx, "x", []string{"y"})
		t.Logf("SEEN Client.AddTenant with multitenancy off -> err %v (ErrMultitenancyDisabled: %v)", err, errors.Is(err, pool.ErrMultitenancyDisabled))
		return
	}
	x, err := c.AddTenant(ctx, "apitenant", []string{"ap1", "ap2"})
	t.Logf("SEEN Client.AddTenant -> %s, err %v", showT(x), err)
	if err != nil || x.ID == "" || x.Name != "apitenant" || strings.Join(x.Secrets, ":") != "ap1:ap2" {
		t.Errorf("Client.AddTenant: %s, %v", showT(x), err)
	}
	x2, err := c.AddTenant(ctx, "apitenant", []string{"ap3"})
	t.Logf("SEEN Client.AddTenant same name again -> %s, err %v", showT(x2), err)
	x3, err := c.UpdateTenant(ctx, x.ID, "", []string{"ap4"})
	t.Logf("SEEN Client.UpdateTenant secrets -> %s, err %v", showT(x3), err)
	if err == nil && (x3.Name != "apitenant" || strings.Join(x3.Secrets, ":") != "ap4") {
		t.Errorf("Client.UpdateTenant: %s", showT(x3))
	}
	_, err = c.UpdateTenant(ctx, "no-such-id", "", []string{"zz"})
	t.Logf("SEEN Client.UpdateTenant unknown id -> err %v (ErrNotFound: %v)", err, errors.Is(err, pool.ErrNotFound))
	if !errors.Is(err, pool.ErrNotFound) {
		t.Errorf("Client.UpdateTenant of an unknown id: %v, want pool.ErrNotFound", err)
	}
	err = c.DeleteTenant(ctx, "no-such-id")
	t.Logf("SEEN Client.DeleteTenant unknown id -> err %v (ErrNotFound: %v)", err, errors.Is(err, pool.ErrNotFound))
	if !errors.Is(err, pool.ErrNotFound) {
		t.Errorf("Client.DeleteTenant of an unknown id: %v, want pool.ErrNotFound", err)
	}
	for _, y := range []pool.Tenant{x, x2} {
		if y.ID != "" {
			t.Logf("SEEN Client.DeleteTenant %s -> err %v", y.ID, c.DeleteTenant(ctx, y.ID))
		}
	}
	l2, err := c.Tenants(ctx)
	t.Logf("SEEN Client.Tenants after deletes -> %d, err %v", len(l2), err)
}
