// Package restic runs restic on this machine against one repository and
// reads what it says of its snapshots. The password goes to restic in a
// 0600 file only restic reads, never as a flag, and the caller's RESTIC_*
// variables are dropped, so the repository and password are the ones
// given here and nothing else. Errors carry restic's stderr, masked.
package restic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Repo is what restic needs to reach a repository.
type Repo struct {
	Repository string
	Password   string
	Env        []string // NAME=value, e.g. the storage's credentials
}

// Snapshot is what restic snapshots --json says of one snapshot.
type Snapshot struct {
	Time     time.Time `json:"time"`
	Paths    []string  `json:"paths"`
	Hostname string    `json:"hostname"`
	Tags     []string  `json:"tags"`
	ID       string    `json:"id"`
	ShortID  string    `json:"short_id"`
}

// Runner runs restic against one repository.
type Runner struct {
	bin    string
	env    []string
	tmpdir string
	mask   func(string) string
}

// New finds restic (bin, default "restic" on PATH) and writes the
// password file; Close removes it. mask hides secrets in errors (nil:
// none to hide).
func New(bin string, repo Repo, mask func(string) string) (*Runner, error) {
	if bin == "" {
		bin = "restic"
	}
	if mask == nil {
		mask = func(s string) string { return s }
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("restic is not installed on this machine (%q not found on PATH); install it (apt-get install restic) to back up the operator's files", bin)
	}
	dir, err := os.MkdirTemp("", "omc-restic-")
	if err != nil {
		return nil, err
	}
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte(repo.Password), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	var env []string
	for _, e := range os.Environ() {
		if k, _, _ := strings.Cut(e, "="); strings.HasPrefix(k, "RESTIC_") {
			continue // the caller says which repository and password
		}
		env = append(env, e)
	}
	env = append(env, "RESTIC_REPOSITORY="+repo.Repository, "RESTIC_PASSWORD_FILE="+pw)
	env = append(env, repo.Env...)
	return &Runner{bin: path, env: env, tmpdir: dir, mask: mask}, nil
}

// Close removes the password file.
func (r *Runner) Close() { os.RemoveAll(r.tmpdir) }

// Run runs restic with args and returns its stdout and stderr; an error
// carries its exit code and (masked, at most 400 bytes of) its stderr.
func (r *Runner) Run(ctx context.Context, args ...string) (string, string, error) {
	c := exec.CommandContext(ctx, r.bin, args...)
	c.Env = r.env
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	if err != nil {
		msg := strings.TrimSpace(errb.String())
		if len(msg) > 400 {
			msg = msg[:400]
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("exit %d: %s", ee.ExitCode(), r.mask(msg))
		} else {
			err = errors.New(r.mask(err.Error()))
		}
	}
	return out.String(), errb.String(), err
}
