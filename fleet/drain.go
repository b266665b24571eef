package fleet

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"sync/atomic"
	"time"

	"github.com/omc-coop/omc/internal/event"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
)

// NodeOptions are drain's, enable's and remove's: one bbb node of a pool.
type NodeOptions struct {
	Node string
	// Timeout bounds a drain's wait for the node's meetings to end;
	// Force ends those still running then (Scalelite's panic, then
	// BBB's end for what the node itself still lists).
	Timeout time.Duration
	Force   bool
	Deps    *PoolDeps
	// Progress is told the node's pool state while a drain waits, each
	// time it changes; its texts are masked.
	Progress func(event.Drain)
}

// PoolNode is one bbb node of its group's pool, opened: what drain,
// enable and remove work on. Close it when done.
type PoolNode struct {
	Pool   *Pool
	Member pool.Member
	o      NodeOptions
}

// NodeResult is a node's place in its pool after drain, enable or remove.
type NodeResult struct {
	Node   string
	Action string // "drain", "enable", "remove"
	// Server is the node's registration afterwards; after remove it has
	// none (the zero Server, State "").
	Server pool.Server
	// Registered (remove) says whether the node was registered, so was
	// drained and deregistered; otherwise remove only held it.
	Registered bool
}

// OpenNode opens the pool of node o.Node, a bbb node of a group with a
// pool.
func OpenNode(ctx context.Context, inv *inventory.Inventory, o NodeOptions) (*PoolNode, error) {
	_, grp, err := NodeGroup(inv, o.Node)
	if err != nil {
		return nil, err
	}
	red := Redactor(ctx, PoolSecrets(inv)...)
	fp, err := OpenPool(ctx, inv, grp, o.Deps, red)
	if err != nil {
		return nil, err
	}
	m, _ := fp.Member(o.Node)
	return &PoolNode{Pool: fp, Member: m, o: o}, nil
}

// Close releases the pool (the SSH connection of an api: rake pool).
func (pn *PoolNode) Close() { pn.Pool.Close() }

// Server is the node's one registration in the pool; an error wrapping
// pool.ErrNotFound when it has none.
func (pn *PoolNode) Server(ctx context.Context) (pool.Server, error) {
	return pool.ServerFor(ctx, pn.Pool.API, pn.Member)
}

// State is the node's pool state, "absent" when it is not registered.
func (pn *PoolNode) State(ctx context.Context) (string, error) {
	l, err := pn.Pool.API.List(ctx)
	if err != nil {
		return "", err
	}
	state := "absent"
	for _, sv := range pool.FindByURL(l, pn.Member.URL) {
		state = sv.State
	}
	return state, nil
}

// Drain holds the node, cordons its registration sv and waits until
// Scalelite reports it disabled (its load 0). The hold comes first, so
// that an omc up running meanwhile does not enable it, and stays until
// Enable. Past the timeout it fails, leaving the node cordoned, unless
// Force ends the meetings.
func (pn *PoolNode) Drain(ctx context.Context, sv pool.Server) (NodeResult, error) {
	node := pn.o.Node
	if err := pn.Pool.Holds.Set(node, operator("omc drain")); err != nil {
		return NodeResult{}, fmt.Errorf("recording the drain: %w", err)
	}
	sv, err := pool.Drain(ctx, pn.Pool.API, sv.ID, pn.drainOptions())
	if err != nil {
		var te *pool.DrainTimeoutError
		if errors.As(err, &te) {
			return NodeResult{}, fmt.Errorf("%s: %w; it stays cordoned", node, err)
		}
		return NodeResult{}, err
	}
	return NodeResult{Node: node, Action: "drain", Server: sv}, nil
}

// Enable releases the operator's hold and syncs the node into the pool:
// registered if Scalelite lacks it, enabled once it passes the health
// gate. Each change goes to Deps.Change. A node the gate refuses stays
// out, and the error says why.
func (pn *PoolNode) Enable(ctx context.Context) (NodeResult, error) {
	fp, node := pn.Pool, pn.o.Node
	if err := fp.Holds.Clear(node); err != nil {
		return NodeResult{}, fmt.Errorf("releasing the drain: %w", err)
	}
	rep, err := pool.Sync(ctx, fp.API, []pool.Member{pn.Member}, pool.SyncOptions{Gate: fp.Gate, Holds: fp.Holds})
	if rep != nil {
		for _, c := range rep.Changes {
			pn.o.Deps.ReportChange(fp.Red, fp.Group.Name, c)
		}
	}
	if err != nil {
		return NodeResult{}, err
	}
	if h := rep.Health[node]; !h.OK {
		return NodeResult{}, errors.New(fp.Red.String((&pool.GateError{Node: node, Health: h}).Error()) + "; left out of the pool")
	}
	return NodeResult{Node: node, Action: "enable", Server: rep.Servers[node]}, nil
}

