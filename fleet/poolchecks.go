package fleet

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/pool"
)

// HealthChecks are the gate's extra checks the pool asks for.
func HealthChecks(cfg *inventory.Pool, deps *PoolDeps) []pool.Check {
	var out []pool.Check
	for _, c := range cfg.HealthChecks() {
		switch c {
		case inventory.CheckTLS:
			hc := deps.Client()
			out = append(out, pool.Check{Name: "tls", Run: func(ctx context.Context, m pool.Member) (pool.CheckResult, error) {
				return CheckTLS(ctx, hc, m)
			}})
		case inventory.CheckTURN:
			stun := STUNBinding
			if deps != nil && deps.STUN != nil {
				stun = deps.STUN
			}
			out = append(out, pool.Check{Name: "turn", Run: func(ctx context.Context, m pool.Member) (pool.CheckResult, error) {
				if m.TURN == "" {
					return pool.CheckResult{}, errors.New("no TURN server known (the node has neither a domain nor a TURN node in its group)")
				}
				if err := stun(ctx, m.TURN); err != nil {
					return pool.CheckResult{}, fmt.Errorf("STUN at %s: %w", m.TURN, err)
				}
				return pool.CheckResult{Detail: "STUN binding at " + m.TURN + " answered"}, nil
			}})
		}
	}
	return out
}

// CheckTLS fetches the node's API root over HTTPS, which verifies the
// certificate for its name, and reports when the certificate expires.
func CheckTLS(ctx context.Context, hc *http.Client, m pool.Member) (pool.CheckResult, error) {
	u, err := url.Parse(m.URL)
	if err != nil || u.Scheme != "https" {
		return pool.CheckResult{}, fmt.Errorf("the BBB API URL %s is not https", m.URL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL, nil)
	if err != nil {
		return pool.CheckResult{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return pool.CheckResult{}, err
	}
	resp.Body.Close()
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		return pool.CheckResult{}, errors.New("no certificate")
	}
	return certResult(resp.TLS)
}

func certResult(st *tls.ConnectionState) (pool.CheckResult, error) {
	c := st.PeerCertificates[0]
	left := time.Until(c.NotAfter)
	r := pool.CheckResult{Expires: c.NotAfter.UTC(), Detail: "certificate valid until " + c.NotAfter.UTC().Format("2006-01-02")}
	if left < 72*time.Hour {
		return r, fmt.Errorf("certificate expires %s (renewal is failing?)", c.NotAfter.UTC().Format(time.RFC3339))
	}
	return r, nil
}

// STUNBinding sends a STUN binding request (RFC 5389) over UDP and waits
// for a success response with the same transaction ID: coturn answers
// it without credentials. Three tries, a second each.
func STUNBinding(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	req := make([]byte, 20)
	binary.BigEndian.PutUint16(req[0:], 0x0001) // binding request
	binary.BigEndian.PutUint32(req[4:], 0x2112A442)
	if _, err := rand.Read(req[8:20]); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	for try := 0; try < 3; try++ {
		if _, err := conn.Write(req); err != nil {
			return err
		}
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				break // timeout: send again
			}
			if n >= 20 && binary.BigEndian.Uint16(buf[0:]) == 0x0101 && string(buf[8:20]) == string(req[8:20]) {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return errors.New("no binding response after 3 tries")
}
