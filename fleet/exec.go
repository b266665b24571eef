package fleet

import (
	"context"
	"fmt"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/remote"
)

// NodeExec runs a script on a node's machine and returns its standard
// output, standard error and exit code. The default (Transport.Exec)
// goes over SSH as omc up does.
type NodeExec func(ctx context.Context, n *inventory.Node, m providers.Machine, script string) (remote.Result, error)

// Exec runs a script on the node over one SSH connection, with the
// node's SSH settings and verified host keys, as omc up does.
func (t Transport) Exec(ctx context.Context, n *inventory.Node, m providers.Machine, script string) (remote.Result, error) {
	cfg, err := t.Config(n, m, &remote.KnownHosts{Path: KnownHostsPath()})
	if err != nil {
		return remote.Result{}, fmt.Errorf("node %s: %w", n.Name, err)
	}
	c, err := remote.Dial(ctx, cfg)
	if err != nil {
		return remote.Result{}, err
	}
	defer c.Close()
	sh, err := c.Shell(ctx)
	if err != nil {
		return remote.Result{}, err
	}
	return sh.Run(ctx, script)
}
