package provision

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/omc-coop/omc/internal/shell"
)

// statProbe prints "stat=MODE UID GID USER GROUP" for $f.
const statProbe = `echo "stat=$(stat -c '%a %u %g %U %G' -- "$f")"`

// FileStep wants a regular file with exactly this content, mode and owner.
type FileStep struct {
	Path    string
	Content []byte
	Mode    os.FileMode
	Owner   string
	Group   string
	Notify  []string

	shared *sharedContent // Content as the hosts in flight share it
}

func (s *FileStep) ID() string { return "file " + s.Path }

func (s *FileStep) Probe() string {
	own := ""
	if !batchable(s.Path) {
		own = `set -- $(sha256sum < "$f"); echo "sum=$1"; ` + statProbe
	}
	return "f=" + shell.Quote(s.Path) + `
if [ -f "$f" ] && [ ! -L "$f" ]; then echo state=file; ` + own + `
elif [ -e "$f" ] || [ -L "$f" ]; then echo state=other
else echo state=absent; [ -d "$(dirname -- "$f")" ] || echo parent=missing; fi`
}

// facts: the hash and attributes, asked for with every other step's.
func (s *FileStep) facts() []fact {
	if !batchable(s.Path) {
		return nil
	}
	return []fact{{factSum, s.Path}, {factStat, s.Path}}
}

func (s *FileStep) Plan(obs []string) (*Change, error) {
	state, _ := field(obs, "state")
	w := &FileWrite{Path: s.Path, Mode: s.Mode, Owner: s.Owner, Group: s.Group,
		Content: func([]byte) ([]byte, error) { return s.Content, nil }, Binary: isBinary(s.Content)}
	switch state {
	case "absent":
		w.ContentChanged = true
		c := &Change{Step: s, Summary: "create (" + modeString(s.Mode) + " " + s.Owner + ":" + s.Group + ")", Write: w, Notify: s.Notify}
		if _, missing := field(obs, "parent"); missing {
			c.MakeDir = path.Dir(s.Path)
		}
		return c, nil
	case "file":
	case "other":
		return nil, fmt.Errorf("%s exists but is not a regular file; remove it by hand if omc should manage it", s.Path)
	default:
		return nil, fmt.Errorf("unexpected probe output for %s", s.ID())
	}
	sum, _ := field(obs, "sum")
	want := s.contentSum()
	var what []string
	if sum != hex.EncodeToString(want[:]) {
		w.ContentChanged = true
		w.Exists = true
		what = append(what, "content")
	}
	st, err := parseStat(obs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.ID(), err)
	}
	attrs := st.diff(s.Mode, s.Owner, s.Group)
	what = append(what, attrs...)
	if len(what) == 0 {
		return nil, nil
	}
	c := &Change{Step: s, Summary: "update " + strings.Join(what, ", "), Notify: s.Notify}
	if w.ContentChanged {
		c.Write = w // the write sets mode and owner too
	} else {
		c.Script = chmodChown(s.Path, s.Mode, s.Owner, s.Group)
	}
	return c, nil
}

// DirStep wants a directory with this mode and owner.
type DirStep struct {
	Path  string
	Mode  os.FileMode
	Owner string
	Group string
}

func (s *DirStep) ID() string { return "dir " + s.Path }

func (s *DirStep) Probe() string {
	own := ""
	if !batchable(s.Path) {
		own = statProbe
	}
	return "f=" + shell.Quote(s.Path) + `
if [ -d "$f" ] && [ ! -L "$f" ]; then echo state=dir; ` + own + `
elif [ -e "$f" ] || [ -L "$f" ]; then echo state=other
else echo state=absent; fi`
}

func (s *DirStep) facts() []fact {
	if !batchable(s.Path) {
		return nil
	}
	return []fact{{factStat, s.Path}}
}

func (s *DirStep) Plan(obs []string) (*Change, error) {
	state, _ := field(obs, "state")
	switch state {
	case "absent":
		return &Change{Step: s, Summary: "create (" + modeString(s.Mode) + " " + s.Owner + ":" + s.Group + ")",
			Script: makeDir(s.Path, s.Mode, s.Owner, s.Group)}, nil
	case "dir":
	case "other":
		return nil, fmt.Errorf("%s exists but is not a directory", s.Path)
	default:
		return nil, fmt.Errorf("unexpected probe output for %s", s.ID())
	}
	st, err := parseStat(obs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.ID(), err)
	}
	attrs := st.diff(s.Mode, s.Owner, s.Group)
	if len(attrs) == 0 {
		return nil, nil
	}
	return &Change{Step: s, Summary: "update " + strings.Join(attrs, ", "), Script: chmodChown(s.Path, s.Mode, s.Owner, s.Group)}, nil
}

type fileStat struct {
	mode        os.FileMode
	uid, gid    string
	user, group string
}

func parseStat(obs []string) (fileStat, error) {
	v, ok := field(obs, "stat")
	f := strings.Fields(v)
	if !ok || len(f) != 5 {
		return fileStat{}, fmt.Errorf("cannot read file attributes (stat printed %q)", v)
	}
	m, err := strconv.ParseUint(f[0], 8, 32)
	if err != nil {
		return fileStat{}, fmt.Errorf("bad mode %q from stat", f[0])
	}
	return fileStat{mode: os.FileMode(m), uid: f[1], gid: f[2], user: f[3], group: f[4]}, nil
}

// diff lists the attributes that differ: "mode 0644→0600", "owner a→b".
func (st fileStat) diff(mode os.FileMode, owner, group string) []string {
	var d []string
	if st.mode != mode {
		d = append(d, "mode "+modeString(st.mode)+"→"+modeString(mode))
	}
	if owner != st.user && owner != st.uid {
		d = append(d, "owner "+st.user+"→"+owner)
	}
	if group != st.group && group != st.gid {
		d = append(d, "group "+st.group+"→"+group)
	}
	return d
}

func chmodChown(p string, mode os.FileMode, owner, group string) string {
	return fmt.Sprintf("chown %s -- %s && chmod %s -- %s", shell.Quote(owner+":"+group), shell.Quote(p), modeString(mode), shell.Quote(p))
}

// makeDir makes p, and any missing parents as mkdir -p would, with its
// mode and owner set in one process (mkdir, chown, chmod were three).
func makeDir(p string, mode os.FileMode, owner, group string) string {
	return fmt.Sprintf("install -d -o %s -g %s -m %s -- %s", shell.Quote(owner), shell.Quote(group), modeString(mode), shell.Quote(p))
}

func modeString(m os.FileMode) string { return fmt.Sprintf("%04o", uint32(m)) }

// isBinary: content that is not UTF-8 text, or has NULs, is never diffed.
func isBinary(b []byte) bool {
	return !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0
}
