package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/golden"
)

// loadString parses an inline inventory named "t.yaml" in the test's directory.
func loadString(t *testing.T, src string) (*Inventory, error) {
	t.Helper()
	return LoadReader("t.yaml", strings.NewReader(src))
}

func mustLoad(t *testing.T, src string) *Inventory {
	t.Helper()
	inv, err := loadString(t, src)
	if err != nil {
		t.Fatalf("unexpected error:\n%v", err)
	}
	return inv
}

const minimal = "apiVersion: omc/v1\nname: coop\ngroups:\n"

func TestLoadValid(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, inv *Inventory)
	}{
		{"no groups", minimal + "  {}\n", func(t *testing.T, inv *Inventory) {
			if len(inv.Groups) != 0 || len(inv.Nodes()) != 0 {
				t.Errorf("groups %v", inv.Groups)
			}
		}},
		{"groups keep file order and positions", minimal + "  zz:\n    provider: local\n  aa:\n    provider: local\n", func(t *testing.T, inv *Inventory) {
			if inv.Groups[0].Name != "zz" || inv.Groups[1].Name != "aa" {
				t.Errorf("order %s, %s", inv.Groups[0].Name, inv.Groups[1].Name)
			}
			if p := inv.Groups[1].Pos; p != (Pos{6, 3}) {
				t.Errorf("aa at %v, want 6:3", p)
			}
		}},
		{"numbers where strings are meant keep their text", minimal + "  g:\n    provider: local\n    count: 1\n    name: g-{n}\n    steps:\n      - file: {path: /x, content: '', mode: 0640}\n      - sysctl: {name: vm.swappiness, value: 10}\n", func(t *testing.T, inv *Inventory) {
			st := inv.Groups[0].Steps
			if st[0].File.Mode != "0640" || st[1].Sysctl.Value != "10" {
				t.Errorf("mode %q value %q", st[0].File.Mode, st[1].Sysctl.Value)
			}
			if st[0].Pos != (Pos{9, 9}) {
				t.Errorf("step at %v, want 9:9", st[0].Pos)
			}
		}},
		{"anchors, merge keys and x- keys", "apiVersion: omc/v1\nname: coop\nx-base: &base\n  provider: local\n  image: debian-12\n  roles: [bbb]\ngroups:\n  a:\n    <<: *base\n    count: 1\n    name: a-{n}\n  b:\n    <<: *base\n    roles: [turn]\n    nodes: [{name: b1}]\n", func(t *testing.T, inv *Inventory) {
			a, b := inv.Group("a"), inv.Group("b")
			if a.Provider != "local" || a.Image != "debian-12" || a.Roles[0] != "bbb" {
				t.Errorf("a = %+v", a)
			}
			if b.Roles[0] != "turn" {
				t.Errorf("explicit key must win over merged: %v", b.Roles)
			}
		}},
		{"null values are absent", minimal + "  g:\n    provider: local\n    domain:\n    ssh:\n    nodes:\n      - name: n\n        roles:\n", func(t *testing.T, inv *Inventory) {
			if n := inv.Nodes()[0]; n.Domain != "" || n.Roles != nil {
				t.Errorf("node %+v", n)
			}
		}},
		{"ipv6 address and bracketed bastion", minimal + "  s:\n    provider: static\n    ssh: {bastion: 'ops@[2001:db8::1]:2222', port: 2200}\n    nodes: [{name: s1, address: '2001:db8::10', host_key: " + testHostKey + "}]\n", func(t *testing.T, inv *Inventory) {
			if n := inv.Nodes()[0]; n.Address != "2001:db8::10" || n.SSH.Port != 2200 {
				t.Errorf("node %+v", n)
			}
		}},
		{"robot group with address and counted names", minimal + "  r:\n    provider: robot\n    order: {product: EX44, location: FSN1}\n    count: 2\n    name: r{n}\n    domain: '{name}.example.org'\n", func(t *testing.T, inv *Inventory) {
			if got := inv.Nodes()[1].Domain; got != "r2.example.org" {
				t.Errorf("domain %q", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, mustLoad(t, tt.src)) })
	}
}

