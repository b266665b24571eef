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
case "$verb" in
is-enabled) echo enabled ;;
is-active) if [ "$(cat "$d/units/$u" 2>/dev/null)" = active ]; then echo active; else echo inactive; exit 3; fi ;;
start|restart) echo active > "$d/units/$u" ;;
stop) rm -f "$d/units/$u" ;;
esac
`

func systemctlStandin(t *testing.T) (dir string, calls func() []string) {
	t.Helper()
	dir = tempDir(t)
	os.MkdirAll(filepath.Join(dir, "units"), 0o755)
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	writeFile(t, filepath.Join(dir, "bin", "systemctl"), strings.ReplaceAll(standinSystemctl, "%DIR%", dir))
	os.Chmod(filepath.Join(dir, "bin", "systemctl"), 0o755)
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
