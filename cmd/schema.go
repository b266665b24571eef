package cmd

import (
	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
)

func newSchemaCmd(s *ui.Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the inventory format",
		Long: `Print a JSON Schema (draft 2020-12) of the inventory format, for editors:
for example, with the YAML language server, put
  # yaml-language-server: $schema=omc.schema.json
at the top of omc.yaml after "omc schema > omc.schema.json".`,
		Example: `  omc schema > omc.schema.json`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			b, err := inventory.Schema()
			if err != nil {
				return err
			}
			_, err = s.Out.Write(append(b, '\n'))
			return err
		},
	}
}
