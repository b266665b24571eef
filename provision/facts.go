package provision

import (
	"fmt"
	"strings"
)

// Facts are state that many steps read the same way: a path's attributes,
// a file's hash, a unit's activity. A step that declares them leaves them
// out of its own probe; the probe then asks for each kind ONCE, for every
// step at once (one stat, one sha256sum, one systemctl is-active, one
// is-enabled), and hands each step the lines its own probe would have
// printed. On a host every exec costs a fork and an exec (5-10 ms on a
// busy one), and a no-op run is nothing but probes: a BBB node's went
// from one stat and one sha256sum per file to one of each per host.

type factKind int

const (
	factStat    factKind = iota // "stat=MODE UID GID USER GROUP" of a path, not following symlinks
	factSum                     // "sum=SHA256" of a regular file that is not a symlink
	factActive                  // "active=STATE" of a unit (systemctl is-active)
	factValue                   // "value=FIRST LINE" of a kernel file (/proc/sys)
	factEnabled                 // "enabled=STATE" of a unit (systemctl is-enabled)
	numFacts
)

var factNames = [numFacts]string{factStat: "stat", factSum: "sum", factActive: "active", factValue: "value", factEnabled: "enabled"}

type fact struct {
	kind factKind
	arg  string
}

// factStep is a step that has some of its state read for it.
type factStep interface{ facts() []fact }

// batchable reports whether a path can be named in a shared command's
// output without escaping: stat prints it raw and sha256sum escapes
// backslashes and line breaks, so such paths keep their own probe.
func batchable(p string) bool { return !strings.ContainsAny(p, "\t\n\r\\") }

// factScript asks for every fact of steps, one command per kind, each
// after its own marker; facts lists them per kind in the order asked.
func factScript(b *strings.Builder, nonce string, steps []Step) (facts [numFacts][]string) {
	seen := map[fact]bool{}
	for _, s := range steps {
		fs, ok := s.(factStep)
		if !ok {
			continue
		}
		for _, f := range fs.facts() {
			if !seen[f] {
				seen[f] = true
				facts[f.kind] = append(facts[f.kind], f.arg)
			}
		}
	}
	if ps := facts[factStat]; len(ps) > 0 {
		fmt.Fprintf(b, "echo '@@%s stat'\nstat --printf '%%n\\t%%a %%u %%g %%U %%G\\n' -- %s 2>/dev/null\n", nonce, joinQuoted(ps))
	}
	if ps := facts[factSum]; len(ps) > 0 {
		// Only regular files: reading a FIFO or a device would block or
		// never end.
		fmt.Fprintf(b, "echo '@@%s sum'\nset --\nfor f in %s; do [ -f \"$f\" ] && [ ! -L \"$f\" ] && set -- \"$@\" \"$f\"; done\n[ $# -gt 0 ] && sha256sum -- \"$@\" 2>/dev/null\n", nonce, joinQuoted(ps))
	}
	if us := facts[factActive]; len(us) > 0 {
		// is-active prints one line per unit, unknown ones included.
		fmt.Fprintf(b, "echo '@@%s active'\nsystemctl is-active -- %s 2>/dev/null\n", nonce, joinQuoted(us))
	}
	if us := facts[factEnabled]; len(us) > 0 {
		// is-enabled prints one line per unit but stops at the first
		// unknown one: then each unit is asked alone, a line each
		// (empty for an unknown one). Its states have no blanks.
		q := joinQuoted(us)
		fmt.Fprintf(b, "echo '@@%s enabled'\nomc_en=$(systemctl is-enabled -- %s 2>/dev/null)\nset -f; set -- $omc_en; set +f\nif [ $# -eq %d ]; then printf '%%s\\n' \"$@\"\nelse for u in %s; do echo \"$(systemctl is-enabled -- \"$u\" 2>/dev/null)\"; done; fi\n", nonce, q, len(us), q)
	}
	if ps := facts[factValue]; len(ps) > 0 {
		// Not the shell's read: /proc/sys answers a read at an offset
		// past 0 with EOF, and read takes a byte at a time.
		fmt.Fprintf(b, "echo '@@%s value'\ngrep -H -e '' -- %s 2>/dev/null\n", nonce, joinQuoted(ps))
	}
	return facts
}

// factValues turns a kind's output into values by argument.
func factValues(kind factKind, args []string, lines []string) map[string]string {
	vals := map[string]string{}
	switch kind {
	case factStat:
		for _, l := range lines {
			if p, v, ok := strings.Cut(l, "\t"); ok {
				vals[p] = v
			}
		}
	case factSum:
		// "HASH  PATH" (text mode; the paths need no escaping).
		for _, l := range lines {
			if len(l) > 66 && l[64:66] == "  " {
				vals[l[66:]] = l[:64]
			}
		}
	case factValue:
		// "PATH:LINE"; kernel paths have no colon. The first line counts.
		for _, l := range lines {
			if p, v, ok := strings.Cut(l, ":"); ok {
				if _, dup := vals[p]; !dup {
					vals[p] = v
				}
			}
		}
	case factEnabled:
		// One line per unit, in order; an empty one is a unit that
		// systemctl does not know.
		for i, a := range args {
			if i < len(lines) {
				vals[a] = lines[i]
			} else {
				vals[a] = "" // no systemctl: as for factActive
			}
		}
	case factActive:
		n := 0
		for _, l := range lines {
			if l == "" {
				continue
			}
			if n < len(args) {
				vals[args[n]] = l
			}
			n++
		}
		for _, a := range args[min(n, len(args)):] {
			vals[a] = "" // no systemctl: what the step's own probe printed then
		}
	}
	return vals
}

// addFacts appends to each step's observations the lines its facts stand
// for, as its own probe would have printed them.
func addFacts(steps []Step, obs [][]string, vals [numFacts]map[string]string) {
	for i, s := range steps {
		fs, ok := s.(factStep)
		if !ok {
			continue
		}
		for _, f := range fs.facts() {
			if v, ok := vals[f.kind][f.arg]; ok {
				obs[i] = append(obs[i], factNames[f.kind]+"="+v)
			}
		}
	}
}
