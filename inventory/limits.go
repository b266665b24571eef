package inventory

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits that keep a hostile or mistaken file (a binary, a billion-laughs
// alias bomb, a deeply nested or huge document) from costing more than a
// few tens of MiB and a fraction of a second. A real inventory is a few KiB.
const (
	maxSize = 4 << 20 // bytes read from the file
	// maxElements bounds an over-estimate of the YAML nodes in the file
	// (lines plus , [ { - : ? characters). yaml.v3 keeps about 200 bytes
	// per node before our decoder sees the tree, so 4 MiB of "a,a,a,"
	// would otherwise cost ~400 MiB.
	maxElements   = 100_000
	maxDepth      = 50     // nesting of mappings and lists
	maxAliasNodes = 10_000 // nodes visited through aliases and merge keys
	maxNodes      = 1000   // nodes in the whole inventory, counted ones included
	// maxMerged bounds the settings entries copied while merging all nodes,
	// since merging multiplies the settings by the number of nodes.
	maxMerged       = 200_000
	maxSecretSize   = 64 << 10
	maxTemplateSize = 1 << 20
	yamlMaxDepth    = 10000 // yaml.v3's own nesting limit
)

// checkInput refuses input that is not a small UTF-8 text file before the
// YAML parser sees it, pointing at the offending byte where there is one.
func checkInput(l *errList, b []byte) bool {
	if len(b) > maxSize {
		l.add(Pos{1, 1}, "", "file is larger than %d MiB; an inventory is far smaller (is this the right file?)", maxSize>>20)
		return false
	}
	line, col, elems := 1, 1, 0
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			l.add(Pos{line, col}, "", "invalid UTF-8; the inventory must be UTF-8 text")
			return false
		case r == 0:
			l.add(Pos{line, col}, "", "NUL byte; this looks like a binary file, not YAML")
			return false
		case r == '\n', r == ',', r == '[', r == '{', r == '-', r == ':', r == '?':
			if elems++; elems > maxElements {
				l.add(Pos{line, col}, "", "more than %d YAML lines and items; an inventory is far smaller (is this the right file?)", maxElements)
				return false
			}
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return true
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a yaml.v3 parse error into a positioned one. yaml.v3
// gives a line but no column; its depth error gives neither, so the
// position is found by scanning for the first bracket that goes too deep.
func yamlError(l *errList, src []byte, err error) {
	msg := err.Error()
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		l.add(Pos{n, 1}, "", "YAML syntax: %s", m[2])
		return
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if strings.Contains(msg, "exceeded max depth") {
		l.add(deepPos(src), "", "nesting deeper than %d levels", maxDepth)
		return
	}
	l.add(Pos{1, 1}, "", "YAML syntax: %s", msg)
}

// deepPos is where flow brackets first nest deeper than yaml.v3 allows,
// ignoring quoting (the parser has already said the file is too deep).
func deepPos(src []byte) Pos {
	line, col, depth := 1, 1, 0
	for _, c := range string(src) {
		switch c {
		case '[', '{':
			if depth++; depth > yamlMaxDepth {
				return Pos{line, col}
			}
		case ']', '}':
			depth--
		case '\n':
			line, col = line+1, 0
		}
		col++
	}
	return Pos{1, 1}
}
