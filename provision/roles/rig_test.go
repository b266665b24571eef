package roles

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/internal/testenv"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/providers/local"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/remote"
)

// e2eEnv is the one E2E rig of the roles' tests: one test's real local
// hosts (systemd-nspawn, from providers/local), its SSH key, its
// inventory, and two ways to converge them: the engine in this process
// (converge) and the omc binary as an operator runs it (omc, up).
type e2eEnv struct {
	t        *testing.T
	p        *local.Provider
	dir      string // the local provider's cache dir
	work     string // the test's own files: key, inventory, omc, state
	keyPath  string
	pub      string
	signer   ssh.Signer
	machines map[string]providers.Machine
	invPath  string // the inventory the omc binary reads ("" before one is loaded)
	inv      *inventory.Inventory
	fleet    []*inventory.Node
	booted   bool
	// hostsFile and certFile: what omc's runs resolve names with and
	// trust (omcSeesHosts); "" for this machine's own.
	hostsFile, certFile string
}

// The E2E tests' fixed secrets, set in the environment the inventories
// reference; none of them may reach omc's output.
const (
	e2eSeed         = "FAKE-e2e-seed-not-a-real-one"
	e2eBackupSeed   = "FAKE-e2e-backup-seed-not-a-real-one"
	e2eResticSecret = "FAKE-e2e-restic-password-not-a-real-one"
)

// baseE2E makes the provider (with nspawnEnv and nspawnArgs for its
// hosts) and the test's SSH key; load an inventory, then boot its hosts.
func baseE2E(t *testing.T, nspawnEnv []string, nspawnArgs ...string) *e2eEnv {
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
	p, err := local.New(local.Options{Dir: dir, Stderr: logWriter{t}, NspawnArgs: nspawnArgs, NspawnEnv: nspawnEnv})
	must(t, err)
	work := t.TempDir()
	e := &e2eEnv{t: t, p: p, dir: dir, work: work, keyPath: filepath.Join(work, "id_ed25519")}
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "omc-e2e", "-f", e.keyPath).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	b, _ := os.ReadFile(e.keyPath)
	e.signer, err = ssh.ParsePrivateKey(b)
	must(t, err)
	pub, _ := os.ReadFile(e.keyPath + ".pub")
	e.pub = strings.TrimSpace(string(pub))
	t.Setenv("OMC_E2E_ROLES_SEED", e2eSeed)
	t.Setenv("OMC_E2E_BACKUP_SEED", e2eBackupSeed)
	t.Setenv("OMC_E2E_RESTIC_PASSWORD", e2eResticSecret)
	return e
}

// boot (re)creates the named hosts of group e2e, removed again when the
// test ends.
func (e *e2eEnv) boot(names ...string) {
	t := e.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	g := e.inv.Group("e2e")
	inv := e.inv
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := e.p.Delete(ctx, inv, g, names); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	// A clean slate: a host an interrupted run left would start again
	// with that run's key, which this run's key does not log in to.
	must(t, e.p.Delete(ctx, e.inv, g, names))
	e.made(e.p.Create(ctx, e.inv, g, e.fleet))
	e.booted = true
}

