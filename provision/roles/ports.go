package roles

import "github.com/omc-coop/omc/inventory"

// Port is one inbound port range a role needs open. The table lives in
// the node model (inventory.Ports) so providers' cloud firewalls read it
// without importing provision.
type Port = inventory.Port

// Ports returns the inbound ports for a node with these roles
// (inventory.Ports).
func Ports(roles []string) []Port { return inventory.Ports(roles) }
