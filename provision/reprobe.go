package provision

import (
	"path"
	"strings"
)

// A change may alter what later steps see: a package creates a config file
// or a user, a command does anything. The engine probes the remaining
// steps again before planning one whose view a change may have altered,
// and only then: a probe is a round trip that runs every remaining check
// (on a cold host that was most of omc's time above the package manager's).
// Steps that know exactly what they change and what they read say so
// through these two interfaces; any other step is assumed to change, and
// to read, anything.

// Toucher is a step whose change alters nothing but these paths (kernel
// parameters as their /proc/sys paths).
type Toucher interface{ Touches() []string }

// Reader is a step whose probe reads nothing but these paths (a
// directory covers what is below it).
type Reader interface{ Observes() []string }

// givenReader is a Reader whose paths depend on what its probe found.
type givenReader interface{ ObservesGiven(obs []string) []string }

// shallowToucher is a Toucher whose change alters its paths themselves
// (made, or their mode and owner), never what is below them: a directory.
type shallowToucher interface {
	Toucher
	shallow()
}

// dirtSet collects what the changes made since the last probe touched.
type dirtSet struct {
	paths   []string
	shallow []string // changed themselves, not what is below
	unknown bool     // a change that may have touched anything
}

func (d *dirtSet) add(s Step) {
	if t, ok := s.(shallowToucher); ok {
		d.shallow = append(d.shallow, t.Touches()...)
		return
	}
	if t, ok := s.(Toucher); ok {
		d.paths = append(d.paths, t.Touches()...)
		return
	}
	d.unknown = true
}

func (d *dirtSet) clean() bool { return !d.unknown && len(d.paths) == 0 && len(d.shallow) == 0 }

// affects reports whether s's probe, which found obs, may see something
// the changes touched.
func (d *dirtSet) affects(s Step, obs []string) bool {
	if d.clean() {
		return false
	}
	var seen []string
	switch o := s.(type) {
	case givenReader:
		seen = o.ObservesGiven(obs)
	case Reader:
		seen = o.Observes()
	}
	if d.unknown || seen == nil {
		return true
	}
	for _, p := range seen {
		for _, t := range d.paths {
			if overlaps(p, t) {
				return true
			}
		}
		for _, t := range d.shallow {
			if covers(p, t) {
				return true
			}
		}
	}
	return false
}

// covers: observing a sees b, the same path or one below a.
func covers(a, b string) bool {
	a, b = strings.TrimSuffix(a, "/"), strings.TrimSuffix(b, "/")
	return a == b || strings.HasPrefix(b, a+"/") || a == ""
}

// overlaps: the same path, or one below the other.
func overlaps(a, b string) bool {
	a, b = strings.TrimSuffix(a, "/"), strings.TrimSuffix(b, "/")
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

// Paths the built-in steps change and read. Owners are read by name, so
// the account files count too. A file's probe also asks whether its
// parent exists, but a file step plans the same either way (create, with
// a mkdir -p that is then a no-op), so a directory made before it needs
// no second look. A line step refuses a missing parent, so it reads it,
// but only when its probe found it missing: no step removes a directory.
var accountFiles = []string{"/etc/passwd", "/etc/group"}

func (s *FileStep) Touches() []string  { return []string{s.Path} }
func (s *FileStep) Observes() []string { return append([]string{s.Path}, accountFiles...) }
func (s *DirStep) Touches() []string   { return []string{s.Path} }
func (s *DirStep) Observes() []string  { return append([]string{s.Path}, accountFiles...) }
func (*DirStep) shallow()              {}
func (s *LineStep) Touches() []string  { return []string{s.Path} }
func (s *LineStep) Observes() []string {
	return append([]string{s.Path, path.Dir(s.Path)}, accountFiles...)
}
func (s *LineStep) ObservesGiven(obs []string) []string {
	if _, missing := field(obs, "parent"); missing {
		return s.Observes()
	}
	return append([]string{s.Path}, accountFiles...)
}

// A user's probe reads the account files and, when its keys are managed,
// the authorized_keys file in a home that may be anywhere.
func (s *UserStep) Observes() []string {
	if s.AuthorizedKeys != nil {
		return []string{"/"}
	}
	return append([]string{"/etc/shadow", "/etc/gshadow"}, accountFiles...)
}

func (s *SysctlStep) procPath() string   { return "/proc/sys/" + strings.ReplaceAll(s.Name, ".", "/") }
func (s *SysctlStep) Touches() []string  { return []string{s.confPath(), s.procPath()} }
func (s *SysctlStep) Observes() []string { return []string{s.confPath(), s.procPath()} }

// systemdState stands for units' files and their runtime state.
var systemdState = []string{"/etc/systemd", "/run/systemd", "/lib/systemd", "/usr/lib/systemd"}

func (s *ServiceStep) Touches() []string  { return systemdState }
func (s *ServiceStep) Observes() []string { return systemdState }
