package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const editHead = `apiVersion: omc/v1
name: coop   # the co-op
groups:
  eu:
    provider: static
    roles: [bbb]
    pool: # Scalelite
      # the load balancer
      url: https://sl.example.org
      secret: env:OMC_T_LB
`

const editTail = `    nodes:
      - {name: bbb-1, address: 192.0.2.1}   # first
`

// SetTenant changes the list's lines only; comments and the rest of the
// file stay byte for byte.
func TestSetTenantEditsOnlyTheList(t *testing.T) {
	t.Setenv("OMC_T_LB", "x")
	for _, c := range []struct {
		name, list, add, remove string
	}{
		{"none", "", "      tenants: [new]\n", ""},
		{"null", "      tenants:   # members\n", "      tenants: [new]   # members\n", ""},
		{"flow", "      tenants: [a, b] # members\n", "      tenants: [a, b, new] # members\n", "      tenants: [b] # members\n"},
		{"block", "      tenants:\n        - a  # first\n        - b\n", "      tenants:\n        - a  # first\n        - b\n        - new\n", "      tenants:\n        - b\n"},
		{"one", "      tenants:\n        - a\n", "      tenants:\n        - a\n        - new\n", "      tenants: []\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "omc.yaml")
			write := func(list string) {
				if err := os.WriteFile(path, []byte(editHead+list+editTail), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			write(c.list)
			changed, err := SetTenant(path, "eu", "new", true)
			got, _ := os.ReadFile(path)
			want := editHead + c.add + editTail
			if c.name == "none" {
				// right under pool:, before the first key's comment
				want = strings.Replace(editHead, "    pool: # Scalelite\n", "    pool: # Scalelite\n"+c.add, 1) + editTail
			}
			if err != nil || !changed || string(got) != want {
				t.Fatalf("add: %v %v\n%s\nwant\n%s", changed, err, got, want)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
				t.Errorf("mode %v", fi.Mode())
			}
			if changed, err := SetTenant(path, "eu", "new", true); changed || err != nil {
				t.Errorf("a second add: %v %v", changed, err)
			}
			if c.remove == "" {
				return
			}
			write(c.list)
			changed, err = SetTenant(path, "eu", "a", false)
			got, _ = os.ReadFile(path)
			if err != nil || !changed || string(got) != editHead+c.remove+editTail {
				t.Fatalf("remove: %v %v\n%s", changed, err, got)
			}
			if changed, err := SetTenant(path, "eu", "a", false); changed || err != nil {
				t.Errorf("a second remove: %v %v", changed, err)
			}
		})
	}
}

// What omc cannot edit safely is left alone, with what to do by hand.
func TestSetTenantRefusesWhatItCannotEdit(t *testing.T) {
	t.Setenv("OMC_T_LB", "x")
	for name, src := range map[string]string{
		"flow pool": strings.Replace(editHead, "    pool: # Scalelite\n      # the load balancer\n      url: https://sl.example.org\n      secret: env:OMC_T_LB\n",
			"    pool: {url: https://sl.example.org, secret: env:OMC_T_LB}\n", 1) + editTail,
		"multi-line flow": editHead + "      tenants: [a,\n        b]\n" + editTail,
		"anchor":          editHead + "      tenants: &t [a]\n" + editTail,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "omc.yaml")
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := SetTenant(path, "eu", "new", true)
			if err == nil || !strings.Contains(err.Error(), "cannot edit groups.eu.pool.tenants") || !strings.Contains(err.Error(), "add new to the list by hand") {
				t.Fatalf("err = %v", err)
			}
			if got, _ := os.ReadFile(path); string(got) != src {
				t.Fatalf("the file changed:\n%s", got)
			}
		})
	}
	if _, err := SetTenant("-", "eu", "new", true); err == nil || !strings.Contains(err.Error(), "stdin") {
		t.Fatalf("stdin: %v", err)
	}
}