// rebuild returns the booted hosts to a fresh image (same name, address
// and host key), as omc rebuild does.
func (e *e2eEnv) rebuild() {
	e.t.Helper()
	if !e.booted {
		e.t.Fatal("rebuild before boot")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e.made(e.p.Rebuild(ctx, e.inv, e.inv.Group("e2e"), e.fleet))
}

func (e *e2eEnv) made(ms []providers.Machine, err error) {
	must(e.t, err)
	e.machines = map[string]providers.Machine{}
	for _, m := range ms {
		e.machines[m.Name] = m
	}
	e.setAddresses()
}

// writeInventory writes text as the test's inventory file (the one the
// omc binary reads) and loads it.
func (e *e2eEnv) writeInventory(text string) {
	e.t.Helper()
	path := filepath.Join(e.work, "omc.yaml")
	must(e.t, os.WriteFile(path, []byte(text), 0o600))
	e.loadFile(path)
}

// omc runs the omc binary (built once per test binary) as an operator
// does, against the test's inventory and the provider's hosts. No secret
// of the inventory may reach its output.
func (e *e2eEnv) omc(args ...string) (stdout, stderr string, code int) {
	t := e.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, omcBinary(t), args...)
	if e.hostsFile != "" {
		c = exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c",
			`mount --bind "$0" /etc/hosts && exec "$@"`, e.hostsFile, omcBinary(t)}, args...)...)
	}
	c.Env = append(os.Environ(), "OMC_LOCAL_DIR="+e.dir, "OMC_STATE_DIR="+filepath.Join(e.work, "state"), "CI=true", "NO_COLOR=1")
	if e.certFile != "" {
		c.Env = append(c.Env, "SSL_CERT_FILE="+e.certFile)
	}
	if e.invPath != "" {
		c.Env = append(c.Env, "OMC_INVENTORY="+e.invPath)
	}
	var out, errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("omc %v: %v", args, err)
	}
	secrets := []string{e2eSeed, e2eBackupSeed, e2eResticSecret}
	if e.inv != nil {
		secrets = append(append(secrets, e.inv.SecretValues()...), SecretValues(e.inv, e.fleet)...)
	}
	for _, v := range secrets {
		if v != "" && strings.Contains(out.String()+errb.String(), v) {
			t.Fatalf("omc %v: a secret of the inventory reached the output", args)
		}
	}
	return out.String(), errb.String(), code
}

var omcBin struct {
	once sync.Once
	path string
	err  error
}

// omcBinary builds omc once for every test that runs it.
func omcBinary(t *testing.T) string {
	t.Helper()
	omcBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "omc-e2e-bin-")
		if err != nil {
			omcBin.err = err
			return
		}
		omcBin.path = filepath.Join(dir, "omc")
		if out, err := exec.Command("go", "build", "-o", omcBin.path, "github.com/omc-coop/omc").CombinedOutput(); err != nil {
			omcBin.err = fmt.Errorf("building omc: %v\n%s", err, out)
		}
	})
	if omcBin.err != nil {
		t.Fatal(omcBin.err)
	}
	return omcBin.path
}

// up runs omc up on group e2e with -o json and returns how many steps
// changed (the summary line's count), logging which.
func (e *e2eEnv) up(what string) int {
	n, _ := e.upEvents(what)
	return n
}

// upEvents is up, also returning every JSON line of omc's output.
func (e *e2eEnv) upEvents(what string) (int, []map[string]any) {
	t := e.t
	t.Helper()
	out, errs, code := e.omc("up", "e2e", "-o", "json")
	if code != 0 {
		t.Fatalf("%s: omc up: exit %d\n%s\n%s", what, code, out, errs)
	}
	var sum struct {
		Type  string `json:"type"`
		Steps int    `json:"steps_changed"`
	}
	var changed []string
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if json.Unmarshal(sc.Bytes(), &ev) == nil {
			lines = append(lines, ev)
			if ev["type"] == "step" && ev["status"] == "changed" {
				changed = append(changed, fmt.Sprint(ev["host"], ": ", ev["step"], " (", ev["summary"], ")"))
			}
		}
		json.Unmarshal(sc.Bytes(), &sum)
	}
	if sum.Type != "summary" {
		t.Fatalf("%s: no summary line:\n%s", what, out)
	}
	t.Logf("%s: %d steps changed: %s", what, sum.Steps, strings.Join(changed, "; "))
	return sum.Steps, lines
}

