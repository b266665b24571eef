// Command gendocs writes omc's shell completions and man pages for the
// release archives and packages (GoReleaser's before hook):
//
//	go run ./tools/gendocs [-dir build]
//
// It writes DIR/completions/omc.bash, _omc (zsh) and omc.fish, and
// DIR/man/omc.1.gz plus one page per command (omc-up.1.gz, …), generated
// from the same command tree and help texts as omc --help; gzipped, as
// Debian's policy asks of installed pages, and man reads them so. Man page dates come
// from $SOURCE_DATE_EPOCH when set (GoReleaser sets it to the commit
// time), so a rebuild of a tag gives the same files.
package main

import (
	"bytes"
	"compress/gzip"
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
	if err := doc.GenManTree(root, &doc.GenManHeader{Title: "OMC", Section: "1", Source: "omc", Manual: "omc manual"}, man); err != nil {
		return err
	}
	pages, err := filepath.Glob(filepath.Join(man, "*.1"))
	if err != nil {
		return err
	}
	for _, p := range pages {
		if err := gzipFile(p); err != nil {
			return err
		}
	}
	return nil
}

// gzipFile replaces p by p.gz, with no name or time in the gzip header,
// so the same page gives the same bytes.
func gzipFile(p string) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	var z bytes.Buffer
	w, err := gzip.NewWriterLevel(&z, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(p+".gz", z.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Remove(p)
}
