// Command teardown removes every local host the test suite or the quick
// bench may have left in CI's dirs: hosts, mounts, network namespaces,
// the apt proxy. .ci/run calls it first (an interrupted earlier run may
// have left hosts) and on exit, also when tests fail.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/omc-coop/omc/providers/local"
)

func main() {
	dir := os.Getenv("OMC_LOCAL_DIR")
	if dir == "" {
		dir = "/var/cache/omc-test"
	}
	if err := local.Check(); err != nil {
		fmt.Println("teardown: nothing to do:", err)
		return
	}
	failed := false
	// The bench keeps its own provider dir (bench -work, default /var/tmp/omc-bench).
	for _, d := range []string{dir, filepath.Join("/var/tmp/omc-bench", "local")} {
		if _, err := os.Stat(d); err != nil {
			continue
		}
		p, err := local.New(local.Options{Dir: d, Stderr: os.Stderr})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			err = p.DeleteAll(ctx)
			cancel()
		}
		if err != nil {
			fmt.Println("teardown:", d+":", err)
			failed = true
			continue
		}
		fmt.Println("teardown: no local hosts left in", d)
	}
	if failed {
		os.Exit(1)
	}
}
