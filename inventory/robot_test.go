package inventory

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const robotInv = `apiVersion: omc/v1
name: coop
groups:
  metal:
    provider: robot
    roles: [bbb]
    robot_user: env:OMC_T_ROBOT_USER
    robot_password: file:robot.pw
    order: {product: EX44, location: FSN1}
    count: 1
    name: metal-{n}
    nodes:
      - {name: claimed, server: 321}
      - {name: auction, order: {market: 2366354}}
`

func TestRobotFields(t *testing.T) {
	t.Setenv("OMC_T_ROBOT_USER", "#ws+robotuser")
	inv := mustLoad(t, robotInv)
	g := inv.Group("metal")
	if g.Order == nil || g.Order.Product != "EX44" || g.Order.Location != "FSN1" {
		t.Fatalf("group order %+v", g.Order)
	}
	if g.RobotUser.Value() != "#ws+robotuser" || g.RobotUser.String() != "env:OMC_T_ROBOT_USER" {
		t.Errorf("robot_user %v", g.RobotUser)
	}
	if g.RobotPassword.IsSet() {
		t.Error("robot.pw does not exist; the password must not be set")
	}
	if err := inv.MissingSecrets(); err == nil || !strings.Contains(err.Error(), "t.yaml:8:21: groups.metal.robot_password: cannot read file:robot.pw") {
		t.Errorf("missing password: %v", err)
	}
	if !strings.Contains(strings.Join(inv.SecretValues(), " "), "#ws+robotuser") {
		t.Error("the robot user is not among the values output masks")
	}
	claimed, auction := g.Nodes[0], g.Nodes[1]
	if claimed.Server != 321 || OrderFor(g, claimed) != nil {
		t.Errorf("claimed: %+v", claimed)
	}
	if o := OrderFor(g, auction); o == nil || o.Market != 2366354 {
		t.Errorf("auction order %+v", o)
	}
	if o := OrderFor(g, nil); o != g.Order {
		t.Errorf("counted nodes take the group's order, got %+v", o)
	}
	if n := len(inv.Nodes()); n != 3 {
		t.Errorf("%d nodes", n)
	}
}

func TestRobotInvalid(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"node without server or order", minimal + "  m:\n    provider: robot\n    nodes:\n      - {name: a}\n",
			"t.yaml:7:9: groups.m.nodes[0]: robot node a needs server: NUMBER (a claimed server) or an order, here or in the group"},
		{"server and order", minimal + "  m:\n    provider: robot\n    nodes:\n      - {name: a, server: 1, order: {product: EX44}}\n",
			"t.yaml:7:37: groups.m.nodes[0].order: a robot node is a claimed server (server) or an order, not both"},
		{"bad server number", minimal + "  m:\n    provider: robot\n    nodes:\n      - {name: a, server: 0}\n",
			"t.yaml:7:27: groups.m.nodes[0].server: 0 is not a Robot server number"},
		{"server not a number", minimal + "  m:\n    provider: robot\n    nodes:\n      - {name: a, server: abc}\n",
			"t.yaml:7:27: groups.m.nodes[0].server: expected an integer, got a string"},
		{"server claimed twice", minimal + "  m:\n    provider: robot\n    nodes:\n      - {name: a, server: 7}\n  n:\n    provider: robot\n    nodes:\n      - {name: b, server: 7}\n",
			"t.yaml:11:27: groups.n.nodes[0].server: server 7 is also claimed by node a (7:27)"},
		{"address on a robot node", minimal + "  m:\n    provider: robot\n    nodes:\n      - {name: a, server: 7, address: 192.0.2.1}\n",
			"t.yaml:7:39: groups.m.nodes[0].address: robot nodes get their address from Robot"},
		{"counted without order", minimal + "  m:\n    provider: robot\n    count: 2\n    name: m-{n}\n",
			"t.yaml:6:12: groups.m.count: counted robot nodes are ordered: the group needs an order"},
		{"order product and market", minimal + "  m:\n    provider: robot\n    order: {product: EX44, market: 5}\n    nodes: [{name: a}]\n",
			"t.yaml:6:12: groups.m.order: an order is a product or a market offer, not both"},
		{"empty order", minimal + "  m:\n    provider: robot\n    order: {}\n    nodes: [{name: a}]\n",
			"t.yaml:6:12: groups.m.order: an order needs product (e.g. EX44) or market (a server-market id)"},
		{"bad location", minimal + "  m:\n    provider: robot\n    order: {product: EX44, location: falkenstein}\n    nodes: [{name: a}]\n",
			`t.yaml:6:38: groups.m.order.location: "falkenstein" is not a Robot location`},
		{"product without location", minimal + "  m:\n    provider: robot\n    order: {product: EX44}\n    nodes: [{name: a}]\n",
			"t.yaml:6:12: groups.m.order: a product order needs location (e.g. FSN1, NBG1 or HEL1"},
		{"node's product without location", minimal + "  m:\n    provider: robot\n    nodes:\n      - {name: a, order: {product: AX42}}\n",
			"t.yaml:7:26: groups.m.nodes[0].order: a product order needs location"},
		{"unknown order key", minimal + "  m:\n    provider: robot\n    order: {product: EX44, prize: 3}\n    nodes: [{name: a}]\n",
			`t.yaml:6:28: groups.m.order: unknown field "prize"`},
		{"other image", minimal + "  m:\n    provider: robot\n    image: debian-12\n    nodes: [{name: a, server: 1}]\n",
			`t.yaml:6:12: groups.m.image: robot servers are installed with ubuntu-22.04 (installimage); "debian-12" is not supported`},
		{"password in clear text", minimal + "  m:\n    provider: robot\n    robot_password: hunter2\n    nodes: [{name: a, server: 1}]\n",
			"t.yaml:6:21: groups.m.robot_password: secrets must be env:NAME or file:PATH, never clear text"},
		{"server on a static node", minimal + "  s:\n    provider: static\n    nodes:\n      - {name: a, address: 192.0.2.1, server: 3}\n",
			"t.yaml:7:47: groups.s.nodes[0].server: server (a Robot server number) is only for robot groups"},
		{"order on an hcloud group", minimal + "  h:\n    provider: hcloud\n    location: fsn1\n    server_type: cx22\n    image: ubuntu-22.04\n    order: {product: EX44}\n",
			"t.yaml:9:12: groups.h.order: order is only for robot groups"},
		{"robot_user on a static group", minimal + "  s:\n    provider: static\n    robot_user: env:U\n    nodes: [{name: a, address: 192.0.2.1}]\n",
			"t.yaml:6:17: groups.s.robot_user: robot_user is only for robot groups"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadString(t, tt.src)
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want *Errors, got %T %v", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("errors:\n%v\nwant one containing:\n%s", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Error("a clear-text password was echoed")
			}
		})
	}
}

func TestRobotSchema(t *testing.T) {
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs map[string]struct {
			Properties map[string]map[string]any `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if p := s.Defs["NodeSpec"].Properties["server"]; p["type"] != "integer" || p["minimum"] != float64(1) {
		t.Errorf("NodeSpec.server: %v", p)
	}
	order := s.Defs["RobotOrder"].Properties
	if order["product"]["pattern"] == nil || order["market"]["type"] != "integer" || order["location"]["pattern"] == nil {
		t.Errorf("RobotOrder: %v", order)
	}
	if ref := s.Defs["Group"].Properties["robot_password"]["$ref"]; ref != "#/$defs/Secret" {
		t.Errorf("robot_password is not a secret reference: %v", ref)
	}
}
