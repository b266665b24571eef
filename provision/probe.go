package provision

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/omc-coop/omc/internal/shell"
)

// probeScript joins the probes of steps into one script, so checking a
// whole host costs one round trip. Each step's output follows a marker
// line carrying a per-run nonce, which step output cannot forge by chance;
// the steps' facts (facts.go) follow, one command per kind. owners and
// groups are looked up in the same trip, one getent each, for file writes.
func probeScript(nonce string, steps []Step, owners, groups []string, cleanup []string) (string, [numFacts][]string) {
	var b strings.Builder
	b.WriteString("set +e\n")
	for _, t := range cleanup {
		// A killed earlier run may have left a temp file beside a target.
		fmt.Fprintf(&b, "[ -e %s ] && rm -f -- %s\n", shell.Quote(t), shell.Quote(t))
	}
	for i, s := range steps {
		fmt.Fprintf(&b, "echo '@@%s %d'\n{\n%s\n} 2>/dev/null\n", nonce, i, s.Probe())
	}
	facts := factScript(&b, nonce, steps)
	// getent goes on past a name it does not know; its entries are
	// "name:x:id:...".
	fmt.Fprintf(&b, "echo '@@%s ids'\n", nonce)
	if len(owners) > 0 {
		fmt.Fprintf(&b, "getent passwd -- %s\n", joinQuoted(owners))
	}
	fmt.Fprintf(&b, "echo '@@%s gids'\n", nonce)
	if len(groups) > 0 {
		fmt.Fprintf(&b, "getent group -- %s\n", joinQuoted(groups))
	}
	return b.String(), facts
}

func joinQuoted(args []string) string {
	return strings.Join(shell.QuoteAll(args), " ")
}

// parseProbe splits probe output into per-step lines, each with the lines
// its facts stand for, and the id tables.
func parseProbe(nonce string, steps []Step, facts [numFacts][]string, out string) (obs [][]string, uids, gids map[string]int, err error) {
	n := len(steps)
	obs = make([][]string, n)
	uids, gids = map[string]int{}, map[string]int{}
	const (
		before = -2 // the first marker
		ids    = -1 // passwd entries
		gidsAt = -4 // group entries
		inFact = -3 // a kind's section; which one is in kind
	)
	cur, kind := before, factKind(0)
	var factLines [numFacts][]string
	seen := make([]bool, n)
	prefix := "@@" + nonce + " "
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			switch rest {
			case "ids":
				cur = ids
				continue
			case "gids":
				cur = gidsAt
				continue
			}
			if k := slices.Index(factNames[:], rest); k >= 0 {
				cur, kind = inFact, factKind(k)
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
		case cur == inFact:
			factLines[kind] = append(factLines[kind], line)
		case cur == ids:
			parseID(line, uids)
		case cur == gidsAt:
			parseID(line, gids)
		}
	}
	for i, ok := range seen {
		if !ok {
			return nil, nil, nil, fmt.Errorf("probe output ended early (step %d of %d missing)", i+1, n)
		}
	}
	var vals [numFacts]map[string]string
	for k := range vals {
		vals[k] = factValues(factKind(k), facts[k], factLines[k])
	}
	addFacts(steps, obs, vals)
	return obs, uids, gids, nil
}

// parseID reads a getent passwd or group entry, "name:x:id:...".
func parseID(line string, into map[string]int) {
	f := strings.SplitN(line, ":", 4)
	if len(f) < 4 {
		return
	}
	if n, err := strconv.Atoi(f[2]); err == nil {
		into[f[0]] = n
	}
}

func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
