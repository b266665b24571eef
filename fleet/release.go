package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/providers"
)

// BBBReleaseScript prints the node's installed BBB release: what bbb-web
// itself reads for the API root's bbbVersion
// (/etc/bigbluebutton/bigbluebutton-release, BIGBLUEBUTTON_RELEASE=3.0.4),
// else the bigbluebutton package's version without epoch and Debian
// revision (1:3.0.4-1 → 3.0.4).
const BBBReleaseScript = `v=$(sed -n 's/^BIGBLUEBUTTON_RELEASE=//p' /etc/bigbluebutton/bigbluebutton-release 2>/dev/null | head -n 1)
if [ -z "$v" ]; then
  v=$(dpkg-query -W -f='${Version}' bigbluebutton 2>/dev/null | sed -E 's/^[0-9]+://; s/-[^-]*$//')
fi
if [ -z "$v" ]; then
  echo "neither /etc/bigbluebutton/bigbluebutton-release nor the bigbluebutton package (dpkg-query) names a release" >&2
  exit 1
fi
printf '%s\n' "$v"
`

// ReleaseReader is the gate's other way to a node's BBB release when its
// API root hides bbbVersion: BBBReleaseScript over SSH, as omc up
// reaches the node. The group's machines are listed once, when first
// needed.
func ReleaseReader(inv *inventory.Inventory, g *inventory.Group, nodes []*inventory.Node, deps *PoolDeps) func(ctx context.Context, m pool.Member) (string, error) {
	var once sync.Once
	var machines map[string]providers.Machine
	var listErr error
	return func(ctx context.Context, m pool.Member) (string, error) {
		var n *inventory.Node
		for _, x := range nodes {
			if x.Name == m.Node {
				n = x
			}
		}
		if n == nil {
			return "", fmt.Errorf("node %s is not in the inventory", m.Node)
		}
		once.Do(func() { _, machines, listErr = MachinesOf(ctx, inv, g, deps) })
		if listErr != nil {
			return "", fmt.Errorf("over SSH: %w", listErr)
		}
		mc, ok := machines[n.Name]
		if !ok {
			return "", fmt.Errorf("over SSH: node %s has no machine (provider %s)", n.Name, n.Provider)
		}
		r, err := deps.Executor()(ctx, n, mc, BBBReleaseScript)
		switch {
		case err != nil:
			return "", fmt.Errorf("over SSH: %w", err)
		case r.ExitCode != 0:
			msg := strings.TrimSpace(string(r.Stderr))
			if msg == "" {
				msg = fmt.Sprintf("exit %d", r.ExitCode)
			}
			return "", errors.New("over SSH: " + msg)
		}
		return strings.TrimSpace(string(r.Stdout)), nil
	}
}
