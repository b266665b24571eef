package sshtest

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections from a port of 127.0.0.1 to a target,
// and can freeze: stop forwarding both ways while keeping every
// connection open, as a link does that dies without a reset (a cable
// pulled, a host gone, a NAT entry dropped).
type Proxy struct {
	Addr string // "127.0.0.1:PORT"
	Port int

	target string
	ln     net.Listener

	mu     sync.Mutex
	frozen bool
	thawed *sync.Cond // broadcast when the proxy closes
	closed bool
	conns  []net.Conn
}

// StartProxy listens on a free port of 127.0.0.1 and forwards each
// connection to target; it stops when the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshtest: proxy: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), Port: ln.Addr().(*net.TCPAddr).Port, target: target, ln: ln}
	p.thawed = sync.NewCond(&p.mu)
	t.Cleanup(p.Close)
	go p.serve()
	return p
}

// Freeze stops all forwarding, in both directions, on the connections
// open now and on later ones; nothing is closed.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

// Close closes the listener and every connection, frozen or not.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.thawed.Broadcast()
}

func (p *Proxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			in.Close()
			out.Close()
			return
		}
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

// pipe copies src to dst, holding each chunk while the proxy is frozen.
func (p *Proxy) pipe(src, dst net.Conn) {
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.frozen && !p.closed {
				p.thawed.Wait()
			}
			closed := p.closed
			p.mu.Unlock()
			if closed {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				return
			}
		}
		if err != nil {
			// Pass the end on, as a plain TCP path would.
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			return
		}
	}
}
