package roles

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/internal/testenv"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/remote"
)

// nsHost is this machine seen through a private mount and network
// namespace: /etc, /opt, /usr, /var, /srv, /root and /home are overlays of
// the real ones on a tmpfs, /run and /tmp are empty tmpfs. Scripts run in
// it with the real /bin/sh and the machine's own tools (useradd, sysctl,
// sshd -t, visudo), so the steps' real probes print what a real
// filesystem and kernel answer, while nothing outside the namespace
// changes: the overlays vanish with it, and net.* sysctls are the new
// network namespace's. An empty /run keeps systemctl off this machine's
// systemd; systemctl is a stand-in that logs its arguments, since
// services are not what these tests converge (the E2E tests do).
type nsHost struct {
	t    *testing.T
	pid  int
	hold io.WriteCloser // the holder's stdin: closing it ends the namespace
}

// nsBin holds the stand-in systemctl; nsSystemctlLog is what it logs.
const (
	nsBin          = "/tmp/omc-bin"
	nsSystemctlLog = "/tmp/omc-systemctl.log"
)

func newNSHost(t *testing.T, setup string) *nsHost {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root (mount and network namespaces, overlay mounts)")
	}
	for _, tool := range []string{"unshare", "nsenter", "sshd", "useradd", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "needs %s (apt-get install util-linux openssh-server passwd procps)", tool)
		}
	}
	script := `set -e
mount -t tmpfs omc-ns-tmp /tmp
for d in etc opt usr var srv root home; do
  mkdir -p /tmp/.ns/$d.up /tmp/.ns/$d.work
  mount -t overlay omc-ns-$d -o lowerdir=/$d,upperdir=/tmp/.ns/$d.up,workdir=/tmp/.ns/$d.work /$d
done
mount -t tmpfs omc-ns-run /run
mkdir -p ` + nsBin + `
printf '#!/bin/sh\necho "$*" >> ` + nsSystemctlLog + `\n' > ` + nsBin + `/systemctl
chmod 755 ` + nsBin + `/systemctl
` + setup + `
echo ready
exec cat`
	cmd := exec.Command("unshare", "-m", "-n", "--propagation", "private", "--", "/bin/sh", "-c", script)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &nsHost{t: t, pid: cmd.Process.Pid, hold: in}
	t.Cleanup(func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			cmd.Process.Kill()
		}
	})
	// The holder prints "ready" once set up, or exits (set -e): reading
	// ends either way.
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		in.Close()
		cmd.Wait()
		testenv.Missing(t, "cannot set up a private namespace with overlays of this machine: %s", strings.TrimSpace(errb.String()))
	}
	return h
}

// sh runs script in the namespace.
func (h *nsHost) sh(ctx context.Context, script string) (provision.RunResult, error) {
	cmd := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(h.pid), "-m", "-n", "--", "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=" + nsBin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=/root"}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code, err = ee.ExitCode(), nil
	}
	return provision.RunResult{Stdout: out.Bytes(), Stderr: errb.Bytes(), ExitCode: code}, err
}

func (h *nsHost) mustSh(script string) string {
	h.t.Helper()
	r, err := h.sh(context.Background(), script)
	if err != nil || r.ExitCode != 0 {
		h.t.Fatalf("in the namespace: %s: %v, exit %d: %s", script, err, r.ExitCode, r.Stderr)
	}
	return string(r.Stdout)
}

// at is p as this process reaches it inside the namespace.
func (h *nsHost) at(p string) string {
	return "/proc/" + strconv.Itoa(h.pid) + "/root" + path.Clean("/"+p)
}

// nsConn is the engine's connection to an nsHost: scripts through
// nsenter, files written atomically (temp name, mode, owner, rename) as
// remote does, through the namespace's root.
type nsConn struct{ h *nsHost }

func (c nsConn) Run(ctx context.Context, script string) (provision.RunResult, error) {
	return c.h.sh(ctx, script)
}

func (c nsConn) Batch(ctx context.Context, ops []provision.Op) ([]provision.RunResult, error) {
	out := make([]provision.RunResult, len(ops))
	failed := false
	for i, op := range ops {
		if failed {
			out[i].Skipped = true
			continue
		}
		if w := op.Write; w != nil {
			if err := c.WriteFile(ctx, w.Path, w.Data, w.Mode, w.UID, w.GID); err != nil {
				out[i], failed = provision.RunResult{ExitCode: 1, Stderr: []byte(err.Error())}, true
			}
			continue
		}
		r, err := c.h.sh(ctx, op.Script)
		if err != nil {
			return nil, err
		}
		out[i], failed = r, r.ExitCode != 0
	}
	return out, nil
}

func (c nsConn) ReadFile(_ context.Context, p string) ([]byte, error) { return os.ReadFile(c.h.at(p)) }

func (c nsConn) WriteFile(_ context.Context, p string, data []byte, mode os.FileMode, uid, gid int) error {
	tmp := c.h.at(remote.TempName(p))
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	if err := os.Chown(tmp, uid, gid); err != nil {
		return err
	}
	return os.Rename(tmp, c.h.at(p))
}

