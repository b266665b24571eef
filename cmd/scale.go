package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/remote"
)

type scaleOptions struct {
	Group    string
	N        int // -1: from --for-users
	ForUsers int
	Yes      bool
	DryRun   bool
	Timeout  time.Duration
	Force    bool
	deps     *fleet.PoolDeps
}

func newScaleCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &scaleOptions{}
	c := &cobra.Command{
		Use:   "scale GROUP N | scale GROUP --for-users U",
		Short: "Grow or shrink a pool: make, converge and enable nodes, or drain and delete them",
		Long: `Change the number of nodes of a counted group (count and a name pattern)
that has a pool, to N or to what --for-users U needs by the pool's
capacity model:

  nodes = ceil(U × (100 + headroom_percent) / 100 / users_per_node),
  then at least min_nodes and at most max_nodes

(defaults: 200 users per node, BBB's figure for its minimum server; 20%
headroom; at least 1 node). The plan, with this reasoning, is printed
first; --dry-run stops there.

Growing makes the new machines through the provider, converges them with
the group's steps, registers them and enables each once it passes the
health gate. Shrinking removes the highest-numbered nodes, so the rest
keep their names: all are cordoned at once, drained least loaded first
until Scalelite reports each disabled (its meetings ended by themselves;
--force ends them after --timeout), deregistered, then deleted. A node is
never deleted while it may hold a meeting. Deleting asks for confirmation
on a terminal; elsewhere --yes is required.

Afterwards the group's count in the inventory file is set to the new size
(only that number is rewritten), so that omc up keeps it.`,
		Example: `  omc scale eu-1 5
  omc scale eu-1 --for-users 1200 --dry-run
  omc scale eu-1 2 --yes --timeout 1h`,
		RunE: func(c *cobra.Command, args []string) error {
			o.N = -1
			switch {
			case len(args) == 2 && !c.Flags().Changed("for-users"):
				n, err := strconv.Atoi(args[1])
				if err != nil || n < 0 {
					return usageError("N must be a number of nodes, got %q", args[1])
				}
				o.N = n
			case len(args) == 1 && c.Flags().Changed("for-users"):
				if o.ForUsers < 0 {
					return usageError("--for-users must not be negative")
				}
			default:
				return usageError("usage: omc scale GROUP N, or omc scale GROUP --for-users U")
			}
			o.Group = args[0]
			return runScale(c.Context(), s, g, o)
		},
	}
	c.Flags().IntVar(&o.ForUsers, "for-users", 0, "size the pool for this many concurrent users (the pool's capacity model)")
	c.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask before deleting machines")
	c.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the plan and change nothing")
	c.Flags().DurationVar(&o.Timeout, "timeout", 2*time.Hour, "how long to wait for a removed node's meetings to end")
	c.Flags().BoolVar(&o.Force, "force", false, "end the meetings still running on removed nodes when the timeout passes")
	return c
}

// scalePlanV1 is omc scale -o json's plan line.
type scalePlanV1 struct {
	V      int      `json:"v"`
	Type   string   `json:"type"` // "scale-plan"
	Group  string   `json:"group"`
	From   int      `json:"from"`
	To     int      `json:"to"`
	Reason string   `json:"reason"`
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
}

