package cmd

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
)

func newSchemaCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
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
			if g.json() {
				return g.jsonOut(s).Write(schemaV1{V: 1, Type: "schema", Schema: json.RawMessage(b)})
			}
			_, err = s.Out.Write(append(b, '\n'))
			return err
		},
	}
}

// schemaV1 is `omc schema -o json`: the JSON Schema as one record (plain
// `omc schema` prints the bare schema, for editors).
type schemaV1 struct {
	V      int             `json:"v"`
	Type   string          `json:"type"` // "schema"
	Schema json.RawMessage `json:"schema"`
}
