// Command teardown removes every local host the test suite may have left
// in CI's cache dir: hosts, mounts, network namespaces, the apt proxy.
// .ci/run calls it on exit, also when tests fail.
package main

import (
	"context"
	"fmt"
	"os"
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
	p, err := local.New(local.Options{Dir: dir, Stderr: os.Stderr})
	if err != nil {
		fmt.Println("teardown:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := p.DeleteAll(ctx); err != nil {
		fmt.Println("teardown:", err)
		os.Exit(1)
	}
	fmt.Println("teardown: no local hosts left in", dir)
}