// omcSeesHosts lets the omc binary reach the hosts by name over verified
// TLS, as a controller does on public DNS and the web PKI: each of its
// runs gets an /etc/hosts of the test's own (bind-mounted in a mount
// namespace only that run has; this machine's file is untouched) and
// trusts every host's Pebble root (SSL_CERT_FILE). Run after prepareHosts.
func (e *e2eEnv) omcSeesHosts() {
	e.t.Helper()
	hosts := "127.0.0.1 localhost\n"
	var roots strings.Builder
	for name, m := range e.machines {
		hosts += m.Address + " " + name + ".omc.test\n"
		roots.WriteString(e.mustSh(name, "curl -fsS --cacert /etc/omc-e2e/pebble-ca.pem https://127.0.0.1:15000/roots/0"))
		roots.WriteString("\n")
	}
	e.hostsFile = filepath.Join(e.work, "hosts")
	e.certFile = filepath.Join(e.work, "roots.pem")
	must(e.t, os.WriteFile(e.hostsFile, []byte(hosts), 0o644))
	must(e.t, os.WriteFile(e.certFile, []byte(roots.String()), 0o644))
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// loadFile reads the inventory at path.
func (e *e2eEnv) loadFile(path string) {
	e.t.Helper()
	inv, err := inventory.Load(path)
	must(e.t, err)
	e.invPath, e.inv, e.fleet = path, inv, inv.Nodes()
	e.setAddresses()
}

func (e *e2eEnv) setAddresses() {
	for _, n := range e.fleet {
		if m, ok := e.machines[n.Name]; ok {
			n.Address = m.Address
		}
	}
}

func (e *e2eEnv) node(name string) *inventory.Node {
	for _, n := range e.fleet {
		if n.Name == name {
			return n
		}
	}
	e.t.Fatalf("no node %s", name)
	return nil
}

func (e *e2eEnv) dial(ctx context.Context, name string) (*sshConn, error) {
	m := e.machines[name]
	hk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(m.HostKeys[0]))
	if err != nil {
		return nil, err
	}
	return dialSSH(ctx, net.JoinHostPort(m.Address, "22"), &ssh.ClientConfig{User: "root",
		Auth: []ssh.AuthMethod{ssh.PublicKeys(e.signer)}, HostKeyCallback: ssh.FixedHostKey(hk), Timeout: 10 * time.Second})
}

// sh runs a command on a host and returns its combined output.
func (e *e2eEnv) sh(name, cmd string) (string, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := e.dial(ctx, name)
	if err != nil {
		return "", err
	}
	defer c.Close()
	r, err := c.Run(ctx, cmd)
	out := string(r.Stdout) + string(r.Stderr)
	if err == nil && r.ExitCode != 0 {
		err = fmt.Errorf("exit %d", r.ExitCode)
	}
	return out, err
}

func (e *e2eEnv) mustSh(name, cmd string) string {
	e.t.Helper()
	out, err := e.sh(name, cmd)
	if err != nil {
		e.t.Fatalf("%s: %s: %v\n%s", name, cmd, err, out)
	}
	return out
}

// converge runs the roles on the named hosts with the engine.
func (e *e2eEnv) converge(names ...string) ([]provision.Result, []provision.Event) {
	e.t.Helper()
	var hosts []provision.Host
	for _, name := range names {
		steps, err := Steps(e.inv, e.node(name), e.fleet)
		must(e.t, err)
		m := e.machines[name]
		hosts = append(hosts, provision.Host{Name: name, Steps: steps, Dial: func(ctx context.Context) (provision.Conn, error) {
			c, err := remote.Dial(ctx, remote.Config{Name: name, Address: m.Address, Port: 22, User: "root",
				KeyFile: e.keyPath, HostKeys: m.HostKeys, Timeout: 10 * time.Second})
			if err != nil {
				return nil, err
			}
			return provision.SSH(c), nil
		}})
	}
	var mu sync.Mutex
	var events []provision.Event
	secrets := append(e.inv.SecretValues(), SecretValues(e.inv, e.fleet)...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	rs := provision.Run(ctx, hosts, provision.Options{Mode: provision.Apply,
		Redact: func(s string) string {
			for _, v := range secrets {
				s = strings.ReplaceAll(s, v, "***")
			}
			return s
		},
		Observer: provision.ObserverFunc(func(ev provision.Event) { mu.Lock(); events = append(events, ev); mu.Unlock() })})
	for _, ev := range events {
		for _, v := range secrets {
			if strings.Contains(fmt.Sprintf("%+v", ev), v) {
				e.t.Fatalf("a secret leaked into an event of step %q", ev.Step)
			}
		}
	}
	return rs, events
}

func changedSteps(events []provision.Event) []string {
	var out []string
	for _, ev := range events {
		if ev.Type == "step" && ev.Status == "changed" {
			out = append(out, ev.Host+": "+ev.Step+" ("+ev.Summary+")")
		}
	}
	return out
}

func (e *e2eEnv) mustConverge(names ...string) []string {
	e.t.Helper()
	rs, events := e.converge(names...)
	for _, r := range rs {
		if r.Err != nil {
			e.t.Fatalf("converge %s: %v", r.Host, r.Err)
		}
	}
	return changedSteps(events)
}

// uploadDir copies the files under dir to dest (ending in /) on a host.
func (e *e2eEnv) uploadDir(name, dir, dest string) {
	e.t.Helper()
	c, err := e.dial(context.Background(), name)
	must(e.t, err)
	defer c.Close()
	must(e.t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		return c.upload(p, dest+rel)
	}))
}

