package fleet

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/fake"
	"github.com/omc-coop/omc/provision/roles"
)

// opsRig is a group eu whose pool is a FAKE Scalelite and whose bbb
// nodes are FAKE BBB APIs, all on 127.0.0.1: the one set-up of fleet's
// pool tests (drain, enable, remove, scale, upgrade, the pool sync).
type opsRig struct {
	t    *testing.T
	path string
	sl   *fake.Scalelite
	bbb  *fake.BBB
	deps *PoolDeps
}

const opsLBSecret = "lb-secret-fleet-ops-0b7e"

// newOpsRig is newPoolRig for a group of bbb nodes: nodes is the YAML
// under the group after its roles (indented four spaces).
func newOpsRig(t *testing.T, nodes string) *opsRig {
	return newPoolRig(t, "    roles: [bbb]\n"+nodes, nil)
}

// newPoolRig writes the inventory, group eu with its pool followed by
// group (YAML lines under the group, indented four spaces), and starts
// the fakes. front, when set, stands in front of the fake Scalelite (a
// Scalelite still starting, say).
func newPoolRig(t *testing.T, group string, front func(http.Handler) http.Handler) *opsRig {
	t.Helper()
	t.Setenv("OMC_STATE_DIR", t.TempDir())
	t.Setenv("OMC_T_LB", opsLBSecret)
	t.Setenv("OMC_T_SEED", "seed-fleet-ops-5c21")
	r := &opsRig{t: t, sl: fake.NewScaleliteHandler(opsLBSecret), bbb: fake.NewBBB(t), deps: &PoolDeps{Poll: 5 * time.Millisecond}}
	var h http.Handler = r.sl
	if front != nil {
		h = front(h)
	}
	r.sl.Server = httptest.NewServer(h)
	r.sl.URL = r.sl.Server.URL
	t.Cleanup(r.sl.Server.Close)
	r.path = filepath.Join(t.TempDir(), "omc.yaml")
	src := fmt.Sprintf(`apiVersion: omc/v1
name: t
secrets:
  bbb_seed: env:OMC_T_SEED
groups:
  eu:
    domain: "{name}.example.org"
    settings: {bbb_version: "3.0"}
    pool:
      url: %s
      secret: env:OMC_T_LB
      bbb_url: %s/{name}/bigbluebutton/api
      checks: []
%s`, r.sl.URL, r.bbb.Server.URL, group)
	if err := os.WriteFile(r.path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

const opsStaticNodes = `    provider: static
    nodes:
      - {name: bbb-1, address: 127.0.0.1}
      - {name: bbb-2, address: 127.0.0.1}
`

func (r *opsRig) load() *inventory.Inventory {
	r.t.Helper()
	inv, err := inventory.Load(r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	return inv
}

// node starts node name's FAKE BBB API at version, with the secret omc
// derives for it (the node need not be in the inventory yet).
func (r *opsRig) node(name, version string) *fake.Node {
	r.t.Helper()
	n := &inventory.Node{Name: name, Group: "eu", Roles: []string{"bbb"}, Settings: inventory.Settings{BBBVersion: "3.0", SeedSecret: "bbb_seed"}}
	sec, err := roles.APISecret(r.load(), n)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.bbb.AddNode(name, sec, version).RevealVersion(true)
}

// state is node name's registration in the FAKE Scalelite ("absent":
// none).
func (r *opsRig) state(name string) pool.Server {
	if sv, ok := r.sl.ServerByURL(r.bbb.Server.URL + "/" + name + "/bigbluebutton/api"); ok {
		return sv
	}
	return pool.Server{State: "absent"}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for i := 0; !ok(); i++ {
		if i == 5000 {
			t.Fatal("timed out waiting")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
