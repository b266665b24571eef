package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"

	"gopkg.in/yaml.v3"
)

// DefaultPath picks the inventory file: the flag value if set, else
// $OMC_INVENTORY, else omc.yaml in the working directory.
func DefaultPath(flag string) string {
	if flag != "" {
		return flag
	}
	if p := os.Getenv("OMC_INVENTORY"); p != "" {
		return p
	}
	return "omc.yaml"
}

// Load reads, validates and resolves the inventory at path ("-" reads
// stdin). A file that is not a valid inventory gives *Errors listing every
// problem; a file that cannot be read gives the plain I/O error.
func Load(path string) (*Inventory, error) {
	if path == "-" {
		return LoadReader("<stdin>", os.Stdin)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return LoadReader(path, f)
}

// LoadReader is Load for an open stream. name is used in messages and as
// Inventory.Path; template and file: paths are relative to its directory
// (the working directory for a name like "<stdin>").
func LoadReader(name string, r io.Reader) (*Inventory, error) {
	src, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return load(name, src)
}

// load runs the stages in order; each stage reports into the same list
// so that one run shows every problem, and only a file that could not be
// read as YAML at all stops early.
func load(name string, src []byte) (*Inventory, error) {
	l := &errList{file: name}
	if !checkInput(l, src) {
		return nil, l.err()
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.add(Pos{1, 1}, "", "empty file; an inventory starts with apiVersion: %s", APIVersion)
		} else {
			yamlError(l, src, err)
		}
		return nil, l.err()
	}
	if len(doc.Content) == 0 {
		l.add(Pos{1, 1}, "", "empty file; an inventory starts with apiVersion: %s", APIVersion)
		return nil, l.err()
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		l.add(posOf(&more), "", "a second YAML document; an inventory is a single document")
	} else if !errors.Is(err, io.EOF) {
		yamlError(l, src, err)
	}

	inv := &Inventory{Path: name}
	d := &decoder{errs: l, at: map[any]where{}, active: map[*yaml.Node]bool{}}
	d.decode(doc.Content[0], reflect.ValueOf(inv).Elem(), "", 0)
	if d.stopped {
		return nil, l.err() // the tree is not worth validating
	}
	v := &validator{errs: l, where: d.at, src: src, dir: filepath.Dir(name), inv: inv}
	v.validate()
	indexSettings(d.at, &inv.Defaults.Settings)
	for _, g := range inv.Groups {
		indexSettings(d.at, &g.Settings)
		for _, ns := range g.Nodes {
			indexSettings(d.at, &ns.Settings)
		}
	}
	// Unreadable secret values are kept aside, not failed on here: a run
	// on one group must not need another group's secrets. Whoever uses a
	// secret (a template, a role, a provider token) or `omc validate`
	// reports them, with their position.
	missing := &errList{file: l.file}
	resolveSecrets(missing, inv, filepath.Dir(name))
	inv.missing = missing.list
	if len(l.list) > 0 {
		// The file is broken anyway: report everything at once.
		l.list = append(l.list, missing.list...)
	}
	if err := l.err(); err != nil {
		return nil, err
	}
	nodes, ok := inv.merge(maxMerged)
	if !ok {
		w := v.at(&inv.Defaults.Settings)
		l.add(w.pos(), w.path, "merged settings are too large (more than %d entries over all nodes)", maxMerged)
		return nil, l.err()
	}
	for _, n := range nodes {
		checkMerged(l, n)
	}
	if err := l.err(); err != nil {
		return nil, err
	}
	inv.nodes = nodes
	return inv, nil
}
