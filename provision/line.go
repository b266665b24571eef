package provision

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/omc-coop/omc/internal/shell"
)

// LineStep wants Line present in the file at Path. When Match is set, the
// last line matching it is replaced; otherwise the line is appended. The
// rest of the file is kept as it is.
type LineStep struct {
	Path   string
	Line   string
	Match  *regexp.Regexp
	Notify []string
}

func (s *LineStep) ID() string { return "line " + s.Path + ": " + s.Line }

func (s *LineStep) Probe() string {
	own := ""
	if !batchable(s.Path) {
		own = statProbe
	}
	return "f=" + shell.Quote(s.Path) + `
if [ -f "$f" ]; then echo state=file; if grep -qxF -e ` + shell.Quote(s.Line) + ` -- "$f"; then echo present=yes
  elif [ "$(wc -c <"$f")" -le ` + strconv.Itoa(maxProbedOld) + ` ]; then echo "old=$(base64 -w0 <"$f")"; fi; ` + own + `
elif [ -e "$f" ]; then echo state=other
else echo state=absent; [ -d "$(dirname -- "$f")" ] || echo parent=missing; fi`
}

// maxProbedOld: a file this small that lacks the line comes back with the
// probe, base64 (a line older than that is read when needed): on a cold
// host that saves the SFTP session and its round trips.
const maxProbedOld = 64 << 10

// facts: the attributes, kept when the file is rewritten.
func (s *LineStep) facts() []fact {
	if !batchable(s.Path) {
		return nil
	}
	return []fact{{factStat, s.Path}}
}

func (s *LineStep) Plan(obs []string) (*Change, error) {
	state, _ := field(obs, "state")
	switch state {
	case "absent":
		if _, missing := field(obs, "parent"); missing {
			return nil, fmt.Errorf("%s: directory of %s does not exist", s.ID(), s.Path)
		}
		return &Change{Step: s, Summary: "create file with line", Notify: s.Notify, Write: &FileWrite{
			Path: s.Path, Mode: 0o644, Owner: "root", Group: "root", ContentChanged: true,
			Content: func([]byte) ([]byte, error) { return []byte(s.Line + "\n"), nil }}}, nil
	case "file":
	case "other":
		return nil, fmt.Errorf("%s exists but is not a regular file", s.Path)
	default:
		return nil, fmt.Errorf("unexpected probe output for %s", s.ID())
	}
	if _, ok := field(obs, "present"); ok {
		return nil, nil
	}
	st, err := parseStat(obs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.ID(), err)
	}
	verb := "append line"
	if s.Match != nil {
		verb = "set line"
	}
	w := &FileWrite{Path: s.Path, Mode: st.mode, Owner: st.uid, Group: st.gid, ContentChanged: true, NeedOld: true, Exists: true,
		Content: s.edit}
	if v, ok := field(obs, "old"); ok {
		if w.Old, err = base64.StdEncoding.DecodeString(v); err != nil {
			return nil, fmt.Errorf("%s: bad content from the probe: %w", s.ID(), err)
		}
		w.HaveOld = true
	}
	return &Change{Step: s, Summary: verb, Notify: s.Notify, Write: w}, nil
}

// edit returns old with the line set: the last line matching Match
// replaced, else the line appended (with a newline before it if needed).
func (s *LineStep) edit(old []byte) ([]byte, error) {
	if isBinary(old) {
		return nil, fmt.Errorf("%s is not a text file", s.Path)
	}
	lines := strings.SplitAfter(string(old), "\n")
	if s.Match != nil {
		for i := len(lines) - 1; i >= 0; i-- {
			if s.Match.MatchString(strings.TrimSuffix(lines[i], "\n")) {
				lines[i] = s.Line + "\n"
				return []byte(strings.Join(lines, "")), nil
			}
		}
	}
	var b bytes.Buffer
	b.Write(old)
	if len(old) > 0 && old[len(old)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.WriteString(s.Line + "\n")
	return b.Bytes(), nil
}
