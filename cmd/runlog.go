package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/redact"
	"github.com/omc-coop/omc/internal/ui"
)

// keepLogs is how many debug logs stay in the state dir.
const keepLogs = 50

// openRunLog starts the full debug log of one run: every script sent to a
// host with its timing and result, secrets masked. The screen stays terse;
// when a run fails, the error names this file.
func openRunLog(s *ui.Streams, red *redact.Redactor, command string) (*slog.Logger, string, func()) {
	dir := filepath.Join(fleet.StateDir(), "logs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return slog.New(slog.DiscardHandler), "", func() {}
	}
	stamp := time.Now().UTC().Format("20060102T150405Z")
	var path string
	var f *os.File
	var err error
	// Two runs of one command in the same second and process (a test,
	// a script calling omc as a library) get -2, -3, … rather than none.
	for i := 1; i <= 100; i++ {
		name := fmt.Sprintf("%s-%s-%d.log", stamp, command, os.Getpid())
		if i > 1 {
			name = fmt.Sprintf("%s-%s-%d-%d.log", stamp, command, os.Getpid(), i)
		}
		path = filepath.Join(dir, name)
		if f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600); !errors.Is(err, os.ErrExist) {
			break
		}
	}
	if err != nil {
		return slog.New(slog.DiscardHandler), "", func() {}
	}
	lf := &laterFile{f: f}
	w := red.Writer(lf)
	pruneLogs(dir)
	var out io.Writer = w
	closeMirror := func() {}
	if s != nil && s.Debug {
		// The same lines on stderr, masked by the same redactor.
		m := red.Writer(s.Err)
		out, closeMirror = io.MultiWriter(w, m), func() { _ = m.Close() }
	}
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})), path, func() {
		_ = w.Close()
		closeMirror()
		lf.flush()
		_ = f.Close()
	}
}

// laterFile writes the log's lines at most logFlushAfter after they are
// logged, or at 64 KiB: an up writes a line per step per host, and a
// write(2) per line cost the controller more than making the lines.
type laterFile struct {
	mu      sync.Mutex
	f       *os.File
	buf     []byte
	pending *time.Timer
}

const logFlushAfter = 200 * time.Millisecond

func (l *laterFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if len(l.buf) >= 64<<10 {
		l.writeOut()
	} else if l.pending == nil {
		l.pending = time.AfterFunc(logFlushAfter, l.flush)
	}
	return len(p), nil
}

func (l *laterFile) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writeOut()
}

// writeOut writes what is buffered; l.mu is held. A log is best effort:
// a write error loses lines, never the run.
func (l *laterFile) writeOut() {
	if l.pending != nil {
		l.pending.Stop()
		l.pending = nil
	}
	if len(l.buf) > 0 {
		_, _ = l.f.Write(l.buf)
		l.buf = l.buf[:0]
	}
}

func pruneLogs(dir string) {
	m, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(m) <= keepLogs {
		return
	}
	sort.Strings(m) // names start with a UTC timestamp
	for _, p := range m[:len(m)-keepLogs] {
		_ = os.Remove(p)
	}
}

// logRun runs a pool command with its debug log: opened before the
// inventory is read, with a redactor the command fills in
// (fleet.Redactor) as it learns the secrets, so that nothing it logs
// shows one.
func logRun(ctx context.Context, s *ui.Streams, command string, run func(ctx context.Context) error) error {
	red := redact.New()
	ctx = fleet.WithRedactor(ctx, red)
	ctx, path, closeLog := startRunLog(ctx, s, red, command)
	defer closeLog()
	return endRunLog(ctx, run(ctx), path)
}

// startRunLog opens the debug log of a command that does not converge
// hosts (the pool commands) and puts it in the returned context, where
// fleet.OpenPool finds it: every call to Scalelite and the nodes' BBB APIs is
// logged there (method, host, path, status, time; never a query, which
// carries a checksum).
func startRunLog(ctx context.Context, s *ui.Streams, red *redact.Redactor, command string, args ...any) (context.Context, string, func()) {
	log, path, closeFn := openRunLog(s, red, command)
	log.Info("start", append([]any{"command", command, "version", version}, args...)...)
	return fleet.WithLog(ctx, log), path, closeFn
}

// endRunLog records how the command ended and, for a failure that is
// not a silent exit code, names the log in the error.
func endRunLog(ctx context.Context, err error, path string) error {
	log := fleet.LogFrom(ctx)
	if log == nil {
		return err
	}
	if err == nil {
		log.Info("end", "ok", true)
		return nil
	}
	log.Error("end", "error", err.Error())
	var ee *exitError
	if errors.As(err, &ee) && ee.Silent {
		return err
	}
	if c := exitCode(err); c == ExitInventory || c == ExitUsage {
		return err // about the command line or the file: the log adds nothing
	}
	return withLog(err, path)
}

// openRunLogFor starts the debug log of a pool command.
func openRunLogFor(s *ui.Streams, red *redact.Redactor, command string) (func(msg string, args ...any), string, func()) {
	log, path, closeFn := openRunLog(s, red, command)
	return func(msg string, args ...any) { log.Info(msg, args...) }, path, closeFn
}
