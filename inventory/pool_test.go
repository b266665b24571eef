package inventory

import (
	"encoding/json"
	"strings"
	"testing"
)

const poolInv = `apiVersion: omc/v1
name: coop
groups:
  eu-1:
    provider: static
    roles: [bbb]
    domain: "{name}.bbb.example.org"
    pool:
      url: https://scalelite.example.org
      secret: env:OMC_T_LB
      load_multiplier: 1.5
      tag: eu
      capacity: {users_per_node: 150, headroom_percent: 10, min_nodes: 2, max_nodes: 8}
      tenant_secrets: tenants
    nodes:
      - {name: bbb-1, address: 192.0.2.1, load_multiplier: 2, tag: big}
      - {name: bbb-2, address: 192.0.2.2}
      - {name: sl-1, address: 192.0.2.9, roles: [scalelite]}
  old:
    provider: static
    roles: [bbb]
    domain: "{name}.example.org"
    pool:
      url: http://127.0.0.1:8080
      secret: file:lb.secret
      api: rake
      container: scalelite-api
      bbb_url: http://127.0.0.1:9000/{name}/bigbluebutton/api
      checks: []
    nodes:
      - {name: old-1, address: 192.0.2.3}
      - {name: old-sl, address: 192.0.2.4, roles: [scalelite]}
`

func TestPoolBlock(t *testing.T) {
	t.Setenv("OMC_T_LB", "lb-value-not-for-eyes")
	inv := mustLoad(t, poolInv)
	g := inv.Group("eu-1")
	p := g.Pool
	if p == nil || p.URL != "https://scalelite.example.org" || p.APIKind() != PoolAPI || p.Secret.Value() != "lb-value-not-for-eyes" {
		t.Fatalf("pool %+v", p)
	}
	if u, h, mn, mx := p.Capacity.Model(); u != 150 || h != 10 || mn != 2 || mx != 8 {
		t.Errorf("capacity %d %d %d %d", u, h, mn, mx)
	}
	if u, h, mn, mx := (Capacity{}).Model(); u != 200 || h != 20 || mn != 1 || mx != 0 {
		t.Errorf("default capacity %d %d %d %d", u, h, mn, mx)
	}
	if _, h, _, _ := (Capacity{HeadroomPercent: new(int)}).Model(); h != 0 {
		t.Errorf("headroom_percent: 0 must mean none, got %d", h)
	}
	if got := strings.Join(p.HealthChecks(), ","); got != "tls,turn" {
		t.Errorf("default checks %s", got)
	}
	nodes := map[string]*Node{}
	for _, n := range inv.Nodes() {
		nodes[n.Name] = n
	}
	if lm, tag := inv.PoolMember(nodes["bbb-1"]); lm != 2 || tag != "big" {
		t.Errorf("bbb-1: %v %q", lm, tag)
	}
	if lm, tag := inv.PoolMember(nodes["bbb-2"]); lm != 1.5 || tag != "eu" {
		t.Errorf("bbb-2 inherits the pool's: %v %q", lm, tag)
	}
	if u := p.MemberURL(nodes["bbb-2"]); u != "https://bbb-2.bbb.example.org/bigbluebutton/api" {
		t.Errorf("url %s", u)
	}
	if d := inv.TenantDir(p); d != "tenants" { // relative to t.yaml's directory
		t.Errorf("tenant dir %q", d)
	}
	if !strings.Contains(strings.Join(inv.SecretValues(), " "), "lb-value-not-for-eyes") {
		t.Error("the load-balancer secret is not among the values output masks")
	}

	old := inv.Group("old").Pool
	if old.APIKind() != PoolRake || len(old.HealthChecks()) != 0 {
		t.Errorf("old: %+v", old)
	}
	if u := old.MemberURL(nodes["old-1"]); u != "http://127.0.0.1:9000/old-1/bigbluebutton/api" {
		t.Errorf("url %s", u)
	}
	if h, err := inv.RakeHost(inv.Group("old")); err != nil || h.Name != "old-sl" {
		t.Errorf("rake host %v %v", h, err)
	}
	// An unreadable LB secret does not stop a load; it is reported with
	// its place, like any other.
	if err := inv.MissingSecrets(); err == nil || !strings.Contains(err.Error(), "groups.old.pool.secret") {
		t.Errorf("missing: %v", err)
	}
	// Printing the pool shows the reference, never the value.
	b, _ := json.Marshal(p)
	if strings.Contains(string(b), "lb-value-not-for-eyes") || !strings.Contains(string(b), "env:OMC_T_LB") {
		t.Errorf("marshalled: %s", b)
	}
}

