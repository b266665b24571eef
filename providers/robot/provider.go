package robot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
)

// groupNodes are g's nodes, merged, with their specs (nil for counted).
func groupNodes(inv *inventory.Inventory, g *inventory.Group) []*inventory.Node {
	var out []*inventory.Node
	for _, n := range inv.Nodes() {
		if n.Group == g.Name {
			out = append(out, n)
		}
	}
	return out
}

func specOf(g *inventory.Group, name string) *inventory.NodeSpec {
	for _, ns := range g.Nodes {
		if ns.Name == name {
			return ns
		}
	}
	return nil
}

// claimed is the server number a node claims, or 0 for an ordered node.
func claimed(g *inventory.Group, name string) int {
	if ns := specOf(g, name); ns != nil {
		return ns.Server
	}
	return 0
}

// List returns the group's usable machines: claimed servers, and servers
// omc ordered and installed. Nodes whose order is pending or whose
// install did not finish are left out, so that Create carries on.
func (p *Provider) List(ctx context.Context, inv *inventory.Inventory, g *inventory.Group) ([]providers.Machine, error) {
	c, err := p.client(g)
	if err != nil {
		return nil, err
	}
	st, err := p.readState(inv.Name)
	if err != nil {
		return nil, err
	}
	servers, err := c.Servers(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the servers of the Robot account: %w", c.mask(err))
	}
	byNumber := map[int]Server{}
	for _, s := range servers {
		byNumber[s.ServerNumber] = s
	}
	var ms []providers.Machine
	for _, n := range groupNodes(inv, g) {
		rec := st.Nodes[n.Name]
		num := claimed(g, n.Name)
		if num == 0 {
			if rec == nil || rec.Order == nil || rec.ServerNumber == 0 || rec.Install != installed {
				continue
			}
			num = rec.ServerNumber
		} else if rec != nil && rec.ServerNumber == num && rec.Install == installing {
			continue // an interrupted rebuild: Create finishes it
		}
		s, ok := byNumber[num]
		if !ok {
			if claimed(g, n.Name) != 0 {
				return nil, fmt.Errorf("node %s: server %d is not a server of this Robot account", n.Name, num)
			}
			p.logf("%s: server %d (order %s) is no longer in the Robot account", n.Name, num, rec.Order.Transaction)
			continue
		}
		ms = append(ms, p.machine(inv, n.Name, s, rec))
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	return ms, nil
}

// machine describes server s of node; the host key is omc's when omc
// installed the server.
func (p *Provider) machine(inv *inventory.Inventory, node string, s Server, rec *NodeState) providers.Machine {
	m := providers.Machine{Name: node, ID: strconv.Itoa(s.ServerNumber), Address: s.ServerIP, Status: s.Status}
	if rec != nil && rec.ServerNumber == s.ServerNumber && rec.Install == installed {
		if pub := p.hostKeyPublic(inv.Name, node); pub != "" {
			m.HostKeys = []string{pub}
		}
		if p.opts.SSHPort != 22 {
			m.Port = p.opts.SSHPort
		}
	}
	return m
}

// work is one node's part of a Create or Rebuild.
type work struct {
	n       *inventory.Node
	rec     *NodeState
	wait    bool // an order to wait for
	install bool
}

// Create makes the machines of nodes: claimed servers are returned as
// they are; missing orders are placed (only when allowed, after showing
// the price), waited for and installed.
func (p *Provider) Create(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, nodes []*inventory.Node) ([]providers.Machine, error) {
	c, err := p.client(g)
	if err != nil {
		return nil, err
	}
	st, save, unlock, err := p.lockState(inv.Name)
	if err != nil {
		return nil, err
	}
	defer unlock()

	var jobs []*work
	type pending struct {
		n     *inventory.Node
		o     *inventory.RobotOrder
		price string
	}
	var toOrder []pending
	for _, n := range nodes {
		rec := st.Nodes[n.Name]
		if num := claimed(g, n.Name); num != 0 {
			if rec == nil || rec.ServerNumber != num {
				rec = &NodeState{Group: g.Name, ServerNumber: num, Claimed: true}
				st.Nodes[n.Name] = rec
			}
			jobs = append(jobs, &work{n: n, rec: rec, install: rec.Install == installing})
			continue
		}
		if rec != nil && rec.Order != nil && rec.Order.Transaction == "" {
			found, err := p.recoverOrder(ctx, c, n.Name, rec.Order)
			if err != nil {
				return nil, c.mask(err)
			}
			if !found {
				delete(st.Nodes, n.Name)
				rec = nil
			}
		}
		if rec != nil && rec.Order != nil && rec.Order.Status == "cancelled" {
			p.logf("%s: order %s was cancelled by Hetzner; forgetting it", n.Name, rec.Order.Transaction)
			delete(st.Nodes, n.Name)
			rec = nil
		}
		if rec == nil || rec.Order == nil {
			o := inventory.OrderFor(g, specOf(g, n.Name))
			if o == nil {
				return nil, fmt.Errorf("node %s: no server number and no order", n.Name)
			}
			shown, err := price(ctx, c, o)
			if err != nil {
				return nil, fmt.Errorf("node %s: %w", n.Name, c.mask(err))
			}
			toOrder = append(toOrder, pending{n: n, o: o, price: shown})
			continue
		}
		jobs = append(jobs, &work{n: n, rec: rec, wait: rec.ServerNumber == 0 || rec.ServerIP == "", install: rec.Install != installed})
	}
	if err := save(); err != nil {
		return nil, err
	}
	if len(toOrder) > 0 && !p.mayOrder(ctx) {
		var lines []string
		for _, o := range toOrder {
			lines = append(lines, "  "+o.n.Name+": "+o.price)
		}
		return nil, fmt.Errorf("group %s needs %d server(s) ordered from Hetzner, which costs money:\n%s\nnothing was ordered; run omc up with --allow-order to place the order(s)", g.Name, len(toOrder), strings.Join(lines, "\n"))
	}
	for _, o := range toOrder {
		if err := p.placeOrder(ctx, c, inv, g, o.n, o.o, o.price, st, save); err != nil {
			return nil, err
		}
		rec := st.Nodes[o.n.Name]
		jobs = append(jobs, &work{n: o.n, rec: rec, wait: rec.ServerNumber == 0 || rec.ServerIP == "", install: true})
	}

	var mu sync.Mutex
	update := func(f func()) error {
		mu.Lock()
		defer mu.Unlock()
		f()
		return save()
	}
	err = providers.Parallel(len(jobs), 4, func(i int) error {
		j := jobs[i]
		if j.wait {
			if err := p.waitOrder(ctx, c, j.n.Name, j.rec, update); err != nil {
				return err
			}
		}
		if j.install {
			return p.install(ctx, c, inv, j.n, j.rec, update)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p.machinesOf(ctx, c, inv, nodes, st)
}

// machinesOf reads the servers of nodes (recorded in st) from Robot.
func (p *Provider) machinesOf(ctx context.Context, c *Client, inv *inventory.Inventory, nodes []*inventory.Node, st *State) ([]providers.Machine, error) {
	servers, err := c.Servers(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the servers of the Robot account: %w", c.mask(err))
	}
	byNumber := map[int]Server{}
	for _, s := range servers {
		byNumber[s.ServerNumber] = s
	}
	var ms []providers.Machine
	for _, n := range nodes {
		rec := st.Nodes[n.Name]
		s, ok := byNumber[rec.ServerNumber]
		if !ok {
			return nil, fmt.Errorf("node %s: server %d is not a server of this Robot account", n.Name, rec.ServerNumber)
		}
		if rec.ServerIP == "" {
			rec.ServerIP = s.ServerIP
		}
		ms = append(ms, p.machine(inv, n.Name, s, rec))
	}
	return ms, nil
}

// install runs the installimage flow on node's server: rescue with the
// operator's key, hardware reset, installimage over SSH with omc's host
// key, reboot, and a wait until the installed system shows that key.
func (p *Provider) install(ctx context.Context, c *Client, inv *inventory.Inventory, n *inventory.Node, rec *NodeState, update func(func()) error) error {
	num := rec.ServerNumber
	if rec.ServerIP == "" {
		s, err := c.Server(ctx, num)
		if err != nil {
			return fmt.Errorf("node %s: reading server %d: %w", n.Name, num, c.mask(err))
		}
		if err := update(func() { rec.ServerIP = s.ServerIP }); err != nil {
			return err
		}
	}
	ip := rec.ServerIP
	hk, err := p.key("host", inv.Name, n.Name)
	if err != nil {
		return err
	}
	pub, err := p.operatorKey(n)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(pub))
	fp, made, err := storedKey(ctx, c, "omc-"+hex.EncodeToString(sum[:6]), pub)
	if err != nil {
		return fmt.Errorf("node %s: storing the operator's SSH key in Robot: %w", n.Name, c.mask(err))
	}
	if made {
		p.logf("stored the operator's SSH key %s in Robot", fp)
	}
	if err := update(func() { rec.Install = installing }); err != nil {
		return err
	}
	fail := func(step string, err error) error {
		_ = c.DeactivateRescue(ctx, num)
		return fmt.Errorf("node %s: %s: %w\nserver %d (%s) is left as it is (rescue deactivated, install unfinished): run omc %s again to finish it",
			n.Name, step, c.mask(err), num, ip, map[bool]string{true: "rebuild", false: "up"}[rec.Claimed])
	}
	p.logf("%s: activating rescue on server %d", n.Name, num)
	resc, err := c.ActivateRescue(ctx, num, []string{fp})
	if IsCode(err, "BOOT_ALREADY_ENABLED") {
		if err = c.DeactivateRescue(ctx, num); err == nil {
			resc, err = c.ActivateRescue(ctx, num, []string{fp})
		}
	}
	if err != nil {
		return fail("activating rescue", err)
	}
	p.logf("%s: resetting server %d into rescue", n.Name, num)
	if err := c.Reset(ctx, num, "hw"); err != nil {
		return fail("resetting", err)
	}
	addr := hostPort(ip, p.opts.SSHPort)
	target := Target{
		Node: n.Name, Address: ip, Port: p.opts.SSHPort, KeyFile: operatorKeyFile(n),
		RescueHostKeys: rescueHostKeys(resc), HostKey: hk, Hostname: hostname(n),
		AuthorizedKeys: []string{pub}, User: n.SSH.User,
	}
	for attempt := 1; ; attempt++ {
		if err := sleep(ctx, p.opts.ResetSettle); err != nil {
			return fail("waiting for rescue", err)
		}
		if err := p.waitSSH(ctx, n.Name, addr, target.RescueHostKeys); err != nil {
			return fail("waiting for rescue", err)
		}
		p.logf("%s: installing Ubuntu 22.04 with installimage", n.Name)
		err := p.opts.Installer.Install(ctx, target)
		if errors.Is(err, ErrNotRescue) && attempt < 3 {
			continue // the old system was still up
		}
		if err != nil {
			return fail("installing", err)
		}
		break
	}
	p.logf("%s: rebooting into the installed system", n.Name)
	if err := p.waitSSH(ctx, n.Name, addr, []string{hk.Public}); err != nil {
		return fail("waiting for the installed system", err)
	}
	if err := update(func() { rec.Install, rec.InstalledAt = installed, time.Now().UTC() }); err != nil {
		return err
	}
	p.logf("%s: server %d installed", n.Name, num)
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func hostname(n *inventory.Node) string {
	if n.Domain != "" {
		return n.Domain
	}
	return n.Name
}

// rescueHostKeys are the rescue system's host keys when Robot gives them
// in authorized_keys form (as strings or as {"key": {"data": …}}).
func rescueHostKeys(r *Rescue) []string {
	if r == nil {
		return nil
	}
	var keys []string
	for _, raw := range r.HostKey {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			var obj struct {
				Key struct {
					Data string `json:"data"`
				} `json:"key"`
			}
			if json.Unmarshal(raw, &obj) != nil {
				continue
			}
			s = obj.Key.Data
		}
		if _, err := normalKey(s, "rescue host key"); err == nil {
			keys = append(keys, s)
		}
	}
	return keys
}

// Delete cancels the servers omc ordered for the named nodes, at the
// earliest date Robot allows, only when the run allows cancelling.
// Claimed servers are never cancelled.
func (p *Provider) Delete(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, names []string) error {
	if !p.mayCancel(ctx) {
		return errors.New("robot servers are rented by the month: omc down cancels them only with --cancel (and --yes); nothing was cancelled")
	}
	c, err := p.client(g)
	if err != nil {
		return err
	}
	st, save, unlock, err := p.lockState(inv.Name)
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	for _, name := range names {
		if num := claimed(g, name); num != 0 {
			p.logf("%s: server %d is claimed, not ordered by omc: never cancelled (cancel it in Robot if you mean to)", name, num)
			continue
		}
		rec := st.Nodes[name]
		if rec == nil || rec.Order == nil || rec.Group != g.Name {
			continue
		}
		if rec.ServerNumber == 0 {
			errs = append(errs, fmt.Errorf("node %s: order %s is still %q; the webservice cannot cancel an order, cancel it in Robot", name, rec.Order.Transaction, rec.Order.Status))
			continue
		}
		x, err := c.Cancellation(ctx, rec.ServerNumber)
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", name, c.mask(err)))
			continue
		}
		if !x.Cancelled {
			if x, err = c.Cancel(ctx, rec.ServerNumber, x.EarliestCancellationDate); err != nil {
				errs = append(errs, fmt.Errorf("node %s: cancelling server %d: %w", name, rec.ServerNumber, c.mask(err)))
				continue
			}
		}
		date := x.EarliestCancellationDate
		if x.CancellationDate != nil {
			date = *x.CancellationDate
		}
		p.logf("%s: server %d (order %s) cancelled as of %s", name, rec.ServerNumber, rec.Order.Transaction, date)
		_ = c.DeleteKey(ctx, rec.Order.KeyFingerprint)
		delete(st.Nodes, name)
		if err := save(); err != nil {
			errs = append(errs, err)
		}
		p.removeKey("host", inv.Name, name)
		p.removeKey("order", inv.Name, name)
	}
	return errors.Join(errs...)
}

// Rebuild reinstalls the nodes' servers (claimed or ordered) with the
// installimage flow, keeping their host keys.
func (p *Provider) Rebuild(ctx context.Context, inv *inventory.Inventory, g *inventory.Group, nodes []*inventory.Node) ([]providers.Machine, error) {
	c, err := p.client(g)
	if err != nil {
		return nil, err
	}
	st, save, unlock, err := p.lockState(inv.Name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var jobs []*work
	for _, n := range nodes {
		rec := st.Nodes[n.Name]
		if num := claimed(g, n.Name); num != 0 {
			if rec == nil || rec.ServerNumber != num {
				rec = &NodeState{Group: g.Name, ServerNumber: num, Claimed: true}
				st.Nodes[n.Name] = rec
			}
		} else if rec == nil || rec.ServerNumber == 0 {
			return nil, fmt.Errorf("node %s has no server yet: run omc up (with --allow-order) first", n.Name)
		}
		jobs = append(jobs, &work{n: n, rec: rec})
	}
	var mu sync.Mutex
	update := func(f func()) error {
		mu.Lock()
		defer mu.Unlock()
		f()
		return save()
	}
	if err := providers.Parallel(len(jobs), 4, func(i int) error {
		return p.install(ctx, c, inv, jobs[i].n, jobs[i].rec, update)
	}); err != nil {
		return nil, err
	}
	return p.machinesOf(ctx, c, inv, nodes, st)
}
