package provision

import (
	"strconv"
	"strings"

	"github.com/omc-coop/omc/internal/shell"
)

// PackagesStep wants Debian packages installed, optionally at a version
// ("name=version"). Installs never prompt and never replace a changed
// config file (--force-confold): omc's own files stay omc's.
type PackagesStep struct {
	Names []string // "name" or "name=version"
}

func (s *PackagesStep) ID() string { return "packages " + strings.Join(s.Names, " ") }

func (s *PackagesStep) Probe() string {
	// One dpkg-query for all: it goes on past a package it does not know,
	// printing nothing for it. ${Package} has no architecture suffix, so
	// a name asked for with one ("foo:i386") gets a query of its own.
	var all, own []string
	for _, n := range s.Names {
		name, _, _ := strings.Cut(n, "=")
		if strings.Contains(name, ":") {
			own = append(own, shell.Quote(name))
		} else {
			all = append(all, shell.Quote(name))
		}
	}
	var b strings.Builder
	if len(all) > 0 {
		// Kept in omc_dpkg for InSync: a second dpkg-query (and a grep)
		// would cost two execs on every run.
		b.WriteString(`omc_dpkg=$(dpkg-query -W -f='pkg=${Package}|${db:Status-Abbrev}|${Version}\n' -- ` + strings.Join(all, " ") + ` 2>/dev/null); [ -z "$omc_dpkg" ] || printf '%s\n' "$omc_dpkg"`)
	}
	if len(own) > 0 {
		b.WriteString("\n")
		b.WriteString("for p in " + strings.Join(own, " ") + `; do v=$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}' -- "$p" 2>/dev/null); echo "pkg=$p|$v"; done`)
	}
	if b.Len() == 0 {
		return ":" // an empty { } is a syntax error
	}
	return b.String()
}

// InSync makes the step a gate (see probe): all packages installed. Not
// for pinned versions or arch-qualified names (then "": no gate). It
// reads what the step's own probe, run just before it, left in omc_dpkg,
// with builtins only: words "pkg=NAME|SS" (SS: Status-Abbrev), the second
// letter "i" for installed; versions and names have no "|" or blanks.
// Without that probe's output it says "not in sync", which costs only a
// second probe.
func (s *PackagesStep) InSync() string {
	if len(s.Names) == 0 {
		return ""
	}
	for _, n := range s.Names {
		if strings.ContainsAny(n, "=:") {
			return ""
		}
	}
	return `set -f; n=0; for w in $omc_dpkg; do case $w in 'pkg='*'|'?i*) n=$((n+1)) ;; esac; done; [ "$n" -eq ` + strconv.Itoa(len(s.Names)) + ` ]`
}

func (s *PackagesStep) Plan(obs []string) (*Change, error) {
	have := map[string]string{} // name -> installed version ("" = not installed)
	for _, l := range obs {
		rest, ok := strings.CutPrefix(l, "pkg=")
		if !ok {
			continue
		}
		f := strings.SplitN(rest, "|", 3)
		// Status-Abbrev: wanted, status, error; status "i" is installed,
		// whatever is wanted ("hi": on hold).
		if len(f) == 3 && len(f[1]) >= 2 && f[1][1] == 'i' {
			have[f[0]] = f[2]
		} else {
			have[f[0]] = ""
		}
	}
	var install, what []string
	for _, n := range s.Names {
		name, ver, pinned := strings.Cut(n, "=")
		cur := have[name] // not there: not installed (dpkg-query printed nothing)
		switch {
		case cur == "":
			install = append(install, n)
			what = append(what, "install "+n)
		case pinned && cur != ver:
			install = append(install, n)
			what = append(what, name+" "+cur+"→"+ver)
		}
	}
	if len(install) == 0 {
		return nil, nil
	}
	return &Change{Step: s, Summary: strings.Join(what, ", "), Script: aptInstall(install)}, nil
}

// aptInstall installs packages without prompts, refreshing the package
// lists first only when they are missing or older than six hours, and
// waiting for a dpkg lock held by unattended-upgrades instead of failing.
func aptInstall(pkgs []string) string {
	return `export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -360 2>/dev/null | head -n 1)" ]; then
  apt-get -q -o DPkg::Lock::Timeout=300 update || exit $?
fi
apt-get -y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install -- ` + strings.Join(shell.QuoteAll(pkgs), " ")
}