func runScale(ctx context.Context, s *ui.Streams, g *globalOptions, o *scaleOptions) error {
	o.deps = poolEnv(s, g, o.deps)
	inv, err := loadInventory(s, g)
	if err != nil {
		return err
	}
	grp := inv.Group(o.Group)
	switch {
	case grp == nil:
		return usageError("no group named %q in %s", o.Group, inv.Path)
	case grp.Pool == nil:
		return usageError("group %s has no pool (groups.%s.pool)", grp.Name, grp.Name)
	case grp.Provider == "static" || grp.Count < 1 || !strings.Contains(grp.NamePattern, "{n}"):
		return usageError("group %s is not a counted group (count and a name pattern with {n}, provider hcloud, robot or local): omc scale makes and deletes its machines", grp.Name)
	}
	var model pool.Capacity
	model.UsersPerNode, model.HeadroomPercent, model.MinNodes, model.MaxNodes = grp.Pool.Capacity.Model()
	from := grp.Count
	to, reason := o.N, ""
	if o.N < 0 {
		to, reason = model.NodesFor(o.ForUsers)
	} else {
		reason = fmt.Sprintf("%d node(s) as asked", to)
		if to < model.MinNodes {
			return usageError("group %s: %d is fewer than the pool's min_nodes %d", grp.Name, to, model.MinNodes)
		}
		if model.MaxNodes > 0 && to > model.MaxNodes {
			return usageError("group %s: %d is more than the pool's max_nodes %d", grp.Name, to, model.MaxNodes)
		}
	}
	red := redact.New(fleet.PoolSecrets(inv)...)
	current := counted(inv, grp)
	var add []*inventory.Node
	for i := from + 1; i <= to; i++ {
		add = append(add, countedNode(current[0], grp, i))
	}
	fp, err := fleet.OpenPool(ctx, inv, grp, o.deps, red, add...)
	if err != nil {
		return err
	}
	defer fp.Close()
	var remove []pool.Member
	if to < from {
		var gone []pool.Member
		for _, n := range current[to:] {
			m, _ := fp.Member(n.Name)
			gone = append(gone, m)
		}
		servers, err := fp.API.List(ctx)
		if err != nil {
			return err
		}
		remove = pool.LeastLoaded(gone, servers)
	}
	plan := scalePlanV1{V: 1, Type: "scale-plan", Group: grp.Name, From: from, To: to, Reason: reason, Add: []string{}, Remove: []string{}}
	for _, n := range add {
		plan.Add = append(plan.Add, n.Name)
	}
	for _, m := range remove {
		plan.Remove = append(plan.Remove, m.Node)
	}
	if g.json() {
		g.jsonOut(s).Write(plan)
	} else {
		fmt.Fprintf(s.Err, "%s: %d → %d nodes (%s)\n", grp.Name, from, to, reason)
		if len(add) > 0 {
			fmt.Fprintf(s.Err, "  add: %s (made by %s, converged, enabled once healthy)\n", strings.Join(plan.Add, ", "), grp.Provider)
		}
		if len(remove) > 0 {
			fmt.Fprintf(s.Err, "  remove, least loaded first: %s (drained, deregistered, deleted)\n", strings.Join(plan.Remove, ", "))
		}
	}
	if from == to || o.DryRun {
		return nil
	}
	if len(remove) > 0 {
		if err := confirm(s, o.Yes, fmt.Sprintf("Drain and delete %d machine(s): %s?", len(remove), strings.Join(plan.Remove, ", "))); err != nil {
			return err
		}
	}
	prov, err := o.deps.ProviderFor(grp)
	if err != nil {
		return err
	}
	logf, logPath, closeLog := openRunLogFor(s, red, "scale")
	defer closeLog()
	logf("start", "command", "scale", "group", grp.Name, "from", from, "to", to)
	kh := &remote.KnownHosts{Path: fleet.KnownHostsPath()}
	opts := pool.ScaleOptions{
		Remove: remove, Gate: fp.Gate, Holds: fp.Holds,
		Drain: pool.DrainOptions{Timeout: o.Timeout, Poll: o.deps.PollEvery(), Force: o.Force, HTTP: o.deps.Client(), EndWait: o.deps.EndWaitFor()},
		Progress: func(c pool.Change) {
			logf("pool", "node", c.Node, "action", c.Action, "detail", red.String(c.Detail))
			reportChange(s, g, red, grp.Name, c)
		},
		Create: func(ctx context.Context, names []string) ([]pool.Member, error) {
			made, err := prov.Create(ctx, inv, grp, add)
			if err != nil {
				return nil, err
			}
			machines := map[string]providers.Machine{}
			for _, m := range made {
				machines[m.Name] = m
			}
			failed := o.deps.ConvergeNodes(ctx, inv, add, machines)
			var errs []string
			for _, n := range add {
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
					_ = kh.Forget(mc.Address, cmpInt(mc.Port, 22))
				}
			}
			return nil
		},
	}
	for _, n := range add {
		opts.Add = append(opts.Add, n.Name)
	}
	rep, err := pool.Scale(ctx, fp.API, opts)
	// The inventory follows what exists: every node made (even one the
	// gate holds back), every node not deleted.
	size := from
	if rep != nil {
		if len(add) > 0 && (err == nil || len(rep.Added)+len(rep.Held) > 0) {
			size = to
		}
		if len(rep.Removed) > 0 {
			size = highestKept(current, rep.Removed)
		}
	}
	if size != from {
		if werr := setCount(inv.Path, grp.Name, size); werr != nil {
			fmt.Fprintf(s.Err, "%s: set count: %d in groups.%s of %s yourself (%v), or omc up will not match the pool\n", grp.Name, size, grp.Name, inv.Path, werr)
		} else if !g.json() {
			fmt.Fprintf(s.Err, "%s: count set to %d in %s\n", grp.Name, size, inv.Path)
		}
	}
	if err != nil {
		return &exitError{Code: ExitError, Err: fmt.Errorf("%s (full log: %s)", red.String(err.Error()), logPath)}
	}
	return nil
}

func cmpInt(a, b int) int {
	if a != 0 {
		return a
	}
	return b
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

// setCount rewrites groups.GROUP.count in the inventory file: only that
// number changes, in place, and the file must still load with the new
// count, or it is left as it was.
func setCount(path, group string, n int) error {
	if path == "-" || path == "<stdin>" {
		return errors.New("the inventory was read from stdin")
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil || len(doc.Content) == 0 {
		return fmt.Errorf("cannot parse %s again", path)
	}
	val := mapValue(mapValue(mapValue(doc.Content[0], "groups"), group), "count")
	if val == nil || val.Kind != yaml.ScalarNode || val.Style != 0 {
		return errors.New("count is not a plain number written in the group itself (an anchor or merge key?)")
	}
	lines := bytes.SplitAfter(src, []byte("\n"))
	if val.Line < 1 || val.Line > len(lines) {
		return errors.New("count not found")
	}
	l := lines[val.Line-1]
	col := val.Column - 1
	if col < 0 || col+len(val.Value) > len(l) || string(l[col:col+len(val.Value)]) != val.Value {
		return errors.New("count not found where the parser saw it")
	}
	nl := append(append(append([]byte{}, l[:col]...), strconv.Itoa(n)...), l[col+len(val.Value):]...)
	lines[val.Line-1] = nl
	out := bytes.Join(lines, nil)
	inv, err := inventory.LoadReader(path, bytes.NewReader(out))
	if err != nil || inv.Group(group) == nil || inv.Group(group).Count != n {
		return fmt.Errorf("the rewritten file does not load: %v", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".omc-tmp")
	if err := os.WriteFile(tmp, out, info.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
