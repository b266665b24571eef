// Package e2e runs the omc binary end to end against real Debian hosts
// with systemd, made on this machine by the local provider
// (systemd-nspawn). It needs root, Linux and the tools named in
// providers/local; it runs only with OMC_E2E=1 and otherwise skips saying so.
// With OMC_E2E=1 on a machine that cannot run local hosts it fails, naming
// what is missing, so a broken CI machine cannot pass by skipping.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/providers/local"
)

var omcBin string

func TestMain(m *testing.M) {
	if os.Getenv("OMC_E2E") == "" {
		fmt.Println("e2e: skipped (set OMC_E2E=1 to run the end-to-end tests on local hosts)")
		os.Exit(0)
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		fmt.Println("e2e: FAIL: OMC_E2E is set but the tests need Linux and root (systemd-nspawn, network namespaces)")
		os.Exit(1)
	}
	if err := local.Check(); err != nil {
		fmt.Println("e2e: FAIL: OMC_E2E is set but this machine cannot run local hosts:", err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "omc-e2e-bin")
	if err != nil {
		panic(err)
	}
	omcBin = filepath.Join(dir, "omc")
	if out, err := exec.Command("go", "build", "-o", omcBin, "..").CombinedOutput(); err != nil {
		fmt.Printf("e2e: building omc: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cacheDir is shared between runs so the debootstrap image is built once.
func cacheDir() string {
	if d := os.Getenv("OMC_LOCAL_DIR"); d != "" {
		return d
	}
	return "/var/cache/omc-test"
}

// fleet is one test's inventory of local hosts and the state dirs omc uses.
type fleet struct {
	t        *testing.T
	dir, inv string
	env      []string
	key      ssh.Signer
}

const inventoryText = `apiVersion: omc/v1
name: %s
defaults:
  ssh:
    key: %s
groups:
  dev:
    provider: local
    image: debian-12
    count: 3
    name: %s-{n}
    steps:
      - packages: [nginx-light]
      - file:
          path: /etc/nginx/conf.d/omc.conf
          content: |
            # managed by omc for {{ .Node.Name }}
            server_tokens off;
          notify: [nginx]
      - service: {name: nginx}
      - file:
          path: /etc/motd
          content: "Welcome to {{ .Node.Name }}\n"
      - command:
          # Slow only when a test asks for it (by creating the marker).
          run: sleep 6; rm -f /run/omc-e2e-slow
          unless: test ! -e /run/omc-e2e-slow
      - file:
          path: /srv/app/big.bin
          template: big.tmpl
          mode: "0600"
      - line: {path: /etc/default/locale, line: "LANG=C.UTF-8", match: "^LANG="}
      - sysctl: {name: net.ipv4.tcp_fastopen, value: "3"}
      - user: {name: deploy, shell: /bin/bash}
      - command:
          run: touch /var/lib/omc-e2e-ran
          creates: /var/lib/omc-e2e-ran
`

func newFleet(t *testing.T, name string) *fleet {
	t.Helper()
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keyPath).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	// A few MB of template output, so a write takes long enough to interrupt.
	big := "{{ range 200000 }}{{ $.Node.Name }} omc end-to-end filler line\n{{ end }}"
	write(t, filepath.Join(dir, "big.tmpl"), big)
	inv := filepath.Join(dir, "omc.yaml")
	write(t, inv, fmt.Sprintf(inventoryText, name, keyPath, name))
	f := &fleet{t: t, dir: dir, inv: inv, env: append(os.Environ(),
		"OMC_STATE_DIR="+filepath.Join(dir, "state"), "OMC_LOCAL_DIR="+cacheDir(), "CI=true", "NO_COLOR=1")}
	b, _ := os.ReadFile(keyPath)
	f.key, _ = ssh.ParsePrivateKey(b)
	t.Cleanup(func() {
		// Always take the hosts down, also when the test failed.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if out, err := f.omc(ctx, "down", "dev", "--yes"); err != nil {
			t.Logf("cleanup: omc down: %v\n%s", err, out)
		}
	})
	// A clean slate: hosts an interrupted run left would start again with
	// that run's key, which this run's key does not log in to.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := f.omc(ctx, "down", "dev", "--yes"); err != nil {
		t.Fatalf("omc down (leftovers of an earlier run): %v\n%s", err, out)
	}
	return f
}

// omc runs the binary on the fleet's inventory; it returns stdout (and
// stderr appended when the run fails) and the exit error.
func (f *fleet) omc(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, omcBin, append(args, "-i", f.inv)...)
	cmd.Env = f.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String() + "\n--- stderr:\n" + errb.String(), err
	}
	return out.String(), nil
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

