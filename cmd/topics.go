package cmd

import (
	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision/roles"
)

// newSettingsTopic is omc help settings: the node settings reference,
// from the same struct tags as omc schema (inventory.Settings), then how
// the roles use them (provision/roles' package documentation), for
// people who have the binary but not the source.
func newSettingsTopic(s *ui.Streams, g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "settings",
		Short: "The node settings omc's roles read, with their defaults",
		Long:  inventory.SettingsHelp() + "\n" + roles.SettingsNotes(),
		Example: `  omc help settings
  omc settings | less`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return writeTopic(s, g, "settings", c.Long) },
	}
}