// testHostKey is a well-formed ed25519 public key (32 zero bytes).
const testHostKey = "'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'"

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"empty", "", "t.yaml:1:1: empty file"},
		{"only a comment", "# nothing\n", "t.yaml:1:1: empty file"},
		{"top level list", "- a\n", "t.yaml:1:1: expected a mapping, got a list"},
		{"unknown top key suggests", minimal + "  {}\ngrups: {}\n", `t.yaml:5:1: unknown field "grups" (did you mean "groups"?)`},
		{"duplicate group", minimal + "  g: {provider: local}\n  g: {provider: local}\n", "t.yaml:5:3: groups.g: duplicate key (first at line 4)"},
		{"duplicate settings key", minimal + "  {}\ndefaults:\n  settings:\n    swap: 1G\n    swap: 2G\n", "t.yaml:8:5: defaults.settings.swap: duplicate key (first at line 7)"},
		{"duplicate vars key", minimal + "  {}\ndefaults:\n  settings:\n    vars:\n      a: 1\n      a: 2\n", "t.yaml:9:7: defaults.settings.vars.a: duplicate key (first at line 8)"},
		{"required but null", "apiVersion: omc/v1\nname:\ngroups: {}\n", "t.yaml:2:6: name: required, got null"},
		{"merge key needs a mapping", minimal + "  g:\n    <<: 3\n    provider: local\n", "t.yaml:5:9: groups.g: merge key << needs a mapping or a list of mappings"},
		{"unsupported tag in settings", minimal + "  {}\ndefaults: {settings: {vars: {a: !vault xyz}}}\n", "t.yaml:5:33: defaults.settings.vars.a: unsupported tag !vault"},
		{"integer overflow", minimal + "  g: {provider: local, count: 99999999999999999999999, name: 'g{n}'}\n", `t.yaml:4:31: groups.g.count: "99999999999999999999999" is out of range`},
		{"negative count", minimal + "  g: {provider: local, count: -1, name: 'g{n}'}\n", "t.yaml:4:31: groups.g.count: must not be negative"},
		{"pattern gives bad names", minimal + "  g: {provider: local, count: 2, name: 'G-{n}'}\n", `t.yaml:4:40: groups.g.name: gives node name "G-1", which is not a lowercase DNS label`},
		{"bad bastion host", minimal + "  {}\ndefaults: {ssh: {bastion: 'a@b@c'}}\n", `defaults.ssh.bastion: "a@b@c" is not [user@]host[:port]`},
		{"domain of two nodes", minimal + "  s:\n    provider: static\n    nodes:\n      - {name: a, address: 192.0.2.1, domain: x.example.org}\n      - {name: b, address: 192.0.2.2, domain: x.example.org}\n",
			`t.yaml:8:47: groups.s.nodes[1].domain: "x.example.org" for node b is also the domain of node a (7:47)`},
		{"template secret", "apiVersion: omc/v1\nname: coop\ngroups: {}\ndefaults:\n  steps:\n    - file:\n        path: /x\n        content: |\n          ok\n          {{ secret \"seed\" }}\n", `t.yaml:10:11: defaults.steps[0].file.content: template: secret "seed" is not declared under secrets`},
		{"alias inside its own anchor", minimal + "  {}\ndefaults: {settings: {vars: {l: &l [1, *l]}}}\n", "t.yaml:5:40: defaults.settings.vars.l[1]: alias *l is inside its own anchor"},
		{"merge key inside its own mapping", minimal + "  {}\ndefaults: {settings: {vars: {m: &m {<<: *m}}}}\n", "t.yaml:5:41: defaults.settings.vars.m: merge key << includes the mapping it is in"},
		{"too many nodes", minimal + "  a: {provider: local, count: 600, name: 'a{n}'}\n  b: {provider: local, count: 600, name: 'b{n}'}\n", "t.yaml:5:6: groups.b: more than 1000 nodes in the inventory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadString(t, tt.src)
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want *Errors, got %T %v", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("errors:\n%v\nwant one containing:\n%s", err, tt.want)
			}
		})
	}
}

var errLine = regexp.MustCompile(`^testdata/[a-z-]+\.yaml:(\d+):(\d+): \S`)

