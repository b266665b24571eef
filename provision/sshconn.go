package provision

import (
	"context"
	"os"
	"time"

	"github.com/omc-coop/omc/remote"
)

// SSH adapts a remote.Client to Conn: scripts run in the client's one
// persistent shell, files go over its SFTP channel.
func SSH(c *remote.Client) Conn { return &sshConn{c: c} }

type sshConn struct {
	c  *remote.Client
	sh *remote.Shell
}

func (s *sshConn) shell(ctx context.Context) (*remote.Shell, error) {
	if s.sh == nil {
		sh, err := s.c.Shell(ctx)
		if err != nil {
			return nil, err
		}
		s.sh = sh
	}
	return s.sh, nil
}

func (s *sshConn) Run(ctx context.Context, script string) (RunResult, error) {
	r, err := s.c.RunFirst(ctx, script)
	return RunResult{Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: r.ExitCode, Took: r.Took}, err
}

// Batch sends each run of scripts in one round trip (Shell.Batch) and each
// write over SFTP, in order. Writes stay on SFTP: there they cost the host
// no process, where a write through the shell takes several (base64,
// chown, chmod, mv), and on a host busy with dpkg every process start waits
// its turn for the CPU: measured, that made a cold run slower.
func (s *sshConn) Batch(ctx context.Context, ops []Op) ([]RunResult, error) {
	out := make([]RunResult, len(ops))
	for i := 0; i < len(ops); {
		if w := ops[i].Write; w != nil {
			t0 := time.Now()
			if err := s.c.WriteFile(ctx, w.Path, w.Data, w.Mode, w.UID, w.GID); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				out[i] = RunResult{ExitCode: 1, Stderr: []byte(err.Error()), Took: time.Since(t0)}
				skipRest(out, i+1)
				return out, nil
			}
			out[i].Took = time.Since(t0)
			i++
			continue
		}
		j := i
		var scripts []string
		for ; j < len(ops) && ops[j].Write == nil; j++ {
			scripts = append(scripts, ops[j].Script)
		}
		sh, err := s.shell(ctx)
		if err != nil {
			return nil, err
		}
		rs, err := sh.Batch(ctx, scripts)
		if err != nil {
			return nil, err
		}
		for k, r := range rs {
			out[i+k] = RunResult{Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: r.ExitCode, Skipped: r.Skipped, Took: r.Took}
			if !r.Skipped && r.ExitCode != 0 {
				skipRest(out, i+k+1)
				return out, nil
			}
		}
		i = j
	}
	return out, nil
}

func skipRest(out []RunResult, from int) {
	for k := from; k < len(out); k++ {
		out[k] = RunResult{Skipped: true}
	}
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

func (s *sshConn) LockRun(ctx context.Context, holder, script string) (string, RunResult, error) {
	stale, r, err := s.c.LockRun(ctx, holder, script)
	return stale, RunResult{Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: r.ExitCode, Skipped: r.Skipped, Took: r.Took}, err
}

func (s *sshConn) UnlockClose(ctx context.Context) error { return s.c.UnlockClose(ctx) }
func (s *sshConn) Close() error                          { return s.c.Close() }
