package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/remote"
)

// ScaleOptions are scale's.
type ScaleOptions struct {
	Group string
	// N is the size asked for; below 0, the size the pool's capacity
	// model gives for ForUsers concurrent users.
	N        int
	ForUsers int
	// Timeout bounds the wait for a removed node's meetings to end;
	// Force ends those still running then.
	Timeout time.Duration
	Force   bool
	Deps    *PoolDeps
}

// ScalePlan is what scale will do to a counted group with a pool: its
// size From → To (and why), the nodes it makes, and those it removes,
// least loaded first. Close it when done.
type ScalePlan struct {
	Group    *inventory.Group
	From, To int
	Reason   string
	Add      []string
	Remove   []string
	Pool     *Pool

	inv     *inventory.Inventory
	current []*inventory.Node // the counted nodes, 1..From
	add     []*inventory.Node
	remove  []pool.Member
	o       ScaleOptions
}

// ScaleResult is what a scale did.
type ScaleResult struct {
	Added   []string      // made, registered and enabled
	Held    []pool.Change // made and registered, but the gate holds them out
	Removed []string      // drained, deregistered and deleted
	// Count is the group's size afterwards, as the inventory file now
	// says (every node made, every node not deleted); CountErr says why
	// the file could not be rewritten to it, when Count changed.
	Count    int
	CountErr error
}

// GroupWithPool is the group named name, which must have a pool.
func GroupWithPool(inv *inventory.Inventory, name string) (*inventory.Group, error) {
	grp := inv.Group(name)
	switch {
	case grp == nil:
		return nil, usageErrorf("no group named %q in %s", name, inv.Path)
	case grp.Pool == nil:
		return nil, usageErrorf("group %s has no pool (groups.%s.pool)", grp.Name, grp.Name)
	}
	return grp, nil
}

// PlanScale works out the group's new size and which nodes come and go,
// and opens its pool (which it reads for the nodes' load). It changes
// nothing.
func PlanScale(ctx context.Context, inv *inventory.Inventory, o ScaleOptions) (*ScalePlan, error) {
	grp, err := GroupWithPool(inv, o.Group)
	if err != nil {
		return nil, err
	}
	if grp.Provider == "static" || grp.Count < 1 || !strings.Contains(grp.NamePattern, "{n}") {
		return nil, usageErrorf("group %s is not a counted group (count and a name pattern with {n}, provider hcloud, robot or local): omc scale makes and deletes its machines", grp.Name)
	}
	var model pool.Capacity
	model.UsersPerNode, model.HeadroomPercent, model.MinNodes, model.MaxNodes = grp.Pool.Capacity.Model()
	p := &ScalePlan{Group: grp, From: grp.Count, To: o.N, Add: []string{}, Remove: []string{}, inv: inv, o: o}
	if o.N < 0 {
		p.To, p.Reason = model.NodesFor(o.ForUsers)
	} else {
		p.Reason = fmt.Sprintf("%d node(s) as asked", p.To)
		if p.To < model.MinNodes {
			return nil, usageErrorf("group %s: %d is fewer than the pool's min_nodes %d", grp.Name, p.To, model.MinNodes)
		}
		if model.MaxNodes > 0 && p.To > model.MaxNodes {
			return nil, usageErrorf("group %s: %d is more than the pool's max_nodes %d", grp.Name, p.To, model.MaxNodes)
		}
	}
	red := Redactor(ctx, PoolSecrets(inv)...)
	p.current = counted(inv, grp)
	for i := p.From + 1; i <= p.To; i++ {
		n := countedNode(p.current[0], grp, i)
		p.add = append(p.add, n)
		p.Add = append(p.Add, n.Name)
	}
	p.Pool, err = OpenPool(ctx, inv, grp, o.Deps, red, p.add...)
	if err != nil {
		return nil, err
	}
	if p.To < p.From {
		var gone []pool.Member
		for _, n := range p.current[p.To:] {
			m, _ := p.Pool.Member(n.Name)
			gone = append(gone, m)
		}
		servers, err := p.Pool.API.List(ctx)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.remove = pool.LeastLoaded(gone, servers)
		for _, m := range p.remove {
			p.Remove = append(p.Remove, m.Node)
		}
	}
	return p, nil
}

// Close releases the pool.
func (p *ScalePlan) Close() { p.Pool.Close() }