func (nsConn) Lock(context.Context, string) (string, error) { return "", nil }
func (nsConn) Unlock(context.Context) error                 { return nil }
func (nsConn) Close() error                                 { return nil }

// run runs the engine over steps on h and returns each step's status
// (pending, changed, ok, failed) and every event.
func (h *nsHost) run(mode provision.Mode, steps []provision.Step) (provision.Result, map[string]string, []provision.Event) {
	h.t.Helper()
	var mu sync.Mutex
	var events []provision.Event
	rs := provision.Run(context.Background(), []provision.Host{{Name: "ns", Steps: steps,
		Dial: func(context.Context) (provision.Conn, error) { return nsConn{h}, nil }}},
		provision.Options{Mode: mode, Observer: provision.ObserverFunc(func(e provision.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })})
	status := map[string]string{}
	for _, e := range events {
		if e.Type == "step" {
			status[e.Step] = e.Status + " " + e.Summary + e.Error
		}
	}
	return rs[0], status, events
}

// bufferLimits are the sysctls a network namespace other than the
// machine's own may not raise (the kernel answers EINVAL); only a whole
// machine converges them, so they are left out here.
var bufferLimits = map[string]bool{"net.core.rmem_max": true, "net.core.wmem_max": true}

// onMachine picks the steps whose whole effect is files, directories,
// lines, users and net.* sysctls: what an nsHost converges for real. The
// checks nginx and haproxy run on their files need the whole site
// (certificates, the packages' configuration): those files go in as the
// plain file steps they wrap, which probe and plan alike.
func onMachine(steps []provision.Step) []provision.Step {
	var out []provision.Step
	for _, s := range steps {
		switch x := s.(type) {
		case *provision.FileStep, *provision.DirStep, *provision.LineStep, *secretLine, *provision.UserStep:
			out = append(out, s)
		case *checkedFile:
			if strings.HasPrefix(x.Check, "nginx ") || strings.HasPrefix(x.Check, "haproxy ") {
				out = append(out, x.FileStep)
			} else {
				out = append(out, s)
			}
		case *provision.SysctlStep:
			if !bufferLimits[x.Name] {
				out = append(out, s)
			}
		}
	}
	return out
}

// packagesMade is what the packages a node installs would have made
// before omc's line and file steps run: the directories of the files whose
// lines omc sets, and the system groups owning omc's files.
func packagesMade(steps []provision.Step) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, s := range steps {
		var dir, group string
		switch x := s.(type) {
		case *provision.LineStep:
			dir = path.Dir(x.Path)
		case *secretLine:
			dir = path.Dir(x.Path)
		case *provision.FileStep:
			group = x.Group
		case *checkedFile:
			group = x.Group
		case *provision.DirStep:
			group = x.Group
		}
		if dir != "" && !seen["d"+dir] {
			seen["d"+dir] = true
			fmt.Fprintf(&b, "mkdir -p %s\n", shell.Quote(dir))
		}
		if group != "" && !seen["g"+group] {
			seen["g"+group] = true
			fmt.Fprintf(&b, "getent group %s >/dev/null || groupadd -r %s\n", shell.Quote(group), shell.Quote(group))
		}
	}
	return b.String()
}

// Every file, directory, line, user and net.* sysctl step of every sample
// node, run by the engine with its real probe on a copy of this machine:
// all want a change on it (omc never touched it), apply cleanly, and then
// the real probe output of the converged copy plans nothing, so a second
// run changes nothing. The steps that need BBB's packages, systemd or the
// network (packages, services, firewall, certificate, bbb-conf) are
// converged twice on real hosts by TestE2ERoles (every step must report
// ok) and TestE2ERestoreRebuilt (nothing may change); see
// TestEveryStepKindIsConvergedForReal.
func TestConvergedCopyOfThisMachinePlansNothing(t *testing.T) {
	for _, fl := range []struct {
		name string
		load func(*testing.T) (*inventory.Inventory, []*inventory.Node)
	}{{"sample", loadFleet}, {"ops", loadOpsFleet}} {
		t.Run(fl.name, func(t *testing.T) {
			inv, fleet := fl.load(t)
			secrets := append(inv.SecretValues(), SecretValues(inv, fleet)...)
			for _, n := range fleet {
				t.Run(n.Name, func(t *testing.T) {
					all, err := Steps(inv, n, fleet)
					if err != nil {
						t.Fatal(err)
					}
					steps := onMachine(all)
					h := newNSHost(t, packagesMade(steps))
					checkConvergedCopy(t, h, steps, secrets)
				})
			}
		})
	}
}

