package cmd

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/sshtest"
)

// maxSoakRSS is the most memory (KiB) one omc run may take on a hostile
// inventory: a real run takes tens of MiB.
const maxSoakRSS = 512 << 10

// bombs are inventories meant to make omc loop, recurse or grow: each
// takes the steps: text to place (at the node, group or defaults) and
// returns the whole inventory. want is the exit code.
var bombs = []struct {
	name string
	want int
	inv  func(steps string) string
}{
	{"range over a huge integer", ExitInventory, fileBomb(`{{ range 100000000000 }}x{{ end }}`, "")},
	{"nested ranges over a settings list", ExitInventory, fileBomb(`{{ range .Settings.vars.l }}{{ range $.Settings.vars.l }}{{ range $.Settings.vars.l }}{{ range $.Settings.vars.l }}xxxxxxxxxxxxxxxx{{ end }}{{ end }}{{ end }}{{ end }}`,
		"l: ["+strings.Repeat("1,", 199)+"1]")},
	{"recursive template", ExitInventory, fileBomb(`{{ define "a" }}{{ template "a" . }}{{ end }}{{ template "a" . }}`, "")},
	{"mutually recursive templates", ExitInventory, fileBomb(`{{ define "a" }}x{{ template "b" . }}{{ end }}{{ define "b" }}{{ template "a" . }}{{ end }}{{ template "a" . }}`, "")},
	{"output past the size limit", ExitInventory, fileBomb(`{{ range 100000 }}{{ $.Settings.vars.big }}{{ end }}`, "big: "+strings.Repeat("y", 1<<20))},
	{"printf with a huge width", ExitInventory, fileBomb(`{{ printf "%0999999999d" 1 }}`, "")},
	{"html of a huge string", ExitInventory, fileBomb(`{{ range 1000 }}{{ html $.Settings.vars.big }}{{ end }}`, "big: "+strings.Repeat("<", 1<<20))},
	{"unknown node field", ExitInventory, fileBomb(`{{ .Node.NoSuchField }}`, "")},
	{"missing settings key", ExitInventory, fileBomb(`{{ .Settings.nokey }}`, "")},
	{"undeclared secret", ExitInventory, fileBomb(`{{ secret "nobody" }}`, "")},
	{"template file that is a FIFO", ExitInventory, func(steps string) string {
		return strings.Replace(fileBomb("x", "")(steps), `content: "x"`, "template: fifo", 1)
	}},
	{"YAML alias bomb", ExitInventory, func(string) string {
		var b strings.Builder
		b.WriteString("apiVersion: omc/v1\nname: t\nx0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n")
		for i := 1; i < 12; i++ {
			fmt.Fprintf(&b, "x%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
		}
		return b.String() + "groups: {}\n"
	}},
	{"deep nesting", ExitInventory, func(string) string {
		return "apiVersion: omc/v1\nname: t\nsettings: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\ngroups: {}\n"
	}},
	{"a 5 MiB inventory", ExitInventory, func(steps string) string {
		return fileBomb("x", "pad: "+strings.Repeat("z", 5<<20))(steps)
	}},
	{"1000 nodes, ten 80 KiB files each", ExitOK, func(string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: omc/v1\nname: t\ndefaults:\n  settings:\n    vars:\n      c: %q\ngroups:\n  g:\n    provider: static\n    steps:\n",
			strings.Repeat("0123456789abcdef\n", 80<<10/17))
		for f := 0; f < 10; f++ {
			fmt.Fprintf(&b, "      - file: {path: /srv/f%d, content: \"{{ .Settings.vars.c }}{{ .Node.Name }}\"}\n", f)
		}
		b.WriteString("    nodes:\n")
		for i := 0; i < 1000; i++ {
			fmt.Fprintf(&b, "      - {name: n%d, address: 10.0.%d.%d}\n", i, i/250, i%250+1)
		}
		return b.String()
	}},
}

