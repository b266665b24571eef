// Package rttproxy is a TCP proxy on 127.0.0.1 that adds a round-trip
// time to every connection through it and counts round trips, for the
// benchmark's latency scenario and for tests that assert how many round
// trips a run costs. Loopback only; what it buffers is bounded.
//
// A round trip is counted as the client's write bursts: a chunk read
// from the client starts a new burst when it is the connection's first,
// or when the proxy has delivered something from the server to the
// client since the client's previous chunk and that chunk came at least
// three quarters of the round-trip time before. So a client that sends
// everything before waiting for an answer costs one, however many writes
// it makes, and each time it waits for the server's answer before going
// on costs one more. (The gap matters: a server's answer often leaves in
// several writes, and a client that reacts to the first piece at once
// sends before the rest is delivered, without waiting for it; an answer
// it waited for takes a whole round trip.)
package rttproxy

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards each connection to one target.
type Proxy struct {
	ln     net.Listener
	target string
	delay  time.Duration // one way: half the round-trip time

	bursts, conns atomic.Int64

	mu     sync.Mutex
	open   map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
}

// queueLen bounds the chunks in flight one way on one connection (each
// at most chunkSize): a full queue stops reading, as a full link would.
const (
	queueLen  = 64
	chunkSize = 32 << 10
)

// Start listens on a free port of 127.0.0.1 and forwards to target
// (host:port), delaying each chunk rtt/2 each way. rtt may be 0: then it
// only counts.
func Start(target string, rtt time.Duration) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, delay: rtt / 2, open: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Port is the port the proxy listens on.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Addr is "127.0.0.1:PORT".
func (p *Proxy) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port())) }

// Bursts is the number of client write bursts on every connection so far.
func (p *Proxy) Bursts() int64 { return p.bursts.Load() }

// Conns is the number of connections accepted so far.
func (p *Proxy) Conns() int64 { return p.conns.Load() }

// Close stops listening, closes every connection and waits for the
// proxy's goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.open {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.open[c] = true
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

func (p *Proxy) handle(client net.Conn) {
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	server, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	var replied atomic.Bool // the server delivered something since the client's last chunk
	var last time.Time      // the client's last chunk
	minGap := p.delay * 3 / 2
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		p.pipe(client, server, func() {
			now := time.Now()
			if last.IsZero() || (now.Sub(last) >= minGap && replied.Swap(false)) {
				p.bursts.Add(1)
			}
			last = now
		}, nil)
	}()
	go func() {
		defer wg.Done()
		p.pipe(server, client, nil, func() { replied.Store(true) })
	}()
	wg.Wait()
}

type chunk struct {
	at   time.Time
	data []byte
	eof  bool
}

// pipe copies src to dst, each chunk delay after it was read; onRead runs
// when a chunk is read, onSent right before it is written.
func (p *Proxy) pipe(src, dst net.Conn, onRead, onSent func()) {
	q := make(chan chunk, queueLen)
	done := make(chan struct{})
	go func() {
		defer close(done)
		broken := false
		for c := range q {
			if broken {
				continue
			}
			if d := time.Until(c.at); d > 0 {
				time.Sleep(d)
			}
			if c.eof {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				} else {
					dst.Close()
				}
				continue
			}
			// Before the write: once written, the other side may answer
			// before this goroutine runs again.
			if onSent != nil {
				onSent()
			}
			if _, err := dst.Write(c.data); err != nil {
				broken = true
				src.Close()
			}
		}
	}()
	for {
		buf := make([]byte, chunkSize)
		n, err := src.Read(buf)
		if n > 0 {
			if onRead != nil {
				onRead()
			}
			q <- chunk{at: time.Now().Add(p.delay), data: buf[:n]}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				break
			}
			q <- chunk{at: time.Now().Add(p.delay), eof: true}
			break
		}
	}
	close(q)
	<-done
}
