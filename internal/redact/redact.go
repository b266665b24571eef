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
	"encoding/json"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
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

// Add registers more secrets (e.g. ones derived during a run), each with
// every encoding a template or config writer can give it (Encodings).
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[string]bool, len(r.secrets))
	for _, s := range r.secrets {
		seen[s] = true
	}
	for _, s := range secrets {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		for _, v := range Encodings(s) {
			if !seen[v] {
				seen[v] = true
				r.secrets = append(r.secrets, v)
			}
		}
	}
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
}

// Encodings is s and each distinct form it takes once escaped the ways
// omc's templates can write it: text/template's html, js and urlquery,
// XML entities, a Java properties value, a JSON or Go string body, and
// URL path escaping. A secret with no special characters has one form.
func Encodings(s string) []string {
	j, _ := json.Marshal(s)
	q := strconv.Quote(s)
	forms := []string{
		s,
		template.HTMLEscapeString(s),
		template.JSEscapeString(s),
		template.URLQueryEscaper(s),
		url.QueryEscape(s),
		url.PathEscape(s),
		xmlEntities.Replace(s),
		strings.ReplaceAll(s, `\`, `\\`),
		string(j[1 : len(j)-1]),
		q[1 : len(q)-1],
	}
	out := forms[:1]
	for _, f := range forms[1:] {
		if f != "" && !contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

var xmlEntities = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
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
