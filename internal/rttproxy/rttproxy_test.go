package rttproxy

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// echo answers each line with the same line.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, l); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, p *Proxy) (net.Conn, *bufio.Reader) {
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func TestBurstsCountWaitsForTheServer(t *testing.T) {
	p, err := Start(echo(t), 2*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	// Three lines sent before reading anything: one burst.
	c, r := dial(t, p)
	if _, err := io.WriteString(c, "a\nb\nc\n"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a\n", "b\n", "c\n"} {
		if l, err := r.ReadString('\n'); err != nil || l != want {
			t.Fatalf("read %q, %v; want %q", l, err, want)
		}
	}
	if got := p.Bursts(); got != 1 {
		t.Errorf("pipelined: %d bursts, want 1", got)
	}

	// Three lines each waiting for its answer: three more.
	c2, r2 := dial(t, p)
	for _, l := range []string{"x\n", "y\n", "z\n"} {
		if _, err := io.WriteString(c2, l); err != nil {
			t.Fatal(err)
		}
		if got, err := r2.ReadString('\n'); err != nil || got != l {
			t.Fatalf("read %q, %v", got, err)
		}
	}
	if got := p.Bursts(); got != 4 {
		t.Errorf("after ping-pong: %d bursts, want 4", got)
	}
	if got := p.Conns(); got != 2 {
		t.Errorf("%d connections, want 2", got)
	}
}

// A half-closed client still gets the server's answer, and big writes
// arrive whole and in order.
func TestForwardsInOrderAndHalfClose(t *testing.T) {
	p, err := Start(echo(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, r := dial(t, p)
	var want strings.Builder
	for i := range 20000 {
		want.WriteString(strings.Repeat("x", i%50) + "\n")
	}
	go func() {
		_, _ = io.WriteString(c, want.String())
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		t.Fatalf("got %d bytes, want %d (same content: %v)", len(got), want.Len(), string(got) == want.String())
	}
}
