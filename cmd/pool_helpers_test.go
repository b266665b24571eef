package cmd

import (
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/providers/hcloud"
	hcfake "github.com/omc-coop/omc/providers/hcloud/fake"
)

const testHcloudToken = "hc-cmd-test-token-0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"

// hcloudFake starts the FAKE Hetzner Cloud API on 127.0.0.1.
func hcloudFake(t *testing.T) (*hcfake.Fake, string) {
	return hcfake.Serve(t, testHcloudToken)
}

// newTestHcloud is the real hcloud provider pointed at the fake; SSH is
// not waited for (the fake's addresses are loopback ones nothing serves).
func newTestHcloud(t *testing.T, endpoint, pub string) *hcloud.Provider {
	return hcloud.New(hcloud.Options{Token: testHcloudToken, Endpoint: endpoint, StateDir: t.TempDir(), PublicKey: pub,
		PollInterval: time.Millisecond, RetryBackoff: time.Millisecond,
		WaitSSH: func(_ context.Context, _ string) error { return nil }})
}

func tlsServer(t *testing.T) *httptest.Server {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`<response><returncode>SUCCESS</returncode></response>`))
	}))
	t.Cleanup(ts.Close)
	return ts
}

// stunResponder listens on 127.0.0.1 and answers each STUN binding
// request with what answer returns for it (stunSuccess is coturn's
// answer); requests returns the requests received so far.
func stunResponder(t *testing.T, answer func(req []byte, from *net.UDPAddr) [][]byte) (addr string, requests func() [][]byte) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var mu sync.Mutex
	var got [][]byte
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			req := slices.Clone(buf[:n])
			mu.Lock()
			got = append(got, req)
			mu.Unlock()
			for _, resp := range answer(req, from.(*net.UDPAddr)) {
				c.WriteTo(resp, from)
			}
		}
	}()
	return c.LocalAddr().String(), func() [][]byte { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }
}

// stunSuccess is a binding success response (RFC 5389 section 7.3.1) to a
// well-formed binding request: the request's cookie and transaction ID and
// an XOR-MAPPED-ADDRESS with the sender's address, as coturn sends.
func stunSuccess(req []byte, from *net.UDPAddr) [][]byte {
	if len(req) < 20 || binary.BigEndian.Uint16(req) != 0x0001 {
		return nil
	}
	resp := make([]byte, 20+12)
	binary.BigEndian.PutUint16(resp, 0x0101)
	binary.BigEndian.PutUint16(resp[2:], 12)
	copy(resp[4:20], req[4:20])
	binary.BigEndian.PutUint16(resp[20:], 0x0020) // XOR-MAPPED-ADDRESS
	binary.BigEndian.PutUint16(resp[22:], 8)
	resp[25] = 0x01 // IPv4
	binary.BigEndian.PutUint16(resp[26:], uint16(from.Port)^0x2112)
	ip := from.IP.To4()
	for i := range 4 {
		resp[28+i] = ip[i] ^ req[4+i]
	}
	return [][]byte{resp}
}

// hcloudGroup puts group eu's machines in the FAKE Hetzner Cloud API
// (other groups keep their own provider), makes the machines of the
// named nodes and starts their BBB; converging a node from then on
// starts its BBB, and converged lists those converged.
func (r *poolRig) hcloudGroup(t *testing.T, nodes ...string) (*hcfake.Fake, func() []string) {
	hc, endpoint := hcloudFake(t)
	pub := testPubKey(t)
	r.deps.Provider = func(s *ui.Streams, g *inventory.Group) (providers.Provider, error) {
		if g.Provider != "hcloud" {
			return providerFor(g.Provider, s)
		}
		return &watchedProvider{Provider: newTestHcloud(t, endpoint, pub), r: r, t: t}, nil
	}
	var mu sync.Mutex
	var converged []string
	r.deps.Converge = func(_ context.Context, _ *ui.Streams, _ *inventory.Inventory, nodes []*inventory.Node, machines map[string]providers.Machine) map[string]error {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range nodes {
			if _, ok := machines[n.Name]; !ok {
				t.Errorf("%s converged without a machine", n.Name)
			}
			converged = append(converged, n.Name)
			r.node(n.Name, "3.0.4")
		}
		return nil
	}
	inv := r.load()
	eu, _ := inv.Select([]string{"eu"}, nil)
	p, _ := r.deps.Provider(nil, inv.Group("eu"))
	if _, err := p.Create(context.Background(), inv, inv.Group("eu"), eu); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		r.node(n, "3.0.4")
	}
	return hc, func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(converged) }
}
