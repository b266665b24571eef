package pool

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// FileHolds keeps operator holds (omc drain NODE) in a small JSON file, so
// that the next Sync does not put a drained node back. It is local state:
// another operator's machine does not see it.
type FileHolds struct {
	Path string
}

type hold struct {
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

func (f FileHolds) read() (map[string]hold, error) {
	m := map[string]hold{}
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func (f FileHolds) write(m map[string]hold) error {
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	tmp := f.Path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, f.Path)
}

// Held implements Holds; an unreadable file holds nothing.
func (f FileHolds) Held(node string) (string, bool) {
	m, err := f.read()
	if err != nil {
		return "", false
	}
	h, ok := m[node]
	return h.Reason, ok
}

// Set holds a node out of service.
func (f FileHolds) Set(node, reason string) error {
	m, err := f.read()
	if err != nil {
		return err
	}
	m[node] = hold{Reason: reason, Since: time.Now().UTC()}
	return f.write(m)
}

// Clear releases a node.
func (f FileHolds) Clear(node string) error {
	m, err := f.read()
	if err != nil {
		return err
	}
	if _, ok := m[node]; !ok {
		return nil
	}
	delete(m, node)
	return f.write(m)
}

// List returns the held nodes, sorted.
func (f FileHolds) List() []string {
	m, _ := f.read()
	var l []string
	for n := range m {
		l = append(l, n)
	}
	sort.Strings(l)
	return l
}
