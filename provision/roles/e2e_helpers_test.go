package roles

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/testenv"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/providers/local"
)

// Helpers shared by the backup and restore E2E tests: one bbb node with
// the backup role, converged by the omc binary as an operator runs it.

const e2eBackupInventory = `apiVersion: omc/v1
name: %s
secrets:
  bbb_seed: env:OMC_E2E_BACKUP_SEED
  restic_password: env:OMC_E2E_RESTIC_PASSWORD
defaults:
  ssh: {key: %q}
  settings:
    acme_directory: https://127.0.0.1:14000/dir
    acme_ca_file: /etc/omc-e2e/pebble-ca.pem
    bbb_version: 9.9-standin
    bbb_os: debian-12
    bbb_repo: {url: "file:/srv/omc-standin", suite: standin, components: main, trusted: true}
    bbb_packages: [bigbluebutton=1.0]
    sysctl: {net.core.rmem_max: null, net.core.wmem_max: null}
    backup: {repository: %q, keep: {daily: 3, weekly: 1, monthly: 1}}
    monitoring: {sources: [10.250.0.0/16]}
groups:
  e2e:
    provider: local
    image: debian-12
    nodes:
      - {name: %s, roles: [bbb], domain: %s.omc.test}
`

const (
	e2eBackupSeed   = "FAKE-e2e-backup-seed-not-a-real-one"
	e2eResticSecret = "FAKE-e2e-restic-password-not-a-real-one"
)

// backupE2E is one backup test's node, inventory and omc binary.
type backupE2E struct {
	*e2eEnv
	name    string // the inventory's
	node    string
	dir     string // the local provider's cache dir
	work    string
	invPath string
	omc     string
	repo    string // the repository as the inventory names it; "" until start
	g       *inventory.Group
}

// newBackupE2E builds omc and makes the key; start creates the host.
func newBackupE2E(t *testing.T, invName, node string) *backupE2E {
	t.Helper()
	if os.Getenv("OMC_E2E") == "" {
		t.Skip("E2E on real local hosts: set OMC_E2E=1 (needs root, systemd-nspawn, debootstrap, apt-cacher-ng)")
	}
	if err := local.Check(); err != nil {
		testenv.MissingE2E(t, "this machine cannot run local hosts: %v", err)
	}
	dir := os.Getenv("OMC_LOCAL_DIR")
	if dir == "" {
		dir = "/var/cache/omc-test"
	}
	work := t.TempDir()
	b := &backupE2E{name: invName, node: node, dir: dir, work: work, omc: filepath.Join(work, "omc"), invPath: filepath.Join(work, "omc.yaml")}
	if out, err := exec.Command("go", "build", "-o", b.omc, "github.com/omc-coop/omc").CombinedOutput(); err != nil {
		t.Fatalf("building omc: %v\n%s", err, out)
	}
	p, err := local.New(local.Options{Dir: dir, Stderr: logWriter{t}})
	must(t, err)
	b.e2eEnv = &e2eEnv{t: t, p: p, keyPath: filepath.Join(work, "id_ed25519")}
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "omc-e2e-backup", "-f", b.keyPath).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	kb, _ := os.ReadFile(b.keyPath)
	b.signer, err = ssh.ParsePrivateKey(kb)
	must(t, err)
	t.Setenv("OMC_E2E_BACKUP_SEED", e2eBackupSeed)
	t.Setenv("OMC_E2E_RESTIC_PASSWORD", e2eResticSecret)
	return b
}

// writeInventory writes and loads the inventory with this repository.
func (b *backupE2E) writeInventory(repo string) {
	b.t.Helper()
	b.repo = repo
	must(b.t, os.WriteFile(b.invPath, []byte(fmt.Sprintf(e2eBackupInventory, b.name, b.keyPath, repo, b.node, b.node)), 0o644))
	var err error
	b.inv, err = inventory.Load(b.invPath)
	must(b.t, err)
	b.fleet = b.inv.Nodes()
	b.g = b.inv.Group("e2e")
}

// create makes (or, with rebuild, rebuilds) the host and prepares it.
func (b *backupE2E) create(rebuild bool) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if b.machines == nil {
		b.t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			if err := b.p.Delete(ctx, b.inv, b.g, []string{b.node}); err != nil {
				b.t.Logf("cleanup: %v", err)
			}
		})
		// A clean slate: a host an interrupted run left would start
		// again with that run's key, which this run's key does not log in to.
		must(b.t, b.p.Delete(ctx, b.inv, b.g, []string{b.node}))
	}
	mk := b.p.Create
	if rebuild {
		mk = b.p.Rebuild
	}
	ms, err := mk(ctx, b.inv, b.g, b.fleet)
	must(b.t, err)
	b.machines = map[string]providers.Machine{}
	for _, m := range ms {
		b.machines[m.Name] = m
	}
	b.setAddresses()
}

// omcRun runs omc as an operator does; the restic password must never
// reach its output.
func (b *backupE2E) omcRun(args ...string) (string, string, int) {
	t := b.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, b.omc, args...)
	c.Env = append(os.Environ(), "OMC_LOCAL_DIR="+b.dir, "OMC_STATE_DIR="+filepath.Join(b.work, "state"), "CI=true", "NO_COLOR=1", "OMC_INVENTORY="+b.invPath)
	var out, errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("omc %v: %v", args, err)
	}
	if strings.Contains(out.String()+errb.String(), e2eResticSecret) {
		t.Fatalf("omc %v: the restic password reached the output", args)
	}
	return out.String(), errb.String(), code
}

