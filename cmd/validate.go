package cmd

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
)

type validateOptions struct {
	Show    bool
	Secrets bool
	Targets []string
}

func newValidateCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &validateOptions{}
	c := &cobra.Command{
		Use:   "validate [GROUP|NODE...]",
		Short: "Check the inventory; with --show print the merged result per node",
		Long: `Check the inventory file without contacting anything. Every error is
printed as FILE:LINE:COL: message, all at once; the exit code is 3 when
the file is invalid. With --show, print each node as omc sees it after
merging defaults, group and node (secrets by reference, never by value).`,
		Example: `  omc validate -i examples/omc.yaml
  omc validate eu-1 --show
  omc validate --secrets`,
		RunE: func(c *cobra.Command, args []string) error {
			o.Targets = args
			return runValidate(s, g, o)
		},
	}
	c.Flags().BoolVar(&o.Show, "show", false, "print the merged result per node")
	c.Flags().BoolVar(&o.Secrets, "secrets", false, "also require every secret to be readable (unset ones are otherwise warnings)")
	return c
}

func runValidate(s *ui.Streams, g *globalOptions, o *validateOptions) error {
	inv, nodes, err := selectNodes(s, g, o.Targets, nil)
	if err != nil {
		return err
	}
	r, err := fleet.Validate(inv, nodes, fleet.ValidateOptions{Secrets: o.Secrets})
	res := validateV1{V: 1, Type: "validate", File: inv.Path, Groups: len(inv.Groups), Nodes: len(nodes), Warnings: []positionV1{}}
	if r != nil {
		for _, e := range r.Warnings {
			fmt.Fprintf(s.Err, "%s:%d:%d: warning: %s (plan and up need it; validate --secrets makes this an error)\n", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
			res.Warnings = append(res.Warnings, positionV1{e.File, e.Pos.Line, e.Pos.Col, e.Msg})
		}
	}
	if err != nil {
		return err
	}
	if g.json() {
		if o.Show {
			var b strings.Builder
			if err := inventory.Show(&b, inv, nodes); err != nil {
				return err
			}
			res.Merged = b.String()
		}
		return g.jsonOut(s).Write(res)
	}
	if o.Show {
		return inventory.Show(s.Out, inv, nodes)
	}
	fmt.Fprintf(s.Err, "%s: valid (%d groups, %d nodes)\n", inv.Path, len(inv.Groups), len(nodes))
	return nil
}

// validateV1 is `omc validate -o json` for a valid inventory (an invalid
// one ends in the error line, with every FILE:LINE:COL).
type validateV1 struct {
	V        int          `json:"v"`
	Type     string       `json:"type"` // "validate"
	File     string       `json:"file"`
	Groups   int          `json:"groups"`
	Nodes    int          `json:"nodes"`
	Warnings []positionV1 `json:"warnings"` // secrets not set (errors with --secrets)
	Merged   string       `json:"merged,omitempty"`
}

// selectNodes loads the inventory and picks the nodes named by targets
// (groups or nodes; none = all) narrowed by limit globs.
func selectNodes(s *ui.Streams, g *globalOptions, targets, limit []string) (*inventory.Inventory, []*inventory.Node, error) {
	inv, err := loadInventory(s, g)
	if err != nil {
		return nil, nil, err
	}
	nodes, err := inv.Select(targets, limit)
	if err != nil {
		return nil, nil, usageError("%v", err)
	}
	return inv, nodes, nil
}

// loadInventory reads the inventory named by -i, $OMC_INVENTORY or
// ./omc.yaml. Opening and reading wait in a goroutine, so that a named
// pipe with no writer, or -i - with nothing on stdin, gives way to the
// first Ctrl-C or SIGTERM.
func loadInventory(s *ui.Streams, g *globalOptions) (*inventory.Inventory, error) {
	path := inventory.DefaultPath(g.Inventory)
	type loaded struct {
		inv *inventory.Inventory
		err error
	}
	done := make(chan loaded, 1)
	go func() {
		var l loaded
		if path == "-" {
			l.inv, l.err = inventory.LoadReader("<stdin>", s.In)
		} else {
			l.inv, l.err = inventory.Load(path)
		}
		done <- l
	}()
	what := path
	if path == "-" {
		what = "standard input (-i -)"
	}
	slow := time.NewTimer(time.Second)
	defer slow.Stop()
	var l loaded
wait:
	for {
		select {
		case l = <-done:
			break wait
		case <-slow.C:
			fmt.Fprintf(s.Err, "omc: still waiting to read the inventory from %s (Ctrl-C stops)\n", what)
		case <-g.context().Done():
			return nil, &exitError{Code: ExitInterrupt, Err: fmt.Errorf("interrupted while waiting to read the inventory from %s", what)}
		}
	}
	var ie *inventory.Errors
	if l.err != nil && !errors.As(l.err, &ie) {
		// Unreadable or missing: still "the inventory is invalid".
		l.err = &exitError{Code: ExitInventory, Err: fmt.Errorf("reading inventory: %w (name one with -i FILE or $OMC_INVENTORY)", l.err)}
	}
	return l.inv, l.err
}
