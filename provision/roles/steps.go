package roles

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/templates"
)

// q quotes s for POSIX sh.

// field returns the value of "key=value" in probe output.
func field(obs []string, key string) (string, bool) {
	for _, l := range obs {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// file renders a template into a FileStep.
func file(path, tmpl string, data any, mode os.FileMode, owner, group string, notify ...string) (*provision.FileStep, error) {
	b, err := templates.Render(tmpl, data)
	if err != nil {
		return nil, err
	}
	return &provision.FileStep{Path: path, Content: b, Mode: mode, Owner: owner, Group: group, Notify: notify}, nil
}

// checkedFile is a FileStep whose new content must pass Check (a command
// such as `sshd -t`) before anything restarts: a file that fails is put
// back as it was and the step fails, so a bad sshd or sudoers drop-in can
// never lock anyone out at the next restart.
type checkedFile struct {
	*provision.FileStep
	Check string
}

func (s *checkedFile) Plan(obs []string) (*provision.Change, error) {
	c, err := s.FileStep.Plan(obs)
	if c == nil || err != nil || c.Write == nil {
		return c, err
	}
	p, bak := shell.Quote(s.Path), shell.Quote(s.Path+".omc-bak")
	save := "if [ -f " + p + " ]; then cp -p -- " + p + " " + bak + "; else rm -f -- " + bak + "; fi"
	if c.Before != "" {
		save = c.Before + " && " + save
	}
	c.Before = save
	c.Script = "if ! out=$( (" + s.Check + ") 2>&1); then\n" +
		"  if [ -f " + bak + " ]; then mv -f -- " + bak + " " + p + "; else rm -f -- " + p + "; fi\n" +
		"  echo \"" + s.Path + " was rejected by its check and put back: $out\" >&2; exit 1\n" +
		"fi\nrm -f -- " + bak
	return c, nil
}

// secretLine is a LineStep whose line holds a secret: its ID names the
// file and what is set, never the line itself (step IDs are shown as they
// are, unmasked).
type secretLine struct {
	*provision.LineStep
	id string
}

func (s *secretLine) ID() string { return s.id }

// daemonReload reloads systemd when a unit or drop-in that omc wrote has
// changed on disk: the engine's handlers only restart, and a restart
// after a changed unit file would run the old definition. NeedDaemonReload
// alone misses a drop-in that is new since the last reload (systemd 252
// only looks at the drop-ins it loaded), so the guard also wants every
// drop-in on disk among the loaded ones.
func daemonReload(unit string) *provision.CommandStep {
	u := shell.Quote(unit)
	return &provision.CommandStep{
		Label: "systemctl daemon-reload (" + unit + ")",
		Run:   "systemctl daemon-reload",
		Unless: `[ "$(systemctl show -p NeedDaemonReload --value -- ` + u + `)" != yes ] || exit 1
l=" $(systemctl show -p DropInPaths --value -- ` + u + `) "
for f in /etc/systemd/system/` + u + `.d/*.conf; do [ -e "$f" ] || continue; case "$l" in *" $f "*) ;; *) exit 1;; esac; done`,
	}
}

// settingError is an error about one of a node's settings: Steps puts
// it at the inventory line that set key (a dotted path under settings),
// so a user sees which level, group or node, to fix.
type settingError struct {
	key string
	err error
}

func (e *settingError) Error() string { return e.err.Error() }
func (e *settingError) Unwrap() error { return e.err }

// atSetting is fmt.Errorf for an error about setting key.
func atSetting(key, format string, args ...any) error {
	return &settingError{key: key, err: fmt.Errorf(format, args...)}
}

// stepsErr is every error found building n's steps, each at its place in
// the inventory file: a setting's error at the line that set it, one the
// inventory already placed where it said, the rest at the node.
// Without an inventory (LineOS) they are joined as they are.
func (b *builder) err() error {
	if len(b.errs) == 0 {
		return nil
	}
	if b.inv == nil {
		return errors.Join(b.errs...)
	}
	inv, n, s := b.inv, b.n, b.s
	out := &inventory.Errors{}
	for _, err := range b.errs {
		if placed, ok := err.(*inventory.Error); ok {
			out.List = append(out.List, placed)
			continue
		}
		pos := n.Pos
		var se *settingError
		if errors.As(err, &se) {
			if p, _, ok := s.Where(se.key); ok {
				pos = p
			}
		}
		out.List = append(out.List, &inventory.Error{File: inv.Path, Pos: pos, Msg: err.Error()})
	}
	return out
}

var (
	reHostsLine = regexp.MustCompile(`^127\.0\.1\.1\s`)
	reFstabSwap = regexp.MustCompile(`^/swapfile\s`)
)

func regexpMust(s string) *regexp.Regexp { return regexp.MustCompile(s) }