// up runs omc up on the group and returns how many steps changed.
func (b *backupE2E) up(what string) int {
	t := b.t
	t.Helper()
	out, errs, code := b.omcRun("up", "e2e", "-o", "json")
	if code != 0 {
		t.Fatalf("%s: omc up: exit %d\n%s\n%s", what, code, out, errs)
	}
	var sum struct {
		Type  string `json:"type"`
		Steps int    `json:"steps_changed"`
	}
	var changed []string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev["type"] == "step" && ev["status"] == "changed" {
			changed = append(changed, fmt.Sprint(ev["step"], " (", ev["summary"], ")"))
		}
		json.Unmarshal(sc.Bytes(), &sum)
	}
	if sum.Type != "summary" {
		t.Fatalf("%s: no summary line:\n%s", what, out)
	}
	t.Logf("%s: %d steps changed: %s", what, sum.Steps, strings.Join(changed, "; "))
	return sum.Steps
}

// resticREST serves restic's REST backend protocol (the subset restic
// itself uses: create, config, keys, locks, snapshots, index, data; v1
// and v2 listings; ranged reads) from a directory, so a repository lives
// off the node and survives its rebuild. Written here because restic's
// own rest-server is not reachable from this module's proxy; it is a
// test fixture, not a server to run anywhere else.
type resticREST struct{ root string }

var resticTypes = map[string]bool{"data": true, "keys": true, "locks": true, "snapshots": true, "index": true}

func (s resticREST) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	clean := path.Clean("/" + r.URL.Path)
	parts := strings.Split(strings.Trim(clean, "/"), "/")
	// /REPO/… with one path element naming the repository.
	if len(parts) < 1 || parts[0] == "" || strings.HasPrefix(parts[0], ".") {
		http.Error(w, "no repository", http.StatusNotFound)
		return
	}
	repo := filepath.Join(s.root, parts[0])
	rest := parts[1:]
	switch {
	case len(rest) == 0 && r.Method == http.MethodPost && r.URL.Query().Get("create") == "true":
		for t := range resticTypes {
			if err := os.MkdirAll(filepath.Join(repo, t), 0o700); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		return
	case len(rest) == 0 && r.Method == http.MethodDelete:
		os.RemoveAll(repo)
		return
	case len(rest) == 1 && rest[0] == "config":
		s.blob(w, r, filepath.Join(repo, "config"))
		return
	case len(rest) == 1 && resticTypes[rest[0]] && r.Method == http.MethodGet:
		s.list(w, r, filepath.Join(repo, rest[0]), rest[0] == "data")
		return
	case len(rest) == 2 && resticTypes[rest[0]] && !strings.HasPrefix(rest[1], "."):
		dir := filepath.Join(repo, rest[0])
		if rest[0] == "data" && len(rest[1]) >= 2 {
			dir = filepath.Join(dir, rest[1][:2])
		}
		s.blob(w, r, filepath.Join(dir, rest[1]))
		return
	}
	http.Error(w, "not found", http.StatusNotFound)
}

func (s resticREST) blob(w http.ResponseWriter, r *http.Request, p string) {
	switch r.Method {
	case http.MethodHead, http.MethodGet:
		f, err := os.Open(p)
		if err != nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "", fi.ModTime(), f)
	case http.MethodPost:
		if _, err := os.Stat(p); err == nil {
			http.Error(w, "exists", http.StatusForbidden)
			return
		}
		os.MkdirAll(filepath.Dir(p), 0o700)
		tmp := p + ".tmp"
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, err = io.Copy(f, r.Body)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, p)
		}
		if err != nil {
			os.Remove(tmp)
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	case http.MethodDelete:
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	default:
		http.Error(w, "method", http.StatusMethodNotAllowed)
	}
}

func (s resticREST) list(w http.ResponseWriter, r *http.Request, dir string, nested bool) {
	type entry struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
	}
	var es []entry
	add := func(d string) error {
		ents, err := os.ReadDir(d)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		for _, e := range ents {
			if e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			es = append(es, entry{e.Name(), fi.Size()})
		}
		return nil
	}
	var err error
	if nested {
		subs, _ := os.ReadDir(dir)
		for _, sd := range subs {
			if sd.IsDir() {
				if err = add(filepath.Join(dir, sd.Name())); err != nil {
					break
				}
			}
		}
	} else {
		err = add(dir)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	sort.Slice(es, func(i, j int) bool { return es[i].Name < es[j].Name })
	if strings.Contains(r.Header.Get("Accept"), "application/vnd.x.restic.rest.v2") {
		w.Header().Set("Content-Type", "application/vnd.x.restic.rest.v2")
		if es == nil {
			es = []entry{}
		}
		json.NewEncoder(w).Encode(es)
		return
	}
	names := []string{}
	for _, e := range es {
		names = append(names, e.Name)
	}
	w.Header().Set("Content-Type", "application/vnd.x.restic.rest.v1")
	json.NewEncoder(w).Encode(names)
}

// serveResticREST serves repositories under root on addr (the machine's
// end of a host's link, which the host reaches and nothing else does)
// until the test ends, and returns restic's repository URL prefix.
func serveResticREST(t *testing.T, addr, root string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	must(t, err)
	srv := &http.Server{Handler: resticREST{root: root}, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return "rest:http://" + ln.Addr().String() + "/"
}
