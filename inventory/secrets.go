package inventory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Secrets are references, env:NAME or file:PATH, resolved once by Load so
// that a missing one fails before anything is touched. The values are
// only reachable through Secret, SecretValues and Secret.Value; messages
// name the secret, the variable or path and the position, never the value.
//
// No encrypted file format (sops, age, ansible-vault) is supported yet.

// Secret returns the resolved value of the named secret.
func (inv *Inventory) Secret(name string) (string, bool) {
	s, ok := inv.Secrets[name]
	if !ok || !s.set {
		return "", false
	}
	return s.value, true
}

// MissingSecrets reports every declared secret (and group token) whose
// value could not be read, as FILE:LINE:COL errors naming the variable or
// file, or nil when all are set. Load does not fail on them, so that a run
// on one group does not need another group's secrets.
func (inv *Inventory) MissingSecrets() error {
	if len(inv.missing) == 0 {
		return nil
	}
	return &Errors{List: inv.missing}
}

// SecretError explains why Secret(name) is not available: undeclared, or
// declared but unreadable (with the reference and position, never a value).
func (inv *Inventory) SecretError(name string) error {
	s, ok := inv.Secrets[name]
	if !ok {
		return fmt.Errorf("no secret named %q in the inventory", name)
	}
	for _, e := range inv.missing {
		if e.Pos == s.Pos {
			return e
		}
	}
	return fmt.Errorf("secret %q (%s) is not set", name, s.Ref)
}

// SecretValues returns every resolved secret value, group tokens
// included, so that output and logs can redact them.
func (inv *Inventory) SecretValues() []string {
	var vals []string
	for _, s := range inv.Secrets {
		if s.set {
			vals = append(vals, s.value)
		}
	}
	for _, g := range inv.Groups {
		if g.Token != nil && g.Token.set {
			vals = append(vals, g.Token.value)
		}
		if g.Pool != nil && g.Pool.Secret != nil && g.Pool.Secret.set {
			vals = append(vals, g.Pool.Secret.value)
		}
		for _, r := range []*Secret{g.RobotUser, g.RobotPassword} {
			if r != nil && r.set {
				vals = append(vals, r.value)
			}
		}
	}
	sort.Strings(vals)
	return vals
}

// Value is the resolved secret ("" before Load resolved it).
func (s Secret) Value() string { return s.value }

// IsSet reports whether Load resolved the secret.
func (s Secret) IsSet() bool { return s.set }

// String, GoString and MarshalText show the reference, so that printing,
// logging or marshalling a Secret cannot leak its value.
func (s Secret) String() string               { return s.Ref }
func (s Secret) GoString() string             { return "inventory.Secret(" + s.Ref + ")" }
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.Ref), nil }

// resolveSecrets reads every well-formed reference; the decoder has
// already reported the malformed ones.
func resolveSecrets(l *errList, inv *Inventory, dir string) {
	for _, name := range sortedKeys(inv.Secrets) {
		s := inv.Secrets[name]
		if s.Kind == "" {
			continue
		}
		resolve(l, &s, join("secrets", name), dir)
		inv.Secrets[name] = s
	}
	for _, g := range inv.Groups {
		if g.Token != nil && g.Token.Kind != "" {
			resolve(l, g.Token, join(join("groups", g.Name), "token"), dir)
		}
		if g.Pool != nil && g.Pool.Secret != nil && g.Pool.Secret.Kind != "" {
			resolve(l, g.Pool.Secret, join(join(join("groups", g.Name), "pool"), "secret"), dir)
		}
		if g.RobotUser != nil && g.RobotUser.Kind != "" {
			resolve(l, g.RobotUser, join(join("groups", g.Name), "robot_user"), dir)
		}
		if g.RobotPassword != nil && g.RobotPassword.Kind != "" {
			resolve(l, g.RobotPassword, join(join("groups", g.Name), "robot_password"), dir)
		}
	}
}

func resolve(l *errList, s *Secret, path, dir string) {
	switch s.Kind {
	case "env":
		v, ok := os.LookupEnv(s.Arg)
		switch {
		case !ok:
			l.add(s.Pos, path, "environment variable %s is not set", s.Arg)
			return
		case v == "":
			l.add(s.Pos, path, "environment variable %s is empty", s.Arg)
			return
		}
		s.value = v
	case "file":
		name := expandHome(s.Arg)
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		b, err := readSmall(name, maxSecretSize)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			l.add(s.Pos, path, "cannot read %s (%s): %v", s.Ref, name, err)
			return
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			l.add(s.Pos, path, "%s (%s) is empty", s.Ref, name)
			return
		}
		s.value = v
	}
	s.set = true
}

// expandHome replaces a leading ~/ with the home directory.
func expandHome(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	return filepath.Join(home, p[1:])
}

// Placeholder is the value UsePlaceholders gives a secret that is not set.
const Placeholder = "omc-placeholder-for-an-unset-secret"

// UsePlaceholders gives every declared secret whose value could not be
// read the value Placeholder, so that steps can be built and templates
// rendered without the secrets (omc validate in a CI lint job has none).
// It returns what MissingSecrets returned before, for warnings; after it,
// MissingSecrets is nil. Only for checking: never converge with it.
func (inv *Inventory) UsePlaceholders() error {
	missing := inv.MissingSecrets()
	if missing == nil {
		return nil
	}
	fill := func(s *Secret) {
		if s != nil && s.Kind != "" && !s.set {
			s.value, s.set = Placeholder, true
		}
	}
	for name, s := range inv.Secrets {
		fill(&s)
		inv.Secrets[name] = s
	}
	for _, g := range inv.Groups {
		fill(g.Token)
		if g.Pool != nil {
			fill(g.Pool.Secret)
		}
		fill(g.RobotUser)
		fill(g.RobotPassword)
	}
	inv.missing = nil
	return missing
}
