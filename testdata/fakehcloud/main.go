// Command fakehcloud serves omc's FAKE of the Hetzner Cloud API on
// loopback, so `omc plan` and `omc up` can be tried by hand without an
// account. It is not the real service (see providers/hcloud/fake).
//
//	go run ./testdata/fakehcloud -zone example.org
//	# then, in another shell, paste the two lines it prints:
//	export HCLOUD_ENDPOINT=http://127.0.0.1:PORT/v1
//	export HCLOUD_TOKEN=fake-…
//
// Servers get addresses in 127.77.0.0/16: SSH to them reaches this
// machine's loopback, and omc refuses the host key it does not expect.
// State lives in memory and is gone when the command stops.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/omc-coop/omc/providers/hcloud/fake"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	token := flag.String("token", "", "token to accept (default: a random one, printed)")
	zones := flag.String("zone", "", "comma-separated DNS zones to create at start")
	polls := flag.Int("action-polls", 2, "polls before an action finishes")
	verbose := flag.Bool("v", false, "log every request to stderr")
	flag.Parse()

	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("fakehcloud: -addr must be a loopback address, got %q", *addr)
	}
	if *token == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		*token = "fake-" + hex.EncodeToString(b)
	}
	f := fake.New(*token)
	f.ActionPolls = *polls
	for _, z := range strings.Split(*zones, ",") {
		if z = strings.TrimSpace(z); z != "" {
			f.AddZone(z)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("fakehcloud: %v", err)
	}
	fmt.Printf("HCLOUD_ENDPOINT=http://%s/v1\n", ln.Addr())
	fmt.Printf("HCLOUD_TOKEN=%s\n", *token)

	var h http.Handler = f
	if *verbose {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.ServeHTTP(w, r)
			calls := f.Calls()
			c := calls[len(calls)-1]
			log.Printf("%s %s %d", c.Method, c.Path, c.Status)
		})
	}
	go func() {
		if err := http.Serve(ln, h); err != nil {
			log.Fatalf("fakehcloud: %v", err)
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}
