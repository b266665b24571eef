package provision

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fuzzSteps has one step of each kind, with paths under dir.
func fuzzSteps(dir string) []Step {
	return []Step{
		&FileStep{Path: filepath.Join(dir, "etc/app.conf"), Content: []byte("a=1\n"), Mode: 0o640, Owner: "root", Group: "root"},
		&DirStep{Path: filepath.Join(dir, "srv")},
		&LineStep{Path: filepath.Join(dir, "etc/hosts"), Line: "127.0.1.1 bbb", Match: regexp.MustCompile(`^127\.0\.1\.1\s`)},
		&CommandStep{Label: "marker", Run: "touch " + filepath.Join(dir, "m"), Creates: filepath.Join(dir, "m")},
		&PackagesStep{Names: []string{"coreutils", "omc-no-such-package"}},
		&ServiceStep{Name: "omc-no-such-unit", Enabled: true, Running: true},
		&SysctlStep{Name: "net.core.somaxconn", Value: "1024"},
		&UserStep{Name: "omc-fuzz", Groups: []string{"omc-fuzz"}, Shell: "/bin/bash", AuthorizedKeys: []string{"ssh-ed25519 AAAA x"}},
	}
}

// FuzzProbeOutput feeds any output of the probe script, which a host
// prints, to the parser and to each step's Plan. Neither may panic; a
// parsed output gives each step its own lines, without the markers.
// Seeds: the probe's real output on this machine, and cut short.
func FuzzProbeOutput(f *testing.F) {
	const nonce = "0123456789abcdef"
	dir := f.TempDir()
	steps := fuzzSteps(dir)
	script, facts := probeScript(nonce, steps, []string{"root", "nobody"}, []string{"root"}, nil)
	res, err := (&localConn{}).Run(context.Background(), script)
	if err != nil {
		f.Fatal(err)
	}
	out := string(res.Stdout)
	f.Add(out)
	f.Add(out[:len(out)/2])
	f.Add("@@" + nonce + " 0\nstate=absent\n@@" + nonce + " 99\n")
	f.Fuzz(func(t *testing.T, out string) {
		obs, _, _, err := parseProbe(nonce, steps, facts, out)
		if err != nil {
			return
		}
		if len(obs) != len(steps) {
			t.Fatalf("%d observations for %d steps", len(obs), len(steps))
		}
		for i, s := range steps {
			for _, l := range obs[i] {
				if strings.HasPrefix(l, "@@"+nonce+" ") {
					t.Fatalf("step %d got a marker line %q", i, l)
				}
			}
			s.Plan(obs[i])
		}
	})
}
