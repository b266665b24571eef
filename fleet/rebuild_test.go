package fleet

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
)

// Rebuild rebuilds the machines group by group through the provider it
// is given, says so as a provider event (it prints nothing), then
// prepares the converge of up: a Convergence with a host per node, in
// Apply mode whatever the options say. A failed rebuild converges
// nothing.
func TestRebuildThenPrepareConverge(t *testing.T) {
	inv, nodes := loadDown(t, "web-1", "web-2")
	c := &cloud{have: map[string]bool{"web-1": true}} // web-2 is gone: up makes it
	var events []providers.Event
	o := RebuildOptions{
		ConvergeOptions: ConvergeOptions{Mode: provision.Plan, Parallel: 1, Command: "up",
			Provider: func(name string) (providers.Provider, error) { return c, nil }},
		Events: func(e providers.Event) { events = append(events, e) },
	}
	run, err := Rebuild(context.Background(), inv, nodes, o)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.rebuilt, " ") != "web-1 web-2" || strings.Join(run.Names(), " ") != "web-1 web-2" || len(run.Missing) != 0 {
		t.Fatalf("rebuilt %v, hosts %v, missing %d", c.rebuilt, run.Names(), len(run.Missing))
	}
	if !c.have["web-2"] {
		t.Fatal("the converge that follows is up's: a machine that is gone is made")
	}
	if len(events) != 1 || events[0] != (providers.Event{Provider: "hcloud", Phase: "log", Message: "eu: rebuilt 2 machine(s)"}) {
		t.Fatalf("events %+v", events)
	}

	c.fail, c.rebuilt, events = errors.New("rate limited"), nil, nil
	if _, err := Rebuild(context.Background(), inv, nodes, o); err == nil || err.Error() != "group eu: rebuild: rate limited" || len(events) != 0 {
		t.Fatalf("failed rebuild: %v, events %+v", err, events)
	}
}