// Remove holds the node, drains it and deregisters it; the machine
// stays. The change goes to Deps.Change. When it fails, the error says
// what is left: the hold stays only while the node is out of service.
func (pn *PoolNode) Remove(ctx context.Context) (NodeResult, error) {
	fp, node := pn.Pool, pn.o.Node
	prev, wasHeld := fp.Holds.Held(node)
	if err := fp.Holds.Set(node, operator("omc remove")); err != nil {
		return NodeResult{}, fmt.Errorf("recording the removal: %w", err)
	}
	wc := &writeCounter{Pool: fp.API}
	if err := pool.Remove(ctx, wc, pn.Member, pn.drainOptions()); err != nil {
		return NodeResult{}, fmt.Errorf("%s: %w; %s", node, err, pn.leftAfterFailedRemove(ctx, wc.writes.Load() > 0, prev, wasHeld))
	}
	registered := wc.writes.Load() > 0
	detail := "drained and deregistered; the machine stays"
	if !registered {
		detail = "not registered in the pool: nothing to drain or deregister; it stays held (omc enable " + node + " puts it back)"
	}
	pn.o.Deps.ReportChange(fp.Red, fp.Group.Name, pool.Change{Node: node, Action: "remove", Detail: detail})
	return NodeResult{Node: node, Action: "remove", Registered: registered}, nil
}

// drainOptions are the node's drain: its progress reported when the
// state or load Scalelite reports changes.
func (pn *PoolNode) drainOptions() pool.DrainOptions {
	d, last := pn.o.Deps, event.Drain{}
	m := pn.Member
	return pool.DrainOptions{Timeout: pn.o.Timeout, Poll: d.PollEvery(), Force: pn.o.Force, Member: &m, HTTP: d.Client(), EndWait: d.EndWaitFor(),
		Progress: func(sv pool.Server) {
			red := pn.Pool.Red
			e := event.Drain{Pool: pn.Pool.Group.Name, Node: pn.o.Node, State: red.String(sv.State), Load: red.String(sv.LoadText())}
			if e != last && pn.o.Progress != nil {
				pn.o.Progress(e)
			}
			last = e
		}}
}

// leftAfterFailedRemove says what a failed remove leaves. The hold it
// set stays only while the node is out of service (cordoned or
// disabled: omc up must not enable it behind the operator's back); when
// the pool still has it enabled, or never had it, the hold is put back
// as it was, so nothing lasting is left.
func (pn *PoolNode) leftAfterFailedRemove(ctx context.Context, wrote bool, prev string, wasHeld bool) string {
	fp, m := pn.Pool, pn.Member
	enable := "omc enable " + m.Node + " puts it back"
	if wrote {
		l, err := fp.API.List(context.WithoutCancel(ctx))
		if err != nil {
			return "it stays held by omc remove, as its pool state could not be read (" + enable + ")"
		}
		for _, sv := range pool.FindByURL(l, m.URL) {
			if sv.State != pool.Enabled {
				return fmt.Sprintf("it stays %s in the pool and held by omc remove (%s)", sv.State, enable)
			}
		}
	}
	restore := fp.Holds.Clear(m.Node)
	if wasHeld {
		restore = fp.Holds.Set(m.Node, prev)
	}
	if restore != nil {
		return "releasing the hold omc remove set failed too: " + restore.Error() + " (" + enable + ")"
	}
	return "nothing was changed"
}

// operator is the note of an operator's hold: what, by whom, when.
func operator(what string) string {
	who := "someone"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	return fmt.Sprintf("%s by %s at %s", what, who, time.Now().UTC().Format(time.RFC3339))
}

// writeCounter counts the calls that change the pool.
type writeCounter struct {
	pool.Pool
	writes atomic.Int64
}

func (w *writeCounter) Update(ctx context.Context, id string, u pool.ServerUpdate) (pool.Server, error) {
	w.writes.Add(1)
	return w.Pool.Update(ctx, id, u)
}

func (w *writeCounter) Delete(ctx context.Context, id string) error {
	w.writes.Add(1)
	return w.Pool.Delete(ctx, id)
}

func (w *writeCounter) Panic(ctx context.Context, id string, keep bool) error {
	w.writes.Add(1)
	return w.Pool.Panic(ctx, id, keep)
}
