package cmd

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/internal/ui"
)

// Root is omc's command tree with its output discarded, for generating
// man pages (tools/gendocs); running anything goes through Main.
func Root() *cobra.Command {
	root := newRoot(&ui.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
	root.InitDefaultHelpCmd()
	return root
}
