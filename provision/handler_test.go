package provision

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// standinSystemctl is a STAND-IN for systemctl (no systemd on the test
// machine): units are files in $dir/units holding "active" or not, and
// every call is logged to $dir/calls.
const standinSystemctl = `#!/bin/sh
d=%DIR%
echo "$*" >> "$d/calls"
verb=$1; shift; [ "$1" = "--" ] && shift
u=${1%.service}
if [ -e "$d/units/$u.broken" ] && [ "$verb" = start -o "$verb" = restart ]; then
  echo "Job for $u.service failed because the control process exited with error code." >&2; exit 1
fi
case "$verb" in
is-enabled) for _ in "$@"; do echo enabled; done ;;
is-active) if [ "$(cat "$d/units/$u" 2>/dev/null)" = active ]; then echo active; else echo inactive; exit 3; fi ;;
start|restart) echo active > "$d/units/$u" ;;
stop) rm -f "$d/units/$u" ;;
esac
`

// standinJournalctl is a STAND-IN for journalctl: one line naming the unit
// it was asked about.
const standinJournalctl = `#!/bin/sh
[ "$1" = -u ] && echo "nft: /etc/nftables.conf:3: syntax error (unit $2)"
`

func systemctlStandin(t *testing.T) (dir string, calls func() []string) {
	t.Helper()
	dir = tempDir(t)
	os.MkdirAll(filepath.Join(dir, "units"), 0o755)
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	writeFile(t, filepath.Join(dir, "bin", "systemctl"), strings.ReplaceAll(standinSystemctl, "%DIR%", dir))
	os.Chmod(filepath.Join(dir, "bin", "systemctl"), 0o755)
	writeFile(t, filepath.Join(dir, "bin", "journalctl"), standinJournalctl)
	os.Chmod(filepath.Join(dir, "bin", "journalctl"), 0o755)
	return dir, func() []string {
		b, _ := os.ReadFile(filepath.Join(dir, "calls"))
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if !strings.HasPrefix(l, "is-") && l != "" {
				out = append(out, l)
			}
		}
		return out
	}
}

// A unit that a service step starts after its config changed is not
// restarted again at the end: starting it twice in a run is a needless
// drop of its sessions, and repeated runs trip systemd's start limit.
// A change after the start still gets its restart.
func TestHandlerSkipsAUnitStartedAfterTheChange(t *testing.T) {
	needRoot(t)
	dir, calls := systemctlStandin(t)
	conf := filepath.Join(dir, "turnserver.conf")
	c := &localConn{path: filepath.Join(dir, "bin")}
	file := func(content string) *FileStep {
		return &FileStep{Path: conf, Content: []byte(content), Mode: 0o644, Owner: "root", Group: "root", Notify: []string{"coturn"}}
	}
	svc := &ServiceStep{Name: "coturn.service", Enabled: true, Running: true}

	// Stopped unit, file changed before the service step: one start.
	r, events := converge(t, Apply, c, file("a\n"), svc)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := strings.Join(calls(), "; "); got != "start -- coturn.service" {
		t.Fatalf("calls: %s", got)
	}
	for _, e := range events {
		if e.Type == "handler" {
			t.Fatalf("a handler ran: %+v", e)
		}
	}

	// Running unit, file changed: the restart handler runs.
	os.Remove(filepath.Join(dir, "calls"))
	if r, _ := converge(t, Apply, c, file("b\n"), svc); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := strings.Join(calls(), "; "); got != "restart -- coturn" {
		t.Fatalf("calls: %s", got)
	}

	// Stopped unit, file changed after the service step: start, then the
	// restart the change asks for.
	os.Remove(filepath.Join(dir, "calls"))
	os.Remove(filepath.Join(dir, "units", "coturn"))
	if r, _ := converge(t, Apply, c, svc, file("c\n")); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := strings.Join(calls(), "; "); got != "start -- coturn.service; restart -- coturn" {
		t.Fatalf("calls: %s", got)
	}
}

// A unit that fails to start or restart: the error carries its last log
// lines, not only systemctl's pointer to a journal on another machine.
func TestServiceFailureShowsTheUnitsLog(t *testing.T) {
	needRoot(t)
	dir, _ := systemctlStandin(t)
	writeFile(t, filepath.Join(dir, "units", "nftables.broken"), "")
	c := &localConn{path: filepath.Join(dir, "bin")}
	r, _ := converge(t, Apply, c, &ServiceStep{Name: "nftables", Enabled: true, Running: true})
	if r.Err == nil || !strings.Contains(r.Err.Error(), "exit status 1") || !strings.Contains(r.Err.Error(), "syntax error (unit nftables)") {
		t.Fatalf("start of a broken unit: %v", r.Err)
	}

	// The restart handler of a changed file, likewise.
	writeFile(t, filepath.Join(dir, "units", "nftables"), "active")
	conf := filepath.Join(dir, "nftables.conf")
	r, _ = converge(t, Apply, c, &FileStep{Path: conf, Content: []byte("x\n"), Mode: 0o644, Owner: "root", Group: "root", Notify: []string{"nftables"}})
	if r.Err == nil || !strings.Contains(r.Err.Error(), "restart nftables") || !strings.Contains(r.Err.Error(), "syntax error (unit nftables)") {
		t.Fatalf("restart of a broken unit: %v", r.Err)
	}
}