type event struct {
	Type, Host, Step, Status, Summary, Diff, Error, Warning string
	Hosts, Changed, Failed                                  int
}

func events(t *testing.T, out string) (evs []event, sum event) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var e event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		if e.Type == "summary" {
			sum = e
		}
		evs = append(evs, e)
	}
	if sum.Type != "summary" {
		t.Fatalf("no summary line in output:\n%s", out)
	}
	return evs, sum
}

// machines lists the fleet's hosts from the local provider's own state.
func (f *fleet) machines() []providers.Machine {
	f.t.Helper()
	inv, err := inventory.Load(f.inv)
	if err != nil {
		f.t.Fatal(err)
	}
	p, err := local.New(local.Options{Dir: cacheDir()})
	if err != nil {
		f.t.Fatal(err)
	}
	ms, err := p.List(context.Background(), inv, inv.Group("dev"))
	if err != nil {
		f.t.Fatal(err)
	}
	return ms
}

// sh runs a command on a host as root, verifying its host key.
func (f *fleet) sh(m providers.Machine, command string) string {
	f.t.Helper()
	hk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(m.HostKeys[0]))
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", m.Address+":22", &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(f.key)},
		HostKeyCallback: ssh.FixedHostKey(hk), Timeout: 10 * time.Second})
	if err != nil {
		f.t.Fatalf("ssh %s: %v", m.Name, err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		f.t.Fatal(err)
	}
	out, err := s.CombinedOutput(command)
	if err != nil {
		f.t.Fatalf("%s: %s: %v\n%s", m.Name, command, err, out)
	}
	return string(out)
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

const managed = "/etc/nginx/conf.d/omc.conf /etc/motd /srv/app/big.bin /etc/default/locale /etc/sysctl.d/90-omc-net.ipv4.tcp_fastopen.conf"

func TestLocalFleet(t *testing.T) {
	f := newFleet(t, "e2e")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	must(t, "converge from fresh", func(t *testing.T) {
		out, err := f.omc(ctx, "up", "dev", "-o", "json")
		if err != nil {
			t.Fatalf("omc up: %v\n%s", err, out)
		}
		_, sum := events(t, out)
		if sum.Hosts != 3 || sum.Changed != 3 || sum.Failed != 0 {
			t.Fatalf("summary %+v", sum)
		}
		for _, m := range f.machines() {
			if got := f.sh(m, "cat /etc/motd"); got != "Welcome to "+m.Name+"\n" {
				t.Fatalf("%s motd = %q", m.Name, got)
			}
			if got := f.sh(m, "systemctl is-active nginx; id -u deploy >/dev/null && echo user; cat /proc/sys/net/ipv4/tcp_fastopen"); got != "active\nuser\n3\n" {
				t.Fatalf("%s state = %q", m.Name, got)
			}
		}
	})

	must(t, "second run changes and writes nothing", func(t *testing.T) {
		before := f.fingerprints()
		out, err := f.omc(ctx, "up", "dev", "-o", "json")
		if err != nil {
			t.Fatalf("omc up: %v\n%s", err, out)
		}
		evs, sum := events(t, out)
		if sum.Changed != 0 || sum.Failed != 0 {
			t.Fatalf("summary %+v", sum)
		}
		for _, e := range evs {
			if e.Type == "step" && e.Status != "ok" {
				t.Fatalf("step not ok on re-run: %+v", e)
			}
		}
		if after := f.fingerprints(); after != before {
			t.Fatalf("re-run modified files:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if out, err := f.omc(ctx, "plan", "dev"); err != nil {
			t.Fatalf("plan on a converged fleet: %v\n%s", err, out)
		}
	})

	must(t, "drift on one host is planned and repaired there only", func(t *testing.T) {
		ms := f.machines()
		f.sh(ms[1], "echo hacked > /etc/motd")
		out, err := f.omc(ctx, "plan", "dev")
		if exitCode(err) != 2 {
			t.Fatalf("plan exit = %d (want 2)\n%s", exitCode(err), out)
		}
		if !strings.Contains(out, "-hacked") || !strings.Contains(out, "+Welcome to "+ms[1].Name) {
			t.Fatalf("plan does not show the drift:\n%s", out)
		}
		if got := f.sh(ms[1], "cat /etc/motd"); got != "hacked\n" {
			t.Fatal("plan changed the host")
		}
		out, err = f.omc(ctx, "up", "dev", "-o", "json")
		if err != nil {
			t.Fatalf("omc up: %v\n%s", err, out)
		}
		evs, sum := events(t, out)
		if sum.Changed != 1 {
			t.Fatalf("summary %+v", sum)
		}
		for _, e := range evs {
			if e.Type == "step" && e.Status == "changed" && e.Host != ms[1].Name {
				t.Fatalf("a host without drift changed: %+v", e)
			}
		}
		if got := f.sh(ms[1], "cat /etc/motd"); got != "Welcome to "+ms[1].Name+"\n" {
			t.Fatalf("not repaired: %q", got)
		}
	})

	must(t, "rebuild one host: fresh disk, same address and key, converged again", func(t *testing.T) {
		before := f.machines()
		f.sh(before[0], "touch /root/left-over")
		out, err := f.omc(ctx, "rebuild", before[0].Name, "--yes", "-o", "json")
		if err != nil {
			t.Fatalf("omc rebuild: %v\n%s", err, out)
		}
		_, sum := events(t, out)
		if sum.Hosts != 1 || sum.Changed != 1 || sum.Failed != 0 {
			t.Fatalf("summary %+v", sum)
		}
		after := f.machines()
		if after[0].Address != before[0].Address || after[0].HostKeys[0] != before[0].HostKeys[0] {
			t.Fatalf("rebuild changed address or key: %+v -> %+v", before[0], after[0])
		}
		if got := f.sh(after[0], "test -e /root/left-over && echo kept; cat /etc/motd"); got != "Welcome to "+after[0].Name+"\n" {
			t.Fatalf("after rebuild: %q", got)
		}
	})

	must(t, "killed run then re-run converges with no partial file and no blocking lock", func(t *testing.T) {
		ms := f.machines()
		for _, m := range ms {
			f.sh(m, "rm -f /srv/app/big.bin")
		}
		kctx, kcancel := context.WithCancel(ctx)
		cmd := exec.CommandContext(kctx, omcBin, "up", "dev", "-i", f.inv)
		cmd.Env = f.env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill omc as soon as a staged temp file appears on a host (the
		// host itself watches, so the kill lands mid-transfer).
		f.sh(ms[0], waitForTemp)
		cmd.Process.Kill()
		cmd.Wait()
		kcancel()
		for _, m := range ms {
			if out := f.sh(m, "test ! -e /srv/app/big.bin || wc -c < /srv/app/big.bin"); out != "" && !strings.HasPrefix(out, fmt.Sprint(bigSize(m.Name))) {
				t.Fatalf("%s: partial file after kill: %s bytes", m.Name, out)
			}
		}
		out, err := f.omc(ctx, "up", "dev", "-o", "json")
		if err != nil {
			t.Fatalf("re-run after kill: %v\n%s", err, out)
		}
		for _, m := range ms {
			if out := f.sh(m, "ls -a /srv/app; wc -c < /srv/app/big.bin"); strings.Contains(out, "omc-tmp") || !strings.Contains(out, fmt.Sprint(bigSize(m.Name))) {
				t.Fatalf("%s after re-run: %s", m.Name, out)
			}
		}
	})

	must(t, "a host powered off mid-run fails alone", func(t *testing.T) {
		ms := f.machines()
		for _, m := range ms {
			f.sh(m, "rm -f /srv/app/big.bin; touch /run/omc-e2e-slow")
		}
		cmd := exec.CommandContext(ctx, omcBin, "up", "dev", "-i", f.inv, "-o", "json")
		cmd.Env = f.env
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The slow step holds every host for 6 s: pull the plug on one.
		f.sh(ms[2], "for i in $(seq 1 300); do pgrep -x sleep >/dev/null && exit 0; sleep 0.05; done; exit 1")
		f.powerOff(ms[2])
		err := cmd.Wait()
		if exitCode(err) != 1 {
			t.Fatalf("exit = %d (want 1)\n%s", exitCode(err), out.String())
		}
		evs, sum := events(t, out.String())
		if sum.Failed != 1 || sum.Hosts != 3 {
			t.Fatalf("summary %+v", sum)
		}
		for _, e := range evs {
			if e.Type == "host" && e.Status == "failed" && e.Host != ms[2].Name {
				t.Fatalf("another host failed: %+v", e)
			}
			if e.Type == "host" && e.Host == ms[2].Name && e.Status == "failed" && e.Error == "" {
				t.Fatal("failure without an error message")
			}
		}
		for _, m := range ms[:2] {
			if out := f.sh(m, "wc -c < /srv/app/big.bin"); !strings.HasPrefix(out, fmt.Sprint(bigSize(m.Name))) {
				t.Fatalf("%s did not finish: %s", m.Name, out)
			}
		}
	})
}

// must runs a subtest and stops the test when it fails: later subtests
// build on the state earlier ones made.
func must(t *testing.T, name string, f func(t *testing.T)) {
	if !t.Run(name, f) {
		t.FailNow()
	}
}

// waitForTemp runs on a host until omc's staged copy of big.bin appears
// (bounded: 60 s).
const waitForTemp = "for i in $(seq 1 6000); do [ -e /srv/app/.big.bin.omc-tmp ] && exit 0; sleep 0.01; done; exit 1"

func bigSize(node string) int {
	return 200000 * len(node+" omc end-to-end filler line\n")
}

// fingerprints: mtime, ctime and size of every managed file on every host.
func (f *fleet) fingerprints() string {
	var b strings.Builder
	for _, m := range f.machines() {
		b.WriteString(m.Name + ": " + f.sh(m, "stat -c '%n %Y %Z %s' "+managed))
	}
	return b.String()
}

// powerOff stops a host abruptly, as pulling the plug would: every process
// in the host's network namespace (its systemd, sshd, our shell) and its
// systemd-nspawn are SIGKILLed. Names come from the local provider's state.json.
func (f *fleet) powerOff(m providers.Machine) {
	f.t.Helper()
	inv, err := inventory.Load(f.inv)
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(cacheDir(), "hosts", inv.Name, m.Name, "state.json"))
	if err != nil {
		f.t.Fatal(err)
	}
	var st struct {
		PID   int    `json:"pid"`
		NetNS string `json:"netns"`
	}
	if err := json.Unmarshal(b, &st); err != nil || st.PID <= 1 || st.NetNS == "" {
		f.t.Fatalf("no pid/netns for %s: %v", m.Name, err)
	}
	syscall.Kill(st.PID, syscall.SIGKILL)
	out, err := exec.Command("ip", "netns", "pids", st.NetNS).Output()
	if err != nil {
		f.t.Fatalf("ip netns pids %s: %v", st.NetNS, err)
	}
	for _, p := range strings.Fields(string(out)) {
		var pid int
		fmt.Sscan(p, &pid)
		if pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
