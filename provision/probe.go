package provision

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// probeScript joins the probes of steps into one script, so checking a
// whole host costs one round trip. Each step's output follows a marker
// line carrying a per-run nonce, which step output cannot forge by chance.
// owners and groups are looked up in the same trip, for file writes.
func probeScript(nonce string, steps []Step, owners, groups []string, cleanup []string) string {
	var b strings.Builder
	b.WriteString("set +e\n")
	for _, t := range cleanup {
		// A killed earlier run may have left a temp file beside a target.
		fmt.Fprintf(&b, "[ -e %s ] && rm -f -- %s\n", q(t), q(t))
	}
	for i, s := range steps {
		fmt.Fprintf(&b, "echo '@@%s %d'\n{\n%s\n} 2>/dev/null\n", nonce, i, s.Probe())
	}
	fmt.Fprintf(&b, "echo '@@%s ids'\n", nonce)
	for _, o := range owners {
		fmt.Fprintf(&b, "echo \"uid=%s $(id -u -- %s 2>/dev/null)\"\n", o, q(o))
	}
	for _, g := range groups {
		fmt.Fprintf(&b, "echo \"gid=%s $(getent group -- %s | cut -d: -f3)\"\n", g, q(g))
	}
	return b.String()
}

// parseProbe splits probe output into per-step lines and the id tables.
func parseProbe(nonce string, n int, out string) (obs [][]string, uids, gids map[string]int, err error) {
	obs = make([][]string, n)
	uids, gids = map[string]int{}, map[string]int{}
	cur := -2 // before the first marker
	seen := make([]bool, n)
	prefix := "@@" + nonce + " "
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			if rest == "ids" {
				cur = -1
				continue
			}
			i, err := strconv.Atoi(rest)
			if err != nil || i < 0 || i >= n {
				return nil, nil, nil, fmt.Errorf("probe output is corrupt (marker %q)", rest)
			}
			cur, seen[i] = i, true
			continue
		}
		switch {
		case cur >= 0:
			obs[cur] = append(obs[cur], line)
		case cur == -1:
			parseID(line, "uid=", uids)
			parseID(line, "gid=", gids)
		}
	}
	for i, ok := range seen {
		if !ok {
			return nil, nil, nil, fmt.Errorf("probe output ended early (step %d of %d missing)", i+1, n)
		}
	}
	return obs, uids, gids, nil
}

func parseID(line, prefix string, into map[string]int) {
	rest, ok := strings.CutPrefix(line, prefix)
	if !ok {
		return
	}
	name, id, _ := strings.Cut(rest, " ")
	if n, err := strconv.Atoi(strings.TrimSpace(id)); err == nil {
		into[name] = n
	}
}

func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
