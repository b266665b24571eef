// Package redact masks secret values in anything omc shows or logs. Every
// output path (events, plan diffs, errors, the debug log) goes through one
// Redactor, so a secret that reaches a template or an error message still
// never reaches a terminal or a file. The checksum of a signed BBB or
// Scalelite call is masked too, wherever a URL with one is quoted: its
// query is fixed (getServers has none), so a checksum seen once can be
// replayed for good.
package redact

import (
	"bytes"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Mask replaces each secret occurrence.
const Mask = "***"

// Redactor masks a fixed set of secrets. Safe for concurrent use.
type Redactor struct {
	mu      sync.RWMutex
	secrets []string // longest first, so a secret containing another is masked whole
}

// reChecksum is a signed call's checksum parameter (hex, 40 to 128).
var reChecksum = regexp.MustCompile(`(?i)(checksum=)[0-9a-f]{40,128}`)

// New returns a Redactor for secrets; empty values are ignored.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add registers more secrets (e.g. ones derived during a run).
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if s = strings.TrimSpace(s); s != "" {
			r.secrets = append(r.secrets, s)
		}
	}
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
}

// String returns s with every secret masked.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	if strings.Contains(s, "hecksum=") || strings.Contains(s, "HECKSUM=") {
		s = reChecksum.ReplaceAllString(s, "${1}"+Mask)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, x := range r.secrets {
		if strings.Contains(s, x) {
			s = strings.ReplaceAll(s, x, Mask)
		}
	}
	return s
}

// Writer returns w wrapped so that every line written is masked. Output is
// buffered up to each newline so a secret split across writes is caught;
// Close flushes a final partial line.
func (r *Redactor) Writer(w io.Writer) io.WriteCloser {
	return &writer{r: r, w: w}
}

type writer struct {
	r   *Redactor
	w   io.Writer
	mu  sync.Mutex
	buf []byte
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	i := bytes.LastIndexByte(w.buf, '\n')
	if i < 0 {
		return len(p), nil
	}
	if _, err := io.WriteString(w.w, w.r.String(string(w.buf[:i+1]))); err != nil {
		return 0, err
	}
	w.buf = append(w.buf[:0], w.buf[i+1:]...)
	return len(p), nil
}

func (w *writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return nil
	}
	_, err := io.WriteString(w.w, w.r.String(string(w.buf)))
	w.buf = nil
	return err
}
