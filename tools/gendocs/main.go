// Command gendocs writes omc's shell completions and man pages for the
// release archives and packages (GoReleaser's before hook):
//
//	go run ./tools/gendocs [-dir build]
//
// It writes DIR/completions/omc.bash, _omc (zsh) and omc.fish, and
// DIR/man/omc.1 plus one page per command (omc-up.1, …), generated from
// the same command tree and help texts as omc --help. Man page dates come
// from $SOURCE_DATE_EPOCH when set (GoReleaser sets it to the commit
// time), so a rebuild of a tag gives the same files.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra/doc"

	"github.com/omc-coop/omc/cmd"
	"github.com/omc-coop/omc/internal/ui"
)

func main() {
	dir := flag.String("dir", "build", "directory to write completions/ and man/ into")
	flag.Parse()
	if err := generate(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func generate(dir string) error {
	comp := filepath.Join(dir, "completions")
	man := filepath.Join(dir, "man")
	// Old pages of renamed commands must not linger in the packages.
	for _, d := range []string{comp, man} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for shell, name := range map[string]string{"bash": "omc.bash", "zsh": "_omc", "fish": "omc.fish"} {
		var out, errb bytes.Buffer
		s := &ui.Streams{In: &bytes.Buffer{}, Out: &out, Err: &errb}
		if code := cmd.Main(s, []string{"completion", shell}); code != 0 {
			return fmt.Errorf("omc completion %s: exit %d: %s", shell, code, errb.String())
		}
		if err := os.WriteFile(filepath.Join(comp, name), out.Bytes(), 0o644); err != nil {
			return err
		}
	}
	root := cmd.Root()
	root.DisableAutoGenTag = true
	return doc.GenManTree(root, &doc.GenManHeader{Title: "OMC", Section: "1", Source: "omc", Manual: "omc manual"}, man)
}
