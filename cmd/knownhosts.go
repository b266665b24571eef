package cmd

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/remote"
)

func newKnownHostsCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "known-hosts",
		Short: "Manage the host keys omc has recorded",
		Long: `omc verifies every host key. The first contact with a host records its key
in omc's own known-hosts file (` + "`$XDG_STATE_HOME/omc/known_hosts`" + `); later contacts must
match. When a server was rebuilt on purpose, forget its old key; the next
run records the new one.`,
	}
	c.AddCommand(&cobra.Command{
		Use:   "forget HOST[:PORT]",
		Short: "Forget a host's recorded key, to accept a new one deliberately",
		Example: `  omc known-hosts forget 203.0.113.10
  omc known-hosts forget 203.0.113.10:2222`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("usage: omc known-hosts forget HOST[:PORT]")
			}
			host, port := args[0], 22
			if h, p, err := net.SplitHostPort(args[0]); err == nil {
				n, err := strconv.Atoi(p)
				if err != nil {
					return usageError("bad port in %q", args[0])
				}
				host, port = h, n
			}
			kh := &remote.KnownHosts{Path: fleet.KnownHostsPath()}
			if err := kh.ForgetKnown(host, port); err != nil {
				if errors.Is(err, remote.ErrNotKnown) {
					return usageError("%v: nothing forgotten (omc records keys as HOST, or [HOST]:PORT when the port is not 22)", err)
				}
				return err
			}
			if g.json() {
				return g.jsonOut(s).Write(knownHostsV1{V: 1, Type: "known-hosts", File: kh.Path, Forgot: fmt.Sprintf("%s:%d", host, port)})
			}
			fmt.Fprintf(s.Err, "forgot the host key of %s:%d in %s\n", host, port, kh.Path)
			return nil
		},
	})
	c.AddCommand(&cobra.Command{
		Use:   "path",
		Short: "Print the known-hosts file omc uses",
		Example: `  omc known-hosts path
  grep 203.0.113.10 "$(omc known-hosts path)"`,
		RunE: func(c *cobra.Command, args []string) error {
			if g.json() {
				return g.jsonOut(s).Write(knownHostsV1{V: 1, Type: "known-hosts", File: fleet.KnownHostsPath()})
			}
			fmt.Fprintln(s.Out, fleet.KnownHostsPath())
			return nil
		},
	})
	return c
}

// knownHostsV1 is `omc known-hosts path|forget -o json`: the file, and
// the HOST:PORT whose key was forgotten.
type knownHostsV1 struct {
	V      int    `json:"v"`
	Type   string `json:"type"` // "known-hosts"
	File   string `json:"file"`
	Forgot string `json:"forgot,omitempty"`
}