// TestGolden pins the full error output for broken files: every problem
// at once, sorted, each FILE:LINE:COL. Regenerate with -update.
func TestGolden(t *testing.T) {
	t.Setenv("OMC_TEST_SEED", "x")
	t.Setenv("OMC_TEST_EMPTY", "")
	for _, v := range []string{"OMC_TEST_API", "OMC_TEST_SURELY_UNSET"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) < 8 {
		t.Fatalf("testdata: %v %v", files, err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			_, err := Load(file)
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want *Errors, got %T %v", err, err)
			}
			if name != "syntax" && len(errs.List) < 3 {
				t.Errorf("only %d errors; a broken file should report all of its problems", len(errs.List))
			}
			var last Pos
			for _, e := range errs.List {
				if !errLine.MatchString(e.Error()) {
					t.Errorf("not FILE:LINE:COL: message: %q", e.Error())
				}
				if e.Pos.Line < last.Line || e.Pos.Line == last.Line && e.Pos.Col < last.Col {
					t.Errorf("not sorted by position: %v after %v", e.Pos, last)
				}
				last = e.Pos
			}
			golden.AssertString(t, name+".golden", err.Error()+"\n")
		})
	}
}

// TestClearTextNeverEchoed: a secret written in clear is refused without
// the error repeating it.
func TestClearTextNeverEchoed(t *testing.T) {
	_, err := Load("testdata/clear-text-secret.yaml")
	if err == nil {
		t.Fatal("want an error")
	}
	for _, s := range []string{"hunter2", "s3cr3t", "123456"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error repeats the clear-text secret %q:\n%v", s, err)
		}
	}
	if n := strings.Count(err.Error(), "never clear text"); n != 3 {
		t.Errorf("%d clear-text errors, want 3:\n%v", n, err)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("OMC_INVENTORY", "")
	if got := DefaultPath(""); got != "omc.yaml" {
		t.Errorf("no flag, no env: %q", got)
	}
	t.Setenv("OMC_INVENTORY", "/etc/omc/fleet.yaml")
	if got := DefaultPath(""); got != "/etc/omc/fleet.yaml" {
		t.Errorf("env: %q", got)
	}
	if got := DefaultPath("x.yaml"); got != "x.yaml" {
		t.Errorf("flag beats env: %q", got)
	}
}

func TestLoadStdin(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		w.WriteString(minimal + "  g: {provider: locl}\n")
		w.Close()
	}()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old }()
	_, err = Load("-")
	if err == nil || !strings.HasPrefix(err.Error(), `<stdin>:4:17: groups.g.provider: "locl" is not a provider`) {
		t.Errorf("got %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	var errs *Errors
	if !errors.Is(err, os.ErrNotExist) || errors.As(err, &errs) {
		t.Errorf("want a plain not-exist error, got %T %v", err, err)
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	os.WriteFile(filepath.Join(dir, "home-secret"), []byte("from-home\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "rel-secret"), []byte("relative\r\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "token"), []byte("tok"), 0o600)
	t.Setenv("OMC_TEST_ENV_SECRET", "from-env")
	src := minimal + "  h:\n    provider: hcloud\n    location: fsn1\n    server_type: cx22\n    image: debian-12\n    token: file:token\n" +
		"secrets:\n  a: file:~/home-secret\n  b: file:rel-secret\n  c: env:OMC_TEST_ENV_SECRET\n"
	inv, err := LoadReader(filepath.Join(dir, "omc.yaml"), strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "from-home", "b": "relative", "c": "from-env"} {
		if got, ok := inv.Secret(name); !ok || got != want {
			t.Errorf("secret %s = %q, %v; want %q", name, got, ok, want)
		}
	}
	if _, ok := inv.Secret("nope"); ok {
		t.Error("an undeclared secret resolved")
	}
	if got := inv.Group("h").Token.Value(); got != "tok" {
		t.Errorf("token %q", got)
	}
	want := []string{"from-env", "from-home", "relative", "tok"}
	if got := inv.SecretValues(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("SecretValues = %v, want %v", got, want)
	}
	// Printing a secret shows its reference only.
	s := inv.Secrets["c"]
	for _, out := range []string{s.String(), s.GoString(), string(must(s.MarshalText()))} {
		if strings.Contains(out, "from-env") || !strings.Contains(out, "env:OMC_TEST_ENV_SECRET") {
			t.Errorf("secret printed as %q", out)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
