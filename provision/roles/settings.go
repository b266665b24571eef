package roles

import (
	"maps"
	"slices"

	"github.com/omc-coop/omc/inventory"
)

// The roles read a node's settings as the inventory decoded, checked,
// merged and defaulted them (inventory.Settings; omc help settings lists
// every key). Only what needs the node's roles or BBB line is checked
// here, while the steps are built.

// Repo is an apt source for BBB's packages (settings.bbb_repo, or a
// line's own).
type Repo = inventory.BBBRepo

// settingsOf is node n's settings with the run's options (never
// settings keys) laid over them: the one place roles get settings from.
func settingsOf(n *inventory.Node) *inventory.Settings {
	s := n.Settings
	if n.Run.BBBVersion != "" {
		s.BBBVersion = n.Run.BBBVersion
	}
	s.BBBForce = s.BBBForce || n.Run.Force
	return &s
}

// ExpectedVersion is the BBB line node n runs once converged: its
// bbb_version, or the one the running upgrade moves it to.
func ExpectedVersion(n *inventory.Node) string { return settingsOf(n).BBBVersion }

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
