package hcloud

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
)

// sshAddr is where a fresh server's sshd listens: port 22 of its IPv4
// (the image's sshd; a node's own ssh.port is set up by converging).
func sshAddr(s *hcloud.Server) string {
	return net.JoinHostPort(s.PublicNet.IPv4.IP.String(), "22")
}

// waitSSH dials addr until the server greets with an SSH banner, which
// means sshd is up with the host key cloud-init installed.
func waitSSH(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		d := net.Dialer{Timeout: 10 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			line, rerr := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if rerr == nil && strings.HasPrefix(line, "SSH-") {
				return nil
			}
			err = fmt.Errorf("no SSH banner (%v)", rerr)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("SSH at %s did not answer within %s: %v", addr, timeout, last)
		case <-time.After(3 * time.Second):
		}
	}
}