// Apply scales the pool with the group's provider prov (pool.Scale):
// new machines are made and converged (Deps.Converge), registered and
// enabled once healthy; removed nodes are drained, deregistered, and
// only then deleted. Each pool change goes to Deps.Change and to log.
// Then the group's count in the inventory file is set to what exists.
// Its error is masked.
func (p *ScalePlan) Apply(ctx context.Context, prov providers.Provider, log *slog.Logger) (*ScaleResult, error) {
	inv, grp, fp, deps := p.inv, p.Group, p.Pool, p.o.Deps
	kh := &remote.KnownHosts{Path: KnownHostsPath()}
	opts := pool.ScaleOptions{
		Add: p.Add, Remove: p.remove, Gate: fp.Gate, Holds: fp.Holds,
		Drain: pool.DrainOptions{Timeout: p.o.Timeout, Poll: deps.PollEvery(), Force: p.o.Force, HTTP: deps.Client(), EndWait: deps.EndWaitFor()},
		Progress: func(c pool.Change) {
			if log != nil {
				log.Info("pool", "node", c.Node, "action", c.Action, "detail", fp.Red.String(c.Detail))
			}
			deps.ReportChange(fp.Red, grp.Name, c)
		},
		Create: func(ctx context.Context, names []string) ([]pool.Member, error) {
			made, err := prov.Create(ctx, inv, grp, p.add)
			if err != nil {
				return nil, err
			}
			machines := map[string]providers.Machine{}
			for _, m := range made {
				machines[m.Name] = m
			}
			failed := deps.ConvergeNodes(ctx, inv, p.add, machines)
			var errs []string
			for _, n := range p.add {
				if err, bad := failed[n.Name]; bad {
					errs = append(errs, n.Name+": "+err.Error())
				}
			}
			if len(errs) > 0 {
				return nil, errors.New(strings.Join(errs, "; "))
			}
			var ms []pool.Member
			for _, n := range names {
				m, _ := fp.Member(n)
				ms = append(ms, m)
			}
			return ms, nil
		},
		Destroy: func(ctx context.Context, m pool.Member) error {
			have, _ := prov.List(ctx, inv, grp)
			if err := prov.Delete(ctx, inv, grp, []string{m.Node}); err != nil {
				return err
			}
			for _, mc := range have {
				if mc.Name == m.Node && mc.Address != "" {
					port := mc.Port
					if port == 0 {
						port = 22
					}
					_ = kh.Forget(mc.Address, port)
				}
			}
			return nil
		},
	}
	rep, err := pool.Scale(ctx, fp.API, opts)
	res := &ScaleResult{Count: p.From}
	// The inventory follows what exists: every node made (even one the
	// gate holds back), every node not deleted.
	if rep != nil {
		res.Added, res.Held, res.Removed = rep.Added, rep.Held, rep.Removed
		if len(p.add) > 0 && (err == nil || len(rep.Added)+len(rep.Held) > 0) {
			res.Count = p.To
		}
		if len(rep.Removed) > 0 {
			res.Count = highestKept(p.current, rep.Removed)
		}
	}
	if res.Count != p.From {
		res.CountErr = setCount(inv.Path, grp.Name, res.Count)
	}
	if err != nil {
		return res, &maskedError{msg: fp.Red.String(err.Error()), err: err}
	}
	return res, nil
}

// counted returns the group's counted nodes, 1..count.
func counted(inv *inventory.Inventory, g *inventory.Group) []*inventory.Node {
	var out []*inventory.Node
	for i := 1; i <= g.Count; i++ {
		name := strings.ReplaceAll(g.NamePattern, "{n}", strconv.Itoa(i))
		for _, n := range inv.Nodes() {
			if n.Name == name && n.Group == g.Name {
				out = append(out, n)
			}
		}
	}
	return out
}

// countedNode is counted node i of g, as the inventory would have it with
// a larger count: a copy of another counted node, renamed.
func countedNode(like *inventory.Node, g *inventory.Group, i int) *inventory.Node {
	n := *like
	n.Name = strings.ReplaceAll(g.NamePattern, "{n}", strconv.Itoa(i))
	n.Domain = strings.ReplaceAll(g.Domain, "{name}", n.Name)
	n.Address = ""
	return &n
}

// highestKept is the count that covers every counted node still there.
func highestKept(current []*inventory.Node, removed []string) int {
	for i := len(current) - 1; i >= 0; i-- {
		if !slices.Contains(removed, current[i].Name) {
			return i + 1
		}
	}
	return 0
}