func TestPoolRakeHostMustExist(t *testing.T) {
	src := strings.Replace(poolInv, "      container: scalelite-api\n", "      host: nowhere\n", 1)
	_, err := loadString(t, src)
	if err == nil || !strings.Contains(err.Error(), `groups.old.pool.host: no node named "nowhere"`) {
		t.Fatalf("got %v", err)
	}
}

func TestPoolSchema(t *testing.T) {
	s := schemaDoc(t)
	defs := s["$defs"].(map[string]any)
	pool := defs["Pool"].(map[string]any)
	props := pool["properties"].(map[string]any)
	if props["secret"].(map[string]any)["$ref"] != "#/$defs/Secret" || props["load_multiplier"].(map[string]any)["type"] != "number" {
		t.Errorf("pool schema %v", props)
	}
	if req := toStrings(pool["required"]); strings.Join(req, ",") != "url,secret" {
		t.Errorf("required %v", req)
	}
	node := defs["NodeSpec"].(map[string]any)["properties"].(map[string]any)
	if node["tag"] == nil || node["load_multiplier"] == nil {
		t.Error("NodeSpec lacks tag or load_multiplier")
	}
}

// checksum: the algorithm omc signs Scalelite's API calls with; Scalelite
// takes only sha1, sha256 and sha512 (not BBB's sha384).
func TestPoolChecksum(t *testing.T) {
	t.Setenv("OMC_T_LB", "x")
	inv := mustLoad(t, poolInv)
	if a := inv.Group("eu-1").Pool.ChecksumAlgorithm(); a != ChecksumSHA256 {
		t.Errorf("default %q", a)
	}
	src := strings.Replace(poolInv, "      tag: eu\n", "      tag: eu\n      checksum: sha512\n", 1)
	if inv = mustLoad(t, src); inv.Group("eu-1").Pool.ChecksumAlgorithm() != ChecksumSHA512 {
		t.Errorf("sha512: %q", inv.Group("eu-1").Pool.Checksum)
	}
	src = strings.Replace(poolInv, "      tag: eu\n", "      tag: eu\n      checksum: sha384\n", 1)
	_, err := loadString(t, src)
	if err == nil || !strings.Contains(err.Error(), `t.yaml:13:17: groups.eu-1.pool.checksum: "sha384" is not a checksum algorithm Scalelite accepts; use sha1, sha256, sha512`) {
		t.Fatalf("sha384: %v", err)
	}
	props := schemaDoc(t)["$defs"].(map[string]any)["Pool"].(map[string]any)["properties"].(map[string]any)
	if got := toStrings(props["checksum"].(map[string]any)["enum"]); strings.Join(got, ",") != "sha1,sha256,sha512" {
		t.Errorf("schema enum %v", got)
	}
}

// bbb_checksum signs the nodes' BBB API calls: BBB takes sha384 too.
func TestPoolBBBChecksum(t *testing.T) {
	t.Setenv("OMC_T_LB", "x")
	inv := mustLoad(t, poolInv)
	if a := inv.Group("eu-1").Pool.BBBChecksumAlgorithm(); a != ChecksumSHA256 {
		t.Errorf("default %q", a)
	}
	src := strings.Replace(poolInv, "      tag: eu\n", "      tag: eu\n      bbb_checksum: sha384\n", 1)
	if inv = mustLoad(t, src); inv.Group("eu-1").Pool.BBBChecksumAlgorithm() != "sha384" {
		t.Errorf("sha384: %q", inv.Group("eu-1").Pool.BBBChecksum)
	}
	src = strings.Replace(poolInv, "      tag: eu\n", "      tag: eu\n      bbb_checksum: md5\n", 1)
	_, err := loadString(t, src)
	if err == nil || !strings.Contains(err.Error(), `t.yaml:13:21: groups.eu-1.pool.bbb_checksum: "md5" is not a checksum algorithm BBB accepts; use sha1, sha256, sha384, sha512`) {
		t.Fatalf("md5: %v", err)
	}
	props := schemaDoc(t)["$defs"].(map[string]any)["Pool"].(map[string]any)["properties"].(map[string]any)
	if got := toStrings(props["bbb_checksum"].(map[string]any)["enum"]); strings.Join(got, ",") != "sha1,sha256,sha384,sha512" {
		t.Errorf("schema enum %v", got)
	}
}
