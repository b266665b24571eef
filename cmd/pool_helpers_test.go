package cmd

import (
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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

// stunResponder answers STUN binding requests on 127.0.0.1 as coturn would.
func stunResponder(t *testing.T) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 20 || binary.BigEndian.Uint16(buf) != 0x0001 {
				continue
			}
			resp := make([]byte, 20)
			binary.BigEndian.PutUint16(resp, 0x0101)
			copy(resp[4:20], buf[4:20])
			c.WriteTo(resp, from)
		}
	}()
	return c.LocalAddr().String()
}
