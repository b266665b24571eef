package fleet

import (
	"errors"

	"github.com/omc-coop/omc/inventory"
)

// ValidateOptions are validate's: with Secrets, every secret the
// inventory names must be readable; without, unset ones are warnings.
type ValidateOptions struct {
	Secrets bool
}

// ValidateResult is a valid inventory's check: its size, and the secrets
// not set (as warnings at their place; plan and up need them).
type ValidateResult struct {
	File     string
	Groups   int
	Nodes    int
	Warnings []*inventory.Error
}

// Validate checks the whole file's structure, types and references, and
// builds the selected nodes' steps as up would, without contacting
// anything and without needing secret values (a CI lint job has none):
// unset ones stand in as placeholders while the steps are built.
func Validate(inv *inventory.Inventory, nodes []*inventory.Node, o ValidateOptions) (*ValidateResult, error) {
	res := &ValidateResult{File: inv.Path, Groups: len(inv.Groups), Nodes: len(nodes)}
	if o.Secrets {
		if err := inv.MissingSecrets(); err != nil {
			return nil, err
		}
	} else if missing := inv.UsePlaceholders(); missing != nil {
		var ie *inventory.Errors
		if errors.As(missing, &ie) {
			res.Warnings = ie.List
		}
	}
	if err := CheckRoleSettings(inv, nodes); err != nil {
		return res, err
	}
	return res, nil
}
