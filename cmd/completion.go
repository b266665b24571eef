package cmd

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/internal/ui"
)

// newCompletionCmd replaces cobra's default completion command, whose
// help has no examples and whose Short lines do not follow omc's style.
func newCompletionCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script for bash, zsh, fish or PowerShell",
		Long: `Prints a script that makes the shell complete omc's commands and flags,
and the group, node and tenant names of the inventory (-i, $OMC_INVENTORY,
else ./omc.yaml, read without printing anything when it is missing or
invalid; tenants come from the pools' tenant_secrets directories, never
from Scalelite), the -o formats and the BBB lines omc knows.

The .deb and .rpm packages install these scripts already.`,
		Example: `  source <(omc completion bash)
  omc completion bash | sudo tee /etc/bash_completion.d/omc >/dev/null
  omc completion zsh > "${fpath[1]}/_omc"
  omc completion fish > ~/.config/fish/completions/omc.fish`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if !g.json() {
				return writeCompletion(c.Root(), s.Out, args[0])
			}
			var b strings.Builder
			if err := writeCompletion(c.Root(), &b, args[0]); err != nil {
				return err
			}
			return g.jsonOut(s).Write(completionV1{V: 1, Type: "completion", Shell: args[0], Script: b.String()})
		},
	}
	return c
}

// writeCompletion writes shell's completion script for root to w.
func writeCompletion(root *cobra.Command, w io.Writer, shell string) error {
	switch shell {
	case "bash":
		return root.GenBashCompletionV2(w, true)
	case "zsh":
		return root.GenZshCompletion(w)
	case "fish":
		return root.GenFishCompletion(w, true)
	case "powershell":
		return root.GenPowerShellCompletionWithDesc(w)
	}
	return usageError("unknown shell %q: bash, zsh, fish or powershell", shell)
}

// completionV1 is `omc completion SHELL -o json`: the script as a string.
type completionV1 struct {
	V      int    `json:"v"`
	Type   string `json:"type"` // "completion"
	Shell  string `json:"shell"`
	Script string `json:"script"`
}
