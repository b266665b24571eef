package roles

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/provision"
)

// sshConn is the E2E tests' own line to a host, for preparing it and
// checking it (runs, uploads, timed transfers); the roles themselves are
// converged through omc's transport (remote) and engine.
type sshConn struct {
	c *ssh.Client
	s *sftp.Client
}

func dialSSH(ctx context.Context, addr string, cfg *ssh.ClientConfig) (*sshConn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	cc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	c := ssh.NewClient(cc, chans, reqs)
	s, err := sftp.NewClient(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &sshConn{c: c, s: s}, nil
}

func (c *sshConn) Run(ctx context.Context, script string) (provision.RunResult, error) {
	sess, err := c.c.NewSession()
	if err != nil {
		return provision.RunResult{}, err
	}
	defer sess.Close()
	var out, errb bytes.Buffer
	sess.Stdout, sess.Stderr = &out, &errb
	done := make(chan error, 1)
	go func() { done <- sess.Run("/bin/sh -c " + shell.Quote(script)) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		sess.Close()
		return provision.RunResult{}, ctx.Err()
	}
	res := provision.RunResult{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		res.ExitCode, err = ee.ExitStatus(), nil
	}
	return res, err
}

func (c *sshConn) Close() error { c.s.Close(); return c.c.Close() }

// upload writes a local file to the host (test fixtures such as the repo).
func (c *sshConn) upload(local, remote string) error {
	b, err := os.ReadFile(local)
	if err != nil {
		return err
	}
	if err := c.s.MkdirAll(path.Dir(remote)); err != nil {
		return err
	}
	f, err := c.s.Create(remote)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(b)
	return err
}
