package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
)

// sftpServers are where distributions install OpenSSH's sftp-server.
var sftpServers = []string{"/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/lib/ssh/sftp-server"}

// TempName is the temporary file WriteFile writes path through:
// DIR/.NAME.omc-tmp. It is deterministic, so a leftover from a killed run
// is simply replaced by the next write.
func TempName(p string) string {
	dir, name := path.Split(p)
	return dir + "." + name + ".omc-tmp"
}

// ReadFile reads a file over SFTP. A missing file gives an error for
// which errors.Is(err, os.ErrNotExist) holds.
func (c *Client) ReadFile(ctx context.Context, p string) ([]byte, error) {
	sc, err := c.sftpClient(ctx)
	if err != nil {
		return nil, c.connErr(err)
	}
	defer context.AfterFunc(ctx, c.abortSFTP)()
	var buf bytes.Buffer
	f, err := sc.Open(p)
	if err == nil {
		_, err = f.WriteTo(&buf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, c.connErr(fmt.Errorf("%s: read %s: %w", c.name, p, unwrapPath(err)))
	}
	return buf.Bytes(), nil
}

// WriteFile replaces path with data, atomically: it writes TempName(path)
// (created afresh, owned and moded before any data goes in), fsyncs it and
// renames it over path. An interrupted write leaves path as it was. uid or
// gid -1 keeps the file's default (the connecting user's) owner or group.
func (c *Client) WriteFile(ctx context.Context, p string, data []byte, mode os.FileMode, uid, gid int) error {
	sc, err := c.sftpClient(ctx)
	if err != nil {
		return c.connErr(err)
	}
	defer context.AfterFunc(ctx, c.abortSFTP)()
	err = writeAtomicSFTP(sc, p, data, mode, uid, gid)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return c.connErr(fmt.Errorf("%s: write %s: %w", c.name, p, err))
	}
	return nil
}

func writeAtomicSFTP(sc *sftp.Client, p string, data []byte, mode os.FileMode, uid, gid int) (err error) {
	tmp := TempName(p)
	// Remove, then create exclusively: never write through a leftover, a
	// symlink someone planted, or a file with someone else's permissions.
	if err := sc.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove leftover %s: %w", tmp, unwrapPath(err))
	}
	f, err := sc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, unwrapPath(err))
	}
	defer func() {
		if err != nil {
			f.Close()
			sc.Remove(tmp)
		}
	}()
	if uid >= 0 || gid >= 0 {
		if uid < 0 || gid < 0 {
			fi, err := f.Stat()
			if err != nil {
				return fmt.Errorf("stat %s: %w", tmp, err)
			}
			if st, ok := fi.Sys().(*sftp.FileStat); ok {
				if uid < 0 {
					uid = int(st.UID)
				}
				if gid < 0 {
					gid = int(st.GID)
				}
			}
		}
		// chown before chmod: chown clears setuid and setgid bits.
		if err := f.Chown(uid, gid); err != nil {
			return fmt.Errorf("chown %s to %d:%d: %w", tmp, uid, gid, err)
		}
	}
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	var se *sftp.StatusError
	if err := f.Sync(); err != nil && !(errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported) {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := sc.PosixRename(tmp, p); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp, path.Base(p), unwrapPath(err))
	}
	return nil
}

// unwrapPath drops os.PathError's op and path, which our messages give.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// sftpClient opens SFTP on the connection on first use: the sftp
// subsystem, or with Sudo an exec of `sudo -n sftp-server`.
func (c *Client) sftpClient(ctx context.Context) (*sftp.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	c.mu.Lock()
	sc, bin := c.sftp, c.sftpPath
	c.mu.Unlock()
	if sc != nil {
		return sc, nil
	}
	if c.cfg.Sudo && bin == "" {
		var err error
		if bin, err = c.findSFTPServer(ctx); err != nil {
			return nil, err
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.sftpPath = bin
	sess, err := c.newSession()
	if err != nil {
		return nil, err
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	stderr := &tailBuffer{max: 2048}
	sess.Stderr = stderr
	if bin != "" {
		err = sess.Start("exec sudo -n " + bin)
	} else {
		err = sess.RequestSubsystem("sftp")
	}
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("%s: start sftp: %w", c.name, err)
	}
	c.execs.Add(1)
	sc, err = sftp.NewClientPipe(stdout, stdin, sftp.UseConcurrentWrites(true), sftp.UseFstat(true))
	if err != nil {
		// stderr usually says why (sudo: a password is required): let
		// the session end so that all of it has arrived.
		ended := make(chan struct{})
		go func() { sess.Wait(); close(ended) }()
		select {
		case <-ended:
		case <-time.After(time.Second):
		}
		sess.Close()
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			return nil, fmt.Errorf("%s: start sftp: %v: %s", c.name, err, msg)
		}
		return nil, fmt.Errorf("%s: start sftp: %w", c.name, err)
	}
	c.sftp, c.sftpSess = sc, sess
	return sc, nil
}

// findSFTPServer asks the shell where sftp-server is.
func (c *Client) findSFTPServer(ctx context.Context) (string, error) {
	sh, err := c.Shell(ctx)
	if err != nil {
		return "", err
	}
	r, err := sh.Run(ctx, "for p in "+strings.Join(sftpServers, " ")+`; do if [ -x "$p" ]; then echo "$p"; exit 0; fi; done; exit 1`)
	if err != nil {
		return "", err
	}
	if r.ExitCode != 0 {
		return "", fmt.Errorf("%s: no sftp-server on the host (looked in %s; Debian: apt-get install openssh-sftp-server)", c.name, strings.Join(sftpServers, ", "))
	}
	return strings.TrimSpace(string(r.Stdout)), nil
}

// abortSFTP closes SFTP so that a pending operation returns; the next
// ReadFile or WriteFile opens it again.
func (c *Client) abortSFTP() {
	c.mu.Lock()
	sc, sess := c.sftp, c.sftpSess
	c.sftp, c.sftpSess = nil, nil
	c.mu.Unlock()
	if sc != nil {
		sc.Close()
		sess.Close()
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

var _ io.Writer = (*tailBuffer)(nil)