// prepareHosts: every host knows the others' names and runs pebble.
func (e *e2eEnv) prepareHosts() {
	e.t.Helper()
	var hosts strings.Builder
	for name, m := range e.machines {
		fmt.Fprintf(&hosts, "%s %s.omc.test\n", m.Address, name)
	}
	for name := range e.machines {
		e.mustSh(name, `set -e
printf '%s' `+shell.Quote(hosts.String())+` >> /etc/hosts
export DEBIAN_FRONTEND=noninteractive
apt-get -q update >/dev/null && apt-get -y -q install pebble openssl curl ca-certificates >/dev/null
mkdir -p /etc/omc-e2e && cd /etc/omc-e2e
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=pebble-e2e-ca -keyout ca.key -out pebble-ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout pebble.key -out pebble.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > san.ext
openssl x509 -req -in pebble.csr -CA pebble-ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out pebble.pem 2>/dev/null
cat > pebble.json <<'PEBBLE'
{"pebble": {"listenAddress": "127.0.0.1:14000", "managementListenAddress": "127.0.0.1:15000",
 "certificate": "/etc/omc-e2e/pebble.pem", "privateKey": "/etc/omc-e2e/pebble.key",
 "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
PEBBLE
systemd-run --quiet --unit=omc-e2e-pebble -E PEBBLE_VA_NOSLEEP=1 -E PEBBLE_WFE_NONCEREJECT=0 /usr/bin/pebble -config /etc/omc-e2e/pebble.json
i=0; until curl -s --cacert pebble-ca.pem https://127.0.0.1:14000/dir >/dev/null; do i=$((i+1)); [ $i -lt 30 ] || exit 1; sleep 1; done`)
	}
}

// mustStayConverged runs the roles again on hosts they converged: the
// real probe output of every step must plan nothing, so no step changes
// and each one reports ok.
func (e *e2eEnv) mustStayConverged(names ...string) {
	e.t.Helper()
	rs, events := e.converge(names...)
	for _, r := range rs {
		if r.Err != nil {
			e.t.Fatalf("second run on %s: %v", r.Host, r.Err)
		}
	}
	if again := changedSteps(events); len(again) != 0 {
		e.t.Fatalf("a second run changed something:\n%s", strings.Join(again, "\n"))
	}
	ok := map[string]bool{}
	for _, ev := range events {
		if ev.Type == "step" && ev.Status == "ok" {
			ok[ev.Host+": "+ev.Step] = true
		}
	}
	for _, name := range names {
		steps, err := Steps(e.inv, e.node(name), e.fleet)
		must(e.t, err)
		for _, s := range steps {
			if !ok[name+": "+s.ID()] {
				e.t.Errorf("second run on %s: %s was not found in sync", name, s.ID())
			}
		}
	}
}

// uploadStandin builds the stand-in program pkg static (images run it
// FROM scratch) and puts it on host name as /root/standin/BASE.
func (e *e2eEnv) uploadStandin(name, pkg string) {
	e.t.Helper()
	bin := filepath.Join(e.t.TempDir(), filepath.Base(pkg))
	build := exec.Command("go", "build", "-o", bin, pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		e.t.Fatalf("building the stand-in %s: %v\n%s", pkg, err, out)
	}
	e.uploadDir(name, filepath.Dir(bin), "/root/standin/")
}
