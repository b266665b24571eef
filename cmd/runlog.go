package cmd

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/omc-coop/omc/internal/redact"
)

// keepLogs is how many debug logs stay in the state dir.
const keepLogs = 50

// openRunLog starts the full debug log of one run: every script sent to a
// host with its timing and result, secrets masked. The screen stays terse;
// when a run fails, the error names this file.
func openRunLog(red *redact.Redactor, command string) (*slog.Logger, string, func()) {
	dir := filepath.Join(stateDir(), "logs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return slog.New(slog.DiscardHandler), "", func() {}
	}
	name := fmt.Sprintf("%s-%s-%d.log", time.Now().UTC().Format("20060102T150405Z"), command, os.Getpid())
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return slog.New(slog.DiscardHandler), "", func() {}
	}
	w := red.Writer(f)
	pruneLogs(dir)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), path, func() {
		_ = w.Close()
		_ = f.Close()
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
