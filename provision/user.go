package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/omc-coop/omc/internal/shell"
)

// UserStep wants a local account with a shell, supplementary groups and
// (optionally) exactly these authorized SSH keys.
type UserStep struct {
	Name           string
	Groups         []string
	Shell          string
	System         bool
	AuthorizedKeys []string // nil: keys not managed
}

func (s *UserStep) ID() string { return "user " + s.Name }

func (s *UserStep) Probe() string {
	n := shell.Quote(s.Name)
	return `if e=$(getent passwd -- ` + n + `); then echo "passwd=$e"; echo "groups=$(id -nG -- ` + n + `)"
IFS=: read -r _ _ _ _ _ h _ <<OMC_PASSWD
$e
OMC_PASSWD
k="$h/.ssh/authorized_keys"; [ -f "$k" ] && { set -- $(sha256sum < "$k"); echo "keys=$1"; }
else echo passwd=; fi`
}

func (s *UserStep) keys() []byte {
	if len(s.AuthorizedKeys) == 0 {
		return nil
	}
	return []byte(strings.Join(s.AuthorizedKeys, "\n") + "\n")
}

func (s *UserStep) Plan(obs []string) (*Change, error) {
	pw, ok := field(obs, "passwd")
	if !ok {
		return nil, fmt.Errorf("unexpected probe output for %s", s.ID())
	}
	n := shell.Quote(s.Name)
	home := "/home/" + s.Name
	var cmds, what []string
	if pw == "" {
		args := "useradd -m -U"
		if s.System {
			args = "useradd -r -m -U"
		}
		if s.Shell != "" {
			args += " -s " + shell.Quote(s.Shell)
		}
		if len(s.Groups) > 0 {
			args += " -G " + shell.Quote(strings.Join(s.Groups, ","))
		}
		cmds, what = append(cmds, args+" -- "+n), append(what, "create")
	} else {
		f := strings.Split(pw, ":")
		if len(f) != 7 {
			return nil, fmt.Errorf("%s: unexpected passwd entry", s.ID())
		}
		home = f[5]
		if s.Shell != "" && f[6] != s.Shell {
			cmds, what = append(cmds, "usermod -s "+shell.Quote(s.Shell)+" -- "+n), append(what, "shell "+f[6]+"→"+s.Shell)
		}
		g, _ := field(obs, "groups")
		have := strings.Fields(g)
		var missing []string
		for _, want := range s.Groups {
			if !slices.Contains(have, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) > 0 {
			cmds, what = append(cmds, "usermod -a -G "+shell.Quote(strings.Join(missing, ","))+" -- "+n), append(what, "add to "+strings.Join(missing, ","))
		}
	}
	c := &Change{Step: s}
	if s.AuthorizedKeys != nil {
		sum := sha256.Sum256(s.keys())
		if have, _ := field(obs, "keys"); have != hex.EncodeToString(sum[:]) {
			what = append(what, "authorized keys")
			cmds = append(cmds, "install -d -m 0700 -o "+n+" -g \"$(id -g -- "+n+")\" -- "+shell.Quote(home+"/.ssh"))
			c.Write = &FileWrite{Path: home + "/.ssh/authorized_keys", Mode: 0o600, Owner: s.Name, Group: s.Name, ContentChanged: true,
				Content: func([]byte) ([]byte, error) { return s.keys(), nil }}
		}
	}
	if len(what) == 0 {
		return nil, nil
	}
	c.Summary = strings.Join(what, ", ")
	c.Before = strings.Join(cmds, " && ")
	return c, nil
}
