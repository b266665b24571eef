package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/omc-coop/omc"

// layers ranks every package of the module (by path, the longest listed
// prefix wins): a package imports only packages of a lower rank, so the
// arrows point down. A new package must be given a rank here.
var layers = map[string]int{
	// Leaves: no omc imports beyond other leaves.
	"internal/atomicfile": 0, "internal/redact": 0, "internal/shell": 0,
	"internal/testenv": 0, "internal/event": 0, "internal/golden": 0,
	"internal/rttproxy": 0, "usage/money": 0, "pool/bbbapi": 0, "internal/restic": 0,
	"providers/hcloud/fake": 0, "providers/robot/fake": 0,
	// The node model and the transports.
	"inventory": 1, "remote": 1, "pool": 1, "internal/sshtest": 1,
	// templates quotes with internal/shell.
	"templates": 1,
	// The engine, the provider interface, pool clients, rendering.
	"provision": 2, "providers": 2, "pool/scalelite": 2, "pool/fake": 2,
	"usage": 2, "internal/ui": 2,
	// Roles and provider implementations.
	"provision/roles": 3, "providers/hcloud": 3, "providers/local": 3,
	"providers/robot": 3, "providers/static": 3,
	// The application layer, then the command line, then programs.
	"fleet": 4,
	"cmd":   5,
	"":      6, "tools": 6, "bench": 6, "e2e": 6, ".ci": 6,
}

// apart lists domains that never import each other whatever their ranks:
// providers rent and reach machines, provision configures them, and
// neither knows the other (what both need, such as the port table, is in
// the node model).
var apart = [][2]string{
	{"providers", "provision"},
	{"provision", "providers"},
	{"internal/ui", "provision"},
	{"internal/ui", "providers"},
	{"internal/ui", "pool"},
}

// rank is the rank of package path p (relative to the module).
func rank(p string) (int, bool) {
	best, r, ok := -1, 0, false
	for prefix, n := range layers {
		if (prefix == "" && p == "") || (prefix != "" && (p == prefix || strings.HasPrefix(p, prefix+"/"))) {
			if len(prefix) > best {
				best, r, ok = len(prefix), n, true
			}
		}
	}
	return r, ok
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// violations checks imports (package -> omc packages it imports, all
// relative to the module) against the layers and returns what breaks them.
func violations(imports map[string][]string) []string {
	var out []string
	for p, deps := range imports {
		rp, ok := rank(p)
		if !ok {
			out = append(out, fmt.Sprintf("%q has no layer: add it to layers in layers_test.go", p))
			continue
		}
		for _, d := range deps {
			rd, ok := rank(d)
			if !ok {
				continue // reported as a package of its own
			}
			if rd >= rp {
				out = append(out, fmt.Sprintf("%q (layer %d) imports %q (layer %d): imports point down only", p, rp, d, rd))
			}
			for _, a := range apart {
				if under(p, a[0]) && under(d, a[1]) {
					out = append(out, fmt.Sprintf("%q imports %q: %s must not import %s", p, d, a[0], a[1]))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestImportsPointDown lists every package of the module with `go list`
// and fails on an import that points up (or sideways across apart
// domains). Only what ships counts: tests may reach across (E2E rigs).
func TestImportsPointDown(t *testing.T) {
	cmd := exec.Command("go", "list", "-json", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	imports := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var pkg struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&pkg); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		p := rel(pkg.ImportPath)
		imports[p] = nil
		for _, i := range pkg.Imports {
			if i == module || strings.HasPrefix(i, module+"/") {
				imports[p] = append(imports[p], rel(i))
			}
		}
	}
	if len(imports) < 20 {
		t.Fatalf("go list found %d packages; expected the whole module", len(imports))
	}
	for _, v := range violations(imports) {
		t.Error(v)
	}
}

func rel(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, module), "/") }

// TestViolations shows the checker refuses what the layers forbid.
func TestViolations(t *testing.T) {
	for _, c := range []struct {
		imports map[string][]string
		want    string // substring of the one violation; "" = none
	}{
		{map[string][]string{"cmd": {"provision", "internal/ui"}}, ""},
		{map[string][]string{"providers/hcloud": {"inventory", "providers"}}, ""},
		{map[string][]string{"inventory": {"provision"}}, "imports point down only"},
		{map[string][]string{"providers/hcloud": {"provision/roles"}}, "providers must not import provision"},
		{map[string][]string{"internal/ui": {"provision"}}, "imports point down only"},
		{map[string][]string{"provision/roles": {"providers/local"}}, "provision must not import providers"},
		{map[string][]string{"fleet": {"cmd"}}, "imports point down only"},
		{map[string][]string{"newpkg": nil}, "has no layer"},
		{map[string][]string{"provision/roles/sub": {"provision/roles"}}, "imports point down only"},
	} {
		got := violations(c.imports)
		if c.want == "" {
			if len(got) != 0 {
				t.Errorf("%v: got %v, want none", c.imports, got)
			}
			continue
		}
		if len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), c.want) {
			t.Errorf("%v: got %v, want one saying %q", c.imports, got, c.want)
		}
	}
}
