package inventory

import (
	"regexp"
)

// RobotOrder is what omc orders from Hetzner Robot for a robot node that
// names no claimed server: a standard product or a server-market offer.
// omc places an order only when `omc up --allow-order` is given, after
// showing its price.
type RobotOrder struct {
	Product  string `yaml:"product" desc:"Standard product id, e.g. EX44 (GET /order/server/product)."`
	Market   int    `yaml:"market" desc:"Server-market (auction) product id (GET /order/server_market/product)."`
	Location string `yaml:"location" desc:"Location of a standard product, e.g. FSN1; required with product (Robot's order call does not mark it optional)."`
}

var (
	robotProduct  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	robotLocation = regexp.MustCompile(`^[A-Z]{3}[0-9]{1,2}$`)
)

// RobotImage is the only image omc installs on dedicated servers.
const RobotImage = "ubuntu-22.04"

func init() {
	schemaExtra["NodeSpec.server"] = map[string]any{"minimum": 1}
	schemaExtra["RobotOrder.market"] = map[string]any{"minimum": 1}
	schemaExtra["RobotOrder.product"] = map[string]any{"pattern": robotProduct.String()}
	schemaExtra["RobotOrder.location"] = map[string]any{"pattern": robotLocation.String()}
}

// OrderFor is the order that makes node spec ns of group g: its own, else
// the group's; nil for a claimed server (or a counted node of a group
// without an order).
func OrderFor(g *Group, ns *NodeSpec) *RobotOrder {
	if ns != nil {
		if ns.Server != 0 {
			return nil
		}
		if ns.Order != nil {
			return ns.Order
		}
	}
	return g.Order
}

// robot checks the robot fields of group g: where they may appear, that
// every robot node is a claimed server or an order, and that no server
// number is claimed twice in the inventory.
func (v *validator) robot(g *Group) {
	isRobot := g.Provider == "robot"
	if !isRobot {
		if g.Provider == "" || !v.known(g.Provider) {
			return // the provider itself is reported
		}
		for _, f := range []struct {
			p    any
			name string
			set  bool
		}{{&g.Order, "order", g.Order != nil}, {&g.RobotUser, "robot_user", g.RobotUser != nil}, {&g.RobotPassword, "robot_password", g.RobotPassword != nil}} {
			if f.set {
				v.errf(f.p, "%s is only for robot groups", f.name)
			}
		}
		for _, ns := range g.Nodes {
			if v.at(&ns.Server).set {
				v.errf(&ns.Server, "server (a Robot server number) is only for robot groups")
			}
			if ns.Order != nil {
				v.errf(&ns.Order, "order is only for robot groups")
			}
		}
		return
	}
	if g.Image != "" && g.Image != RobotImage {
		v.errf(&g.Image, "robot servers are installed with %s (installimage); %q is not supported", RobotImage, g.Image)
	}
	if g.Order != nil {
		v.robotOrder(g.Order)
	}
	if g.Count > 0 && g.Order == nil {
		v.errf(&g.Count, "counted robot nodes are ordered: the group needs an order (order: {product: EX44})")
	}
	for _, ns := range g.Nodes {
		if ns.Address != "" {
			v.errf(&ns.Address, "robot nodes get their address from Robot; name a claimed server with server: NUMBER")
		}
		if w := v.at(&ns.Server); w.set && !w.bad && ns.Server < 1 {
			v.errf(&ns.Server, "%d is not a Robot server number", ns.Server)
		}
		if ns.Order != nil {
			v.robotOrder(ns.Order)
			if ns.Server != 0 {
				v.errf(&ns.Order, "a robot node is a claimed server (server) or an order, not both")
			}
		}
		if ns.Server == 0 && ns.Order == nil && g.Order == nil && !v.at(&ns.Server).bad {
			v.errf(ns, "robot node %s needs server: NUMBER (a claimed server) or an order, here or in the group", ns.Name)
		}
		if ns.Server > 0 {
			v.robotDuplicate(g, ns)
		}
	}
}

// robotDuplicate reports ns's server number when an earlier robot node
// claims it too.
func (v *validator) robotDuplicate(g *Group, ns *NodeSpec) {
	for _, og := range v.inv.Groups {
		if og.Provider != "robot" {
			continue
		}
		for _, o := range og.Nodes {
			if o == ns {
				return
			}
			if o.Server == ns.Server {
				p := v.at(&o.Server).pos()
				v.errf(&ns.Server, "server %d is also claimed by node %s (%d:%d)", ns.Server, o.Name, p.Line, p.Col)
				return
			}
		}
		if og == g {
			return
		}
	}
}

func (v *validator) robotOrder(o *RobotOrder) {
	hasProduct, hasMarket := o.Product != "", v.at(&o.Market).set
	switch {
	case hasProduct && hasMarket:
		v.errf(o, "an order is a product or a market offer, not both")
	case !hasProduct && !hasMarket:
		v.errf(o, "an order needs product (e.g. EX44) or market (a server-market id)")
	}
	if hasProduct && !robotProduct.MatchString(o.Product) {
		v.errf(&o.Product, "%q is not a Robot product id", o.Product)
	}
	if w := v.at(&o.Market); hasMarket && !w.bad && o.Market < 1 {
		v.errf(&o.Market, "%d is not a server-market product id", o.Market)
	}
	// The webservice's input table for POST /order/server/transaction
	// marks every optional parameter "(optional)" but not location, and
	// names no default; hrobot-rs always sends it. So omc asks for it
	// instead of guessing where a server is bought.
	if hasProduct && !hasMarket && o.Location == "" {
		v.errf(o, "a product order needs location (e.g. FSN1, NBG1 or HEL1: one of the product's locations in GET /order/server/product/%s)", o.Product)
	}
	if o.Location != "" {
		if !robotLocation.MatchString(o.Location) {
			v.errf(&o.Location, "%q is not a Robot location such as FSN1, NBG1 or HEL1", o.Location)
		} else if hasMarket && !hasProduct {
			v.errf(&o.Location, "a server-market offer is in one place already; location is for standard products")
		}
	}
}

func (v *validator) known(provider string) bool {
	for _, p := range providerNames {
		if p == provider {
			return true
		}
	}
	return false
}
