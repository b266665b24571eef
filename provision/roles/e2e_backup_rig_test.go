package roles

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The backup and restore E2E tests' inventory and node, and a restic
// REST server for a repository off the node.

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

// backupE2E is one backup test's node on the rig, converged by the omc
// binary as an operator runs it.
type backupE2E struct {
	*e2eEnv
	name string // the inventory's
	node string
}

// newBackupE2E makes the rig; writeInventory, then create, make the host.
func newBackupE2E(t *testing.T, invName, node string) *backupE2E {
	t.Helper()
	return &backupE2E{e2eEnv: baseE2E(t, nil), name: invName, node: node}
}

// writeInventory writes and loads the inventory with this repository.
func (b *backupE2E) writeInventory(repo string) {
	b.t.Helper()
	b.e2eEnv.writeInventory(fmt.Sprintf(e2eBackupInventory, b.name, b.keyPath, repo, b.node, b.node))
}

// create makes the host or, with rebuild, returns it to a fresh image.
func (b *backupE2E) create(rebuild bool) {
	b.t.Helper()
	if rebuild {
		b.rebuild()
		return
	}
	b.boot(b.node)
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
