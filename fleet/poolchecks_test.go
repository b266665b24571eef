package fleet

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/pool"
)

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

func TestCheckTLSReportsTheCertificateExpiry(t *testing.T) {
	ts := tlsServer(t)
	res, err := CheckTLS(context.Background(), ts.Client(), pool.Member{URL: ts.URL + "/bigbluebutton/api"})
	if err != nil || res.Expires.Year() < 2030 || !strings.Contains(res.Detail, "certificate valid until") {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := CheckTLS(context.Background(), ts.Client(), pool.Member{URL: "http://127.0.0.1:1/bigbluebutton/api"}); err == nil || !strings.Contains(err.Error(), "not https") {
		t.Fatalf("http: %v", err)
	}
	// Not trusted: the system roots do not know httptest's certificate.
	if _, err := CheckTLS(context.Background(), DefaultPoolHTTP, pool.Member{URL: ts.URL}); err == nil {
		t.Fatal("an untrusted certificate passed")
	}
}

// STUNBinding sends one well-formed binding request (RFC 5389: type
// 0x0001, no attributes, the magic cookie, a random transaction ID) and
// takes the binding success that echoes its transaction ID.
func TestSTUNBindingAgainstALocalResponder(t *testing.T) {
	addr, requests := stunResponder(t, stunSuccess)
	if err := STUNBinding(context.Background(), addr); err != nil {
		t.Fatal(err)
	}
	reqs := requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1 (the answer came at once)", len(reqs))
	}
	r := reqs[0]
	if len(r) != 20 || binary.BigEndian.Uint16(r) != 0x0001 || binary.BigEndian.Uint16(r[2:]) != 0 || binary.BigEndian.Uint32(r[4:]) != 0x2112A442 {
		t.Fatalf("request % x: want a 20-byte binding request with no attributes and the magic cookie", r)
	}
	if bytes.Equal(r[8:20], make([]byte, 12)) {
		t.Fatal("the transaction ID is all zeros, not random")
	}
	addr2, requests2 := stunResponder(t, stunSuccess)
	if err := STUNBinding(context.Background(), addr2); err != nil {
		t.Fatal(err)
	}
	if r2 := requests2()[0]; bytes.Equal(r2[8:20], r[8:20]) {
		t.Fatal("two requests share a transaction ID")
	}
}

// Answers that are not the binding success for this request (another
// transaction, a binding error, a truncated packet) do not count as a
// working TURN server: the check goes on waiting until its context ends.
func TestSTUNBindingIgnoresOtherAnswers(t *testing.T) {
	addr, requests := stunResponder(t, func(req []byte, from *net.UDPAddr) [][]byte {
		ok := stunSuccess(req, from)[0]
		otherTx := slices.Clone(ok)
		otherTx[19] ^= 0xff
		bindingError := slices.Clone(ok)
		binary.BigEndian.PutUint16(bindingError, 0x0111)
		return [][]byte{otherTx, bindingError, ok[:19]}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := STUNBinding(ctx, addr)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline: no answer was a binding success for this request", err)
	}
	if len(requests()) == 0 {
		t.Fatal("no request reached the responder")
	}
}