// fileBomb is an inventory whose file step's content is tmpl, with
// settings (YAML, one line) at the defaults.
func fileBomb(tmpl, settings string) func(string) string {
	return func(where string) string {
		step := fmt.Sprintf("steps:\n  - file: {path: /srv/bomb, content: %q}\n", tmpl)
		indent := func(s string, n int) string {
			return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+strings.Repeat(" ", n)) + "\n"
		}
		var d, g, n string
		switch where {
		case "defaults":
			d = "  " + indent(step, 2)
		case "group":
			g = "    " + indent(step, 4)
		default:
			n = "        " + indent(step, 8)
		}
		if settings != "" {
			d = "  settings:\n    vars:\n      " + settings + "\n" + d
		}
		return "apiVersion: omc/v1\nname: t\ndefaults:\n" + d + "  ssh: {user: root}\ngroups:\n  g:\n    provider: static\n" + g +
			"    nodes:\n      - name: n0\n        address: 192.0.2.1\n" + n
	}
}

var fileLineCol = regexp.MustCompile(`omc\.yaml:\d+:\d+: `)

// TestSoakHostileInventories: inventories that loop, recurse, grow or
// never arrive. Each run picks a bomb, where it sits and the command
// (validate, plan, up): omc must refuse it at FILE:LINE:COL with exit 3
// (or accept the large valid one), within 60 s and 512 MiB, contacting
// nothing; waiting for an inventory that never comes ends at the first
// signal.
func TestSoakHostileInventories(t *testing.T) {
	s := startSoak(t, 3)
	d := isolate(t)
	if err := syscall.Mkfifo(filepath.Join(d, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(d, "omc.yaml")
	places := []string{"node", "group", "defaults"}
	commands := []string{"validate", "plan", "up"}
	order := s.R.Perm(len(bombs))
	worst := map[string]int64{} // peak RSS (KiB) by bomb
	defer func() {
		for _, b := range bombs {
			t.Logf("soak: %s: peak RSS %d MiB", b.name, worst[b.name]>>10)
		}
	}()
	for i := 0; i < s.n(len(bombs), 6*len(bombs)); i++ {
		s.runs++
		b := bombs[order[i%len(bombs)]]
		if i%len(bombs) == len(bombs)-1 {
			order = s.R.Perm(len(bombs))
		}
		where, cmd := places[s.R.IntN(len(places))], commands[s.R.IntN(len(commands))]
		if b.want == ExitOK {
			cmd = "validate" // its hosts are TEST-NET addresses
		}
		run := fmt.Sprintf("run %d: %s at the %s, omc %s", i, b.name, where, cmd)
		if err := os.WriteFile(inv, []byte(b.inv(where)), 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		p := startOmc(t, nil, cmd, "-i", inv)
		code, signaled := p.wait(60 * time.Second)
		rss := maxRSSKiB(p.c.ProcessState)
		s.saw(fmt.Sprintf("peak RSS ≤ %d MiB", (rss>>10)/64*64+64))
		s.check("exit code", !signaled && code == b.want, "%s: exit %d, want %d\n%s", run, code, b.want, p.errb.String())
		if b.want == ExitInventory {
			s.check("error at FILE:LINE:COL", fileLineCol.MatchString(p.errb.String()), "%s: no FILE:LINE:COL in\n%s", run, p.errb.String())
		}
		s.check("bounded memory", rss < maxSoakRSS, "%s: peak RSS %d MiB", run, rss>>10)
		if rss > worst[b.name] {
			worst[b.name] = rss
		}
		s.check("nothing contacted", !strings.Contains(p.errb.String(), "192.0.2.1"), "%s: a host was contacted:\n%s", run, p.errb.String())
		if time.Since(start) > 15*time.Second {
			s.saw("run over 15 s")
		}
	}

	// Inventories that never arrive or never end.
	r, w, err := os.Pipe() // stays open and silent
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	for i := 0; i < s.n(4, 24); i++ {
		s.runs++
		var p *omcRun
		var what string
		switch i % 4 {
		case 0:
			what = "a FIFO with no writer"
			p = startOmc(t, nil, []string{"validate", "plan", "up"}[s.R.IntN(3)], "-i", filepath.Join(d, "fifo"))
		case 1:
			what = "a silent standard input"
			p = startOmc(t, r, []string{"validate", "plan", "status"}[s.R.IntN(3)], "-i", "-")
		case 2:
			what = "/dev/zero"
			p = startOmc(t, nil, "validate", "-i", "/dev/zero")
		case 3:
			what = "/dev/urandom"
			p = startOmc(t, nil, "plan", "-i", "/dev/urandom")
		}
		run := fmt.Sprintf("run %d: -i %s", i, what)
		if i%4 < 2 {
			sig := []syscall.Signal{syscall.SIGTERM, syscall.SIGINT}[s.R.IntN(2)]
			if !s.check("says it waits", until(20*time.Second, func() bool { return strings.Contains(p.errb.String(), "still waiting to read the inventory") }),
				"%s: never said it waits:\n%s", run, p.errb.String()) {
				continue
			}
			p.c.Process.Signal(sig)
			run += ", then " + sig.String()
			code, signaled := p.wait(10 * time.Second)
			s.check("first signal ends the wait", !signaled && code == ExitInterrupt && strings.Contains(p.errb.String(), "interrupted while waiting"),
				"%s: exit %d (signaled %v)\n%s", run, code, signaled, p.errb.String())
			continue
		}
		code, signaled := p.wait(30 * time.Second)
		s.check("exit code", !signaled && code == ExitInventory, "%s: exit %d\n%s", run, code, p.errb.String())
		s.check("bounded memory", maxRSSKiB(p.c.ProcessState) < maxSoakRSS, "%s: peak RSS %d MiB", run, maxRSSKiB(p.c.ProcessState)>>10)
	}
}

// payloads would each create the canary file C if a shell ever ran them.
var payloads = []string{"$(touch C)", "`touch C`", ";touch C;", "';touch C;'", `";touch C;"`, "\ntouch C\n",
	"|touch C", "&&touch C", "$(touch${IFS}C)", ">C", "' >C '", "\\\"$(touch C)\\\"", "-o ProxyCommand=touch C"}

// injections place a payload p in an inventory of one node on srv; plan
// marks those only `omc plan` may run (up would change this machine).
var injections = []struct {
	name string
	plan bool
	inv  func(srv *sshtest.Server, d, p string) string
}{
	{"node name", false, injected(`name: "h0P"`, "")},
	{"step name", false, injected("", `- name: "P"`+"\n  file: {path: D/sn, content: x}")},
	{"file path", false, injected("", `- file: {path: "D/f-P", content: x}`)},
	{"file content", false, injected("", `- file: {path: D/fc, content: "P"}`)},
	{"file owner", false, injected("", `- file: {path: D/fo, content: x, owner: "P"}`)},
	{"file group", false, injected("", `- file: {path: D/fg, content: x, group: "P"}`)},
	{"file mode", false, injected("", `- file: {path: D/fm, content: x, mode: "P"}`)},
	{"file notify", false, injected("", `- file: {path: D/fn, content: "changed P", notify: ["P"]}`)},
	{"dir path", false, injected("", `- dir: {path: "D/d-P"}`)},
	{"dir owner", false, injected("", `- dir: {path: D/do, owner: "P"}`)},
	{"line path", false, injected("", `- line: {path: "D/l-P", line: x}`)},
	{"line text", false, injected("", `- line: {path: D/lt, line: "P"}`)},
	{"line match", false, injected("", `- line: {path: D/lm, line: x, match: "P"}`)},
	{"setting in a template", false, injected(`settings: {vars: {v: "P"}}`, `- file: {path: D/st, content: "{{ .Settings.vars.v }}"}`)},
	{"secret in a template", false, injected("", `- file: {path: D/se, content: "{{ secret \"inj\" }}"}`)},
	{"command creates", false, injected("", `- command: {run: "true", creates: "D/c-P"}`)},
	{"ssh user", false, injected(`ssh: {port: PORT, key: KEY, user: "P"}`, "")},
	{"bastion", false, injected(`ssh: {port: PORT, key: KEY, user: USER, bastion: "P"}`, "")},
	{"address", false, injected(`address: "P"`, "")},
	{"service name", true, injected("", `- service: {name: "P"}`)},
	{"package name", true, injected("", `- packages: ["P"]`)},
	{"user name", true, injected("", `- user: {name: "P"}`)},
	{"user shell", true, injected("", `- user: {name: omcsoak, shell: "/bin/P"}`)},
	{"user groups", true, injected("", `- user: {name: omcsoak, groups: ["P"]}`)},
	{"sysctl name", true, injected("", `- sysctl: {name: "P", value: "1"}`)},
	{"sysctl value", true, injected("", `- sysctl: {name: net.ipv4.ip_forward, value: "P"}`)},
}

// injected is an inventory of one node on srv, with node lines (each
// replacing the default line of its key) and a step. Both may name D, the
// test's directory; PORT, KEY and USER, the server's; and P, the payload,
// inserted quoted for YAML's double quotes.
func injected(node, step string) func(srv *sshtest.Server, d, p string) string {
	return func(srv *sshtest.Server, d, p string) string {
		q := strconv.Quote(p)
		q = q[1 : len(q)-1]
		fill := func(s string) string {
			s = strings.NewReplacer("D/", d+"/", "PORT", strconv.Itoa(srv.Port), "KEY", srv.KeyFile, "USER", srv.User).Replace(s)
			return strings.ReplaceAll(s, "P", q)
		}
		lines := map[string]string{"name": "name: h0", "address": "address: 127.0.0.1", "ssh": "ssh: {port: PORT, key: KEY, user: USER}"}
		if node != "" {
			key, _, _ := strings.Cut(node, ":")
			lines[key] = node
		}
		steps := ""
		if step != "" {
			steps = "        steps:\n          " + strings.ReplaceAll(step, "\n", "\n          ") + "\n"
		}
		var extra string
		for k, v := range lines {
			if k != "name" && k != "address" && k != "ssh" {
				extra += "        " + v + "\n"
			}
		}
		return fill(fmt.Sprintf("apiVersion: omc/v1\nname: soak\nsecrets:\n  inj: env:OMC_SOAK_INJ\ngroups:\n  g:\n    provider: static\n    nodes:\n      - %s\n        %s\n        %s\n%s%s",
			lines["name"], lines["address"], lines["ssh"], extra, steps))
	}
}

// TestSoakShellInjection: payloads that would create a canary file if a
// shell ever ran them, at random places of an inventory (names, paths,
// lines, settings, secrets, SSH settings), through validate, plan and up
// against a real sshd on this machine. No canary may ever exist.
func TestSoakShellInjection(t *testing.T) {
	s := startSoak(t, 4)
	srv := sshtest.Start(t)
	d := isolate(t)
	lockPathFor(t, filepath.Join(d, "{node}.lock"))
	canaries := t.TempDir()
	cwd, _ := os.Getwd()
	home := "/root"
	if u, err := user.Current(); err == nil {
		home = u.HomeDir
	}
	inv := filepath.Join(d, "omc.yaml")
	for i := 0; i < s.n(12, 150); i++ {
		s.runs++
		in := injections[s.R.IntN(len(injections))]
		// The canary by absolute path, or by a bare name that lands in
		// the session's or omc's working directory.
		canary := filepath.Join(canaries, fmt.Sprintf("hit-%d", i))
		bare := fmt.Sprintf("omc-soak-hit-%d-%d", s.Seed, i)
		c := canary
		if s.R.IntN(2) == 0 {
			c = bare
		}
		p := strings.ReplaceAll(payloads[s.R.IntN(len(payloads))], "C", c)
		t.Setenv("OMC_SOAK_INJ", p)
		if err := os.WriteFile(inv, []byte(in.inv(srv, d, p)), 0o644); err != nil {
			t.Fatal(err)
		}
		cmds := []string{"validate", "plan", "up"}
		if in.plan {
			cmds = cmds[:2]
		}
		for _, cmd := range cmds {
			run := fmt.Sprintf("run %d: %q in the %s, omc %s", i, p, in.name, cmd)
			o := startOmc(t, nil, cmd, "-i", inv)
			code, signaled := o.wait(60 * time.Second)
			s.saw(fmt.Sprintf("%s exit %d", cmd, code))
			s.check("ends normally", !signaled && code >= 0 && code <= ExitInventory, "%s: exit %d (signaled %v)\n%s", run, code, signaled, o.errb.String())
			for _, place := range []string{canary, filepath.Join(home, bare), filepath.Join(cwd, bare), filepath.Join("/", bare), filepath.Join(d, bare)} {
				s.check("no canary", !fileExists(place), "%s: the canary %s exists\n%s", run, place, o.errb.String())
			}
			if code == ExitInventory {
				break // refused: plan and up refuse it the same way
			}
		}
	}
}