func checkConvergedCopy(t *testing.T, h *nsHost, steps []provision.Step, secrets []string) {
	t.Helper()
	var ids []string
	for _, s := range steps {
		ids = append(ids, s.ID())
	}
	var runs [][]provision.Event
	want := func(what string, mode provision.Mode, status string) {
		t.Helper()
		r, got, events := h.run(mode, steps)
		runs = append(runs, events)
		if r.Err != nil {
			t.Fatalf("%s: %v", what, r.Err)
		}
		for _, id := range ids {
			if !strings.HasPrefix(got[id], status+" ") {
				t.Errorf("%s: %s: %q, want %s", what, id, got[id], status)
			}
		}
	}
	want("plan on a copy omc never touched", provision.Plan, "pending")
	want("first run", provision.Apply, "changed")
	restarts := h.mustSh("cat " + nsSystemctlLog + " 2>/dev/null; rm -f " + nsSystemctlLog)
	want("plan on the converged copy", provision.Plan, "ok")
	want("second run", provision.Apply, "ok")
	if again := h.mustSh("cat " + nsSystemctlLog + " 2>/dev/null || true"); again != "" {
		t.Errorf("the second run restarted services although nothing changed:\n%s", again)
	}
	// Handlers: each unit a changed step notifies is restarted once.
	var notify []string
	for _, s := range steps {
		var n []string
		switch x := s.(type) {
		case *provision.FileStep:
			n = x.Notify
		case *checkedFile:
			n = x.Notify
		case *provision.LineStep:
			n = x.Notify
		case *secretLine:
			n = x.Notify
		}
		for _, u := range n {
			if !slices.Contains(notify, u) {
				notify = append(notify, u)
			}
		}
	}
	for _, u := range notify {
		if c := strings.Count(restarts, "restart -- "+u+"\n"); c != 1 {
			t.Errorf("the first run restarted %s %d times, want once:\n%s", u, c, restarts)
		}
	}
	// No secret in what is shown unmasked: step IDs, summaries, errors.
	for _, events := range runs {
		for _, e := range events {
			for _, v := range secrets {
				if strings.Contains(e.Step+e.Summary+e.Error+e.Warning, v) {
					t.Errorf("a secret is in the event of step %q (%s)", e.Step, e.Status)
				}
			}
		}
	}
}

// Every kind of step the roles build for the sample fleets is converged
// twice, on real probe output, by some test: on a copy of this machine
// (onMachine, above) or on the E2E tests' hosts, whose inventories are
// built here as those tests build them. A kind of step neither reaches
// fails here, instead of going unproven.
func TestEveryStepKindIsConvergedForReal(t *testing.T) {
	kinds := func(steps []provision.Step) map[string]bool {
		m := map[string]bool{}
		for _, s := range steps {
			m[fmt.Sprintf("%T", s)] = true
		}
		return m
	}
	proven := map[string]bool{}
	add := func(inv *inventory.Inventory, names ...string) {
		fleet := inv.Nodes()
		for i, n := range fleet {
			n.Address = fmt.Sprintf("10.250.0.%d", i+2) // as the local provider gives
		}
		for _, n := range fleet {
			if len(names) > 0 && !slices.Contains(names, n.Name) {
				continue
			}
			steps, err := Steps(inv, n, fleet)
			if err != nil {
				t.Fatal(err)
			}
			for k := range kinds(steps) {
				proven[k] = true
			}
		}
	}
	t.Setenv("OMC_E2E_ROLES_SEED", e2eSeed)
	t.Setenv("OMC_E2E_BACKUP_SEED", e2eBackupSeed)
	t.Setenv("OMC_E2E_RESTIC_PASSWORD", e2eResticSecret)
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE e2e"
	roles, err := inventory.LoadReader("e2e.yaml", strings.NewReader(fmt.Sprintf(e2eInventory, "/nonexistent/id_ed25519", "10.250.0.0/16", key, "bigbluebutton=1.0", "")))
	if err != nil {
		t.Fatal(err)
	}
	add(roles, "rt1", "rb1", "rb2", "rb3") // TestE2ERoles' mustStayConverged
	backup, err := inventory.LoadReader("e2e.yaml", strings.NewReader(fmt.Sprintf(e2eBackupInventory, "omc-e2e", "/nonexistent/id_ed25519", "rest:http://10.250.0.1:8000/r", "rb9", "rb9")))
	if err != nil {
		t.Fatal(err)
	}
	add(backup) // TestE2ERestoreRebuilt's second converge
	// The E2E hosts run Debian, so no line's Ubuntu dependencies (Java,
	// Node, Docker) are installed there; freshPackages probes them as the
	// PackagesStep it embeds does, and plans as it does when in sync (it
	// only adds apt-get update to a change).
	if proven["*provision.PackagesStep"] {
		proven["*roles.freshPackages"] = true
	}
	onM := map[string]bool{}
	reported := map[string]bool{}
	for _, load := range []func(*testing.T) (*inventory.Inventory, []*inventory.Node){loadFleet, loadOpsFleet} {
		inv, fleet := load(t)
		for _, n := range fleet {
			steps, err := Steps(inv, n, fleet)
			if err != nil {
				t.Fatal(err)
			}
			for k := range kinds(onMachine(steps)) {
				onM[k] = true
			}
			for k := range kinds(steps) {
				if !proven[k] && !onM[k] && !reported[k] {
					reported[k] = true
					t.Errorf("%s: steps of kind %s are converged for real by no test", n.Name, k)
				}
			}
		}
	}
}
