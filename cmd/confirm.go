package cmd

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/bbbapi"
	"github.com/omc-coop/omc/provision/roles"
)

// confirm asks on a terminal whether to go ahead with what (a question
// saying what will happen); elsewhere it requires --yes, so that nothing
// destructive runs by surprise from a script or CI.
func confirm(s *ui.Streams, yes bool, what string) error {
	if yes {
		return nil
	}
	if !s.Interactive() {
		return usageError("%s: not on a terminal, so omc cannot ask; pass --yes to go ahead", strings.TrimSuffix(what, "?"))
	}
	fmt.Fprintf(s.Err, "%s [y/N] ", what)
	line, _ := bufio.NewReader(s.In).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		return &exitError{Code: ExitError, Err: fmt.Errorf("cancelled")}
	}
	return nil
}

// liveMeetings says what runs on the members now, asking each node's
// BBB API (a signed getMeetings, as the health gate does): what a
// confirmation names as the meetings that will end. total is the number
// of meetings seen; a node that does not answer is named as such.
func liveMeetings(ctx context.Context, hc *http.Client, ms []pool.Member) (text string, total int) {
	var parts []string
	for _, m := range ms {
		c := &bbbapi.Client{URL: m.URL, Secret: m.Secret, HTTP: hc}
		l, err := c.Meetings(ctx)
		if err != nil {
			parts = append(parts, m.Node+": meetings unknown (its BBB API did not answer)")
			continue
		}
		n, users := 0, 0
		for _, mt := range l {
			if !mt.IsBreakout {
				n++
				users += mt.Users()
			}
		}
		total += n
		if n == 0 {
			parts = append(parts, m.Node+": no meetings")
		} else {
			parts = append(parts, fmt.Sprintf("%s: %d meeting(s), %d user(s)", m.Node, n, users))
		}
	}
	return strings.Join(parts, "; "), total
}

// nodeMember is node n as its BBB API is reached: as its group's pool
// registers it, or (no pool) at the default API URL of its domain.
func nodeMember(inv *inventory.Inventory, n *inventory.Node) (pool.Member, error) {
	g := *inv.Group(n.Group)
	if g.Pool == nil {
		g.Pool = &inventory.Pool{}
	}
	return fleet.MemberOf(inv, &g, n)
}

// confirmForce asks before omc up --force lets BBB restart or upgrade
// under live meetings, naming the meetings on the selected bbb nodes.
func confirmForce(ctx context.Context, s *ui.Streams, o *convergeOptions, inv *inventory.Inventory, nodes []*inventory.Node) error {
	if o.Yes {
		return nil
	}
	var ms []pool.Member
	for _, n := range nodes {
		if !slices.Contains(n.Roles, roles.RoleBBB) {
			continue
		}
		if m, err := nodeMember(inv, n); err == nil {
			ms = append(ms, m)
		}
	}
	what := fmt.Sprintf("Converge %d node(s) with --force: BBB restarts or upgrades even under live meetings, which end", len(nodes))
	if len(ms) > 0 {
		live, _ := liveMeetings(ctx, fleet.DefaultPoolHTTP, ms)
		what += " (now " + live + ")"
	}
	return confirm(s, o.Yes, what+"?")
}
