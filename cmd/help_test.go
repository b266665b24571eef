package cmd

import (
	"io"
	"strings"
	"testing"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/omc-coop/omc/internal/ui"
)

// TestHelpStyle walks the command tree: every runnable command shows an
// example (indented, as cobra prints it under "Examples:"), Short lines
// read alike (capital first, no final period), and
// no help text sends users to go doc or the README, which people who
// installed a package do not have.
func TestHelpStyle(t *testing.T) {
	root := newRoot(&ui.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
	// cobra adds its help command when run; build it the same way.
	root.InitDefaultHelpCmd()
	n := 0
	walk(root, func(c *cobra.Command) {
		n++
		path := c.CommandPath()
		if c.Runnable() && c.Example == "" && c.Name() != "help" && !groupOnly(c) {
			t.Errorf("%s: no Example", path)
		}
		if c.Short == "" {
			t.Errorf("%s: no Short", path)
		} else {
			if r := []rune(c.Short)[0]; !unicode.IsUpper(r) {
				t.Errorf("%s: Short %q does not start with a capital", path, c.Short)
			}
			if strings.HasSuffix(c.Short, ".") {
				t.Errorf("%s: Short %q ends with a period", path, c.Short)
			}
		}
		for _, line := range strings.Split(c.Example, "\n") {
			if line != "" && !strings.HasPrefix(line, "  ") {
				t.Errorf("%s: example line %q is not indented by two spaces like the others", path, line)
			}
		}
		if c.Example != "" && !strings.Contains(c.Example, "omc ") {
			t.Errorf("%s: the example never runs omc", path)
		}
		texts := []string{c.Short, c.Long, c.Example}
		c.Flags().VisitAll(func(f *pflag.Flag) { texts = append(texts, f.Usage) })
		for _, s := range texts {
			for _, bad := range []string{"go doc", "README"} {
				if strings.Contains(s, bad) {
					t.Errorf("%s: help text mentions %q: %q", path, bad, s)
				}
			}
		}
	})
	if n < 30 {
		t.Fatalf("walked only %d commands", n)
	}
}

// groupOnly: a command with subcommands whose only action is refusing
// to run without one (needSubcommand).
func groupOnly(c *cobra.Command) bool { return c.HasSubCommands() && c.HasParent() }

// The settings reference the help texts point to is there without the
// source: omc help settings and omc settings print it.
func TestHelpSettingsTopic(t *testing.T) {
	isolate(t)
	for _, args := range [][]string{{"help", "settings"}, {"settings"}} {
		out, errb, code := run(t, "", args...)
		if code != 0 || !strings.Contains(out, "bbb_version:") || !strings.Contains(out, "backup:") {
			t.Errorf("omc %s: exit %d (%s), output lacks the settings reference:\n%.300s", strings.Join(args, " "), code, errb, out)
		}
	}
}
