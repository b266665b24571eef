package provision

import (
	"context"
	"os"

	"github.com/omc-coop/omc/remote"
)

// SSH adapts a remote.Client to Conn: scripts run in the client's one
// persistent shell, files go over its SFTP channel.
func SSH(c *remote.Client) Conn { return &sshConn{c: c} }

type sshConn struct {
	c  *remote.Client
	sh *remote.Shell
}

func (s *sshConn) Run(ctx context.Context, script string) (RunResult, error) {
	if s.sh == nil {
		sh, err := s.c.Shell(ctx)
		if err != nil {
			return RunResult{}, err
		}
		s.sh = sh
	}
	r, err := s.sh.Run(ctx, script)
	return RunResult{Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: r.ExitCode}, err
}

func (s *sshConn) ReadFile(ctx context.Context, p string) ([]byte, error) {
	return s.c.ReadFile(ctx, p)
}

func (s *sshConn) WriteFile(ctx context.Context, p string, data []byte, mode os.FileMode, uid, gid int) error {
	return s.c.WriteFile(ctx, p, data, mode, uid, gid)
}

func (s *sshConn) Lock(ctx context.Context, holder string) (string, error) {
	return s.c.Lock(ctx, holder)
}
func (s *sshConn) Unlock(ctx context.Context) error { return s.c.Unlock(ctx) }
func (s *sshConn) Close() error                     { return s.c.Close() }
