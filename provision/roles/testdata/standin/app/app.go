// Command app is the STAND-IN for the Docker images of Greenlight, the
// LTI broker, its rooms app, PostgreSQL and Redis in omc's E2E tests (no
// image can be pulled there). Each image is this one static binary, built
// FROM scratch and tagged with the real image's name, so the compose
// files omc writes run unchanged.
//
// As a service it listens on $PORT (default 3000) and answers every HTTP
// request with "$STANDIN_NAME PATH" and an X-Backend header, or, with
// STANDIN_TCP set (PostgreSQL, Redis), only accepts connections.
//
// Run as "bundle exec rake TASK" (docker compose exec broker bundle exec
// rake ...), it is the LTI broker's rake tasks that omc's registration
// calls (testdata/upstream/lti lists them), with upstream's exit codes,
// keeping its records under /var/lib/standin; "standin:dump" prints them.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

const state = "/var/lib/standin"

func main() {
	if filepath.Base(os.Args[0]) == "bundle" {
		os.Exit(rake(os.Args[1:]))
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	name := os.Getenv("STANDIN_NAME")
	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("STAND-IN %s listening on %s\n", name, port)
	if os.Getenv("STANDIN_TCP") != "" {
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(1)
			}
			c.Close()
		}
	}
	http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		fmt.Fprintf(w, "%s %s\n", name, r.URL.Path)
	}))
}

func rake(args []string) int {
	if len(args) != 3 || args[0] != "exec" || args[1] != "rake" {
		fmt.Println("STAND-IN: only bundle exec rake TASK")
		return 1
	}
	task, list, _ := strings.Cut(args[2], "[")
	a := strings.Split(strings.TrimSuffix(list, "]"), ",")
	arg := func(i int) string {
		if i < len(a) {
			return a[i]
		}
		return ""
	}
	os.MkdirAll(state, 0o700)
	rec := func(kind, name string) string { return filepath.Join(state, kind+"-"+name) }
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	write := func(p, v string) { os.WriteFile(p, []byte(v+"\n"), 0o600) }
	switch task {
	case "db:seed":
		write(filepath.Join(state, "tenant"), "")
	case "apps:show":
		if !exists(rec("app", arg(0))) {
			fmt.Printf("App '%s' does not exist, it can not be shown\n", arg(0))
			return 1
		}
	case "apps:add":
		if exists(rec("app", arg(0))) {
			fmt.Printf("App '%s' already exists, it can not be added\n", arg(0))
			return 1
		}
		write(rec("app", arg(0)), strings.Join(a[1:], " "))
	case "apps:update":
		if !exists(rec("app", arg(0))) {
			fmt.Printf("App '%s' does not exist, it can not be updated\n", arg(0))
			return 1
		}
		write(rec("app", arg(0)), strings.Join(a[1:], " "))
	case "key:new":
		if !exists(filepath.Join(state, "tenant")) {
			fmt.Println("undefined method 'uid' for nil")
			return 1
		}
		if exists(rec("key", arg(0))) {
			fmt.Printf("Key '%s' already exists, it can not be added\n", arg(0))
			return 1
		}
		write(rec("key", arg(0)), arg(1))
	case "key:update":
		if !exists(rec("key", arg(0))) {
			fmt.Printf("Key '%s' does not exist, it can not be updated\n", arg(0))
			return 1
		}
		write(rec("key", arg(0)), arg(1))
	case "standin:dump":
		entries, _ := os.ReadDir(state)
		var out []string
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(state, e.Name()))
			out = append(out, e.Name()+" "+strings.TrimSpace(string(b)))
		}
		sort.Strings(out)
		fmt.Println(strings.Join(out, "\n"))
	default:
		fmt.Printf("Don't know how to build task '%s'\n", task)
		return 1
	}
	return 0
}
