package fake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/bbbapi"
)

// This file is the FAKE of Scalelite's rake tasks (lib/tasks/servers.rake
// and tenants.rake of Scalelite 1.8), as omc's api: rake runs them:
// `docker exec CONTAINER bundle exec rake TASK[ARGS]`. They work on the
// same state as the FAKE JSON API, so a test can mix both, and count as
// its writes. Output follows the tasks: listings as `id: X` records with
// tab-indented fields, errors on stderr with exit 1, Rails log lines on
// stdout (RAILS_LOG_TO_STDOUT, as in Scalelite's images), and
// servers:disable on a loaded server aborting as it does without a
// terminal ($stdin.gets is nil).
//
// Three ways in: Rake (in process), RakeRunner (a scalelite.Runner), and
// StandInDocker, an executable `docker` for a real sshd's shell.

// SetRakeContainer names the API container `docker exec` must be given
// (default scalelite-api); any other gets docker's "No such container".
func (s *Scalelite) SetRakeContainer(name string) { s.mu.Lock(); s.rakeContainer = name; s.mu.Unlock() }

// RakeCalls returns every argument list Rake was given (without the
// docker program itself), in order.
func (s *Scalelite) RakeCalls() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]string, len(s.rakeCalls))
	for i, c := range s.rakeCalls {
		out[i] = append([]string(nil), c...)
	}
	return out
}

// SetLoad sets a server's load as if the poller had measured it (and
// takes it online), for tests without BBB nodes.
func (s *Scalelite) SetLoad(id string, load float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sv := s.find(id); sv != nil {
		sv.load, sv.online = &load, true
	}
}

// RakeRunner runs the FAKE rake tasks in process: its Run has
// scalelite.Runner's signature; argv[0] is the docker program.
type RakeRunner struct{ Scalelite *Scalelite }

// Run answers argv as `docker exec … rake TASK` would.
func (r RakeRunner) Run(_ context.Context, argv []string) ([]byte, []byte, int, error) {
	if len(argv) == 0 {
		return nil, []byte("fake docker: no command\n"), 127, nil
	}
	out, errOut, code := r.Scalelite.Rake(argv[1:])
	return []byte(out), []byte(errOut), code, nil
}

// parseRakeTask splits TASK[ARGS] as rake does (Rake::Application
// #parse_task_string): arguments at commas, surrounding spaces trimmed,
// a backslash escapes the next character, an empty argument (also a
// trailing one) is "".
func parseRakeTask(s string) (string, []string) {
	m := regexp.MustCompile(`^([^\[]+)(?:\[(.*)\])$`).FindStringSubmatch(s)
	if m == nil {
		return s, nil
	}
	name, rest := m[1], m[2]
	if rest == "" {
		return name, nil
	}
	var args []string
	for {
		var b strings.Builder
		i := 0
		for ; i < len(rest) && rest[i] != ','; i++ {
			if rest[i] == '\\' && i+1 < len(rest) {
				i++
			}
			b.WriteByte(rest[i])
		}
		args = append(args, strings.TrimSpace(b.String()))
		if i >= len(rest) {
			return name, args
		}
		rest = rest[i+1:]
	}
}

// rubyFloat prints f as Ruby prints a Float (6.0, 2.5).
func rubyFloat(f float64) string {
	if f == float64(int64(f)) {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// bigDecimal prints f as Ruby prints a BigDecimal (0.2e1 for 2, 0.15e1
// for 1.5): the load multiplier is one.
func bigDecimal(f float64) string {
	if f == 0 {
		return "0.0"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // 1.5e+00
	mant, exp, _ := strings.Cut(e, "e")
	n, _ := strconv.Atoi(exp)
	digits := strings.TrimRight(strings.Replace(mant, ".", "", 1), "0")
	if digits == "" {
		digits = "0"
	}
	return fmt.Sprintf("%s0.%se%d", sign, digits, n+1)
}

// toD is Ruby's String#to_d: the leading number, 0 when there is none.
func toD(s string) float64 {
	m := regexp.MustCompile(`^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?`).FindString(s)
	f, _ := strconv.ParseFloat(strings.TrimSpace(m), 64)
	return f
}

// Rake runs one `docker exec CONTAINER bundle exec rake TASK[ARGS]`
// (args without the docker program) on the fake's state and returns
// what it prints and its exit code.
func (s *Scalelite) Rake(args []string) (stdout, stderr string, exitCode int) {
	s.mu.Lock()
	s.rakeCalls = append(s.rakeCalls, append([]string(nil), args...))
	container := s.rakeContainer
	if container == "" {
		container = "scalelite-api"
	}
	s.mu.Unlock()
	if len(args) >= 2 && args[0] == "exec" && strings.HasPrefix(args[1], "-") {
		return "", "FAKE docker: omc must run docker exec without -i or -t (got " + args[1] + ")\n", 2
	}
	if len(args) != 6 || args[0] != "exec" || strings.Join(args[2:5], " ") != "bundle exec rake" {
		return "", fmt.Sprintf("FAKE docker: expected exec CONTAINER bundle exec rake TASK, got %q\n", args), 2
	}
	if args[1] != container {
		return "", "Error response from daemon: No such container: " + args[1] + "\n", 1
	}
	task, targs := parseRakeTask(args[5])
	arg := func(i int) (string, bool) {
		if i < len(targs) {
			return targs[i], true
		}
		return "", false
	}
	var out, errb strings.Builder
	logLine := func(msg string) {
		fmt.Fprintf(&out, "I, [%s #1]  INFO -- : %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000000"), msg)
	}
	notFound := func(id string) (string, string, int) {
		return out.String(), "ERROR: No server found with id: " + id + "\n", 1
	}
	aborted := func(msg string) (string, string, int) {
		return out.String(), "rake aborted!\n" + msg + "\n", 1
	}

	if strings.HasPrefix(task, "tenants") {
		s.mu.Lock()
		mt := s.multitenancy
		s.mu.Unlock()
		if !mt {
			return "", "Multitenancy is disabled, task can not be completed\n", 1
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, _ := arg(0)
	switch task {
	case "servers":
		if len(s.servers) == 0 {
			errb.WriteString("No servers are configured\n")
		}
		for _, sv := range s.servers {
			load := "unavailable"
			if sv.load != nil {
				load = rubyFloat(*sv.load)
			}
			online := "offline"
			if sv.online {
				online = "online"
			}
			fmt.Fprintf(&out, "id: %s\n\turl: %s\n\tsecret: %s\n\t%s\n\tload: %s\n\tload multiplier: %s\n\tbbb version: %s\n\ttag: %s\n\t%s\n",
				sv.id, sv.url, sv.secret, sv.state, load, bigDecimal(sv.multiplier), sv.version, sv.tag, online)
		}
	case "servers:add":
		u, okU := arg(0)
		sec, okS := arg(1)
		if !okU || !okS {
			return "", "Error: Please input at least a URL and a secret!\n", 1
		}
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return "", "Error: Server URL must start with http:// or https://\n", 1
		}
		logLine("Adding server " + u + "...")
		lm := 1.0
		if v, ok := arg(2); ok {
			if lm = toD(v); lm == 0 {
				lm = 1
			}
		}
		tag, _ := arg(3)
		// No check for an existing URL: Scalelite adds a duplicate.
		sv := &server{id: uuid(), url: u, secret: sec, tag: tag, state: pool.Disabled, multiplier: lm}
		s.servers = append(s.servers, sv)
		s.writes++
		fmt.Fprintf(&out, "OK\nid: %s\n", sv.id)
	case "servers:update", "servers:tag", "servers:enable", "servers:cordon", "servers:disable", "servers:remove", "servers:panic", "servers:loadMultiplier":
		sv := s.find(id)
		if sv == nil {
			return notFound(id)
		}
		switch task {
		case "servers:update":
			logLine("Updating server " + id + "...")
			if v, ok := arg(1); ok {
				sv.secret = v
			}
			if v, ok := arg(2); ok {
				if sv.multiplier = toD(v); sv.multiplier == 0 {
					sv.multiplier = 1
				}
			}
			if v, ok := arg(3); ok {
				sv.tag = v
			}
		case "servers:loadMultiplier":
			v, _ := arg(1)
			if sv.multiplier = toD(v); sv.multiplier == 0 {
				sv.multiplier = 1
			}
		case "servers:tag":
			sv.tag, _ = arg(1)
		case "servers:enable":
			logLine("Enabling server " + id + "...")
			sv.state = pool.Enabled
		case "servers:cordon":
			logLine("Cordoning server " + id + "...")
			sv.state = pool.Cordoned
		case "servers:disable":
			logLine("Disabling server " + id + "...")
			if sv.load != nil && *sv.load > 0 {
				out.WriteString("WARNING: You are trying to disable a server with active load. You should use the cordon option if\n" +
					"          you do not want to clear all the meetings\nIf you still wish to continue please enter `yes`\n")
				// No terminal: $stdin.gets is nil.
				return aborted("NoMethodError: undefined method `chomp' for nil:NilClass")
			}
			sv.state = pool.Disabled
		case "servers:remove":
			logLine("Removing server " + id + "...")
			for i, x := range s.servers {
				if x == sv {
					s.servers = append(s.servers[:i], s.servers[i+1:]...)
					break
				}
			}
		case "servers:panic":
			logLine("Panicking server " + id + "...")
			// Rake hands over strings, and the task tests for presence:
			// any keep_state given, even "false" or "", keeps the state.
			_, keep := arg(1)
			_, skipEnd := arg(2)
			if !skipEnd {
				c := &bbbapi.Client{URL: sv.url, Secret: sv.secret, HTTP: &http.Client{Timeout: 5 * time.Second}}
				s.mu.Unlock()
				s.endTracked(context.Background(), c, sv.id)
				s.mu.Lock()
			}
			if !keep {
				sv.state = pool.Disabled
			}
		}
		s.writes++
		out.WriteString("OK\n")
	case "tenants":
		for _, t := range s.tenants {
			fmt.Fprintf(&out, "id: %s\n\tname: %s\n\tsecrets: %s\n", t.id, t.name, t.secrets)
		}
		fmt.Fprintf(&out, "Total number of tenants: %d\n", len(s.tenants))
	case "tenants:add":
		name, _ := arg(0)
		sec, _ := arg(1)
		if name == "" || sec == "" {
			return "", "Error: both name and secrets are required to create a Tenant\n", 1
		}
		for _, t := range s.tenants {
			if t.name == name {
				// Tenant.create! on a taken name (the wording is the fake's).
				return aborted("ApplicationRedisRecord::RecordInvalid: Name has already been taken")
			}
		}
		t := &tenant{id: uuid(), name: name, secrets: sec}
		s.tenants = append(s.tenants, t)
		s.writes++
		fmt.Fprintf(&out, "OK\nNew Tenant id: %s\n", t.id)
	case "tenants:update", "tenants:remove":
		name, _ := arg(1)
		sec, _ := arg(2)
		if task == "tenants:update" && (id == "" || (name == "" && sec == "")) {
			return "", "Error: id and either name or secrets are required to update a Tenant\n", 1
		}
		ti := -1
		for i, t := range s.tenants {
			if t.id == id {
				ti = i
			}
		}
		if ti < 0 {
			return aborted("ApplicationRedisRecord::RecordNotFound: Couldn't find Tenant with id=" + id)
		}
		t := s.tenants[ti]
		s.writes++
		if task == "tenants:remove" {
			s.tenants = append(s.tenants[:ti], s.tenants[ti+1:]...)
			out.WriteString("Tenant was successfully deleted.\n")
			break
		}
		if name != "" {
			t.name = name
		}
		if sec != "" {
			t.secrets = sec
		}
		fmt.Fprintf(&out, "OK\nUpdated Tenant id: %s\n", t.id)
	default:
		return aborted("Don't know how to build task '" + task + "' (See the list of available tasks with `rake --tasks`)")
	}
	return out.String(), errb.String(), 0
}

// rakeRequest and rakeResponse are the stand-in docker's exchange with
// the fake (POST /_fake/rake).
type rakeRequest struct {
	Args []string `json:"args"`
}

type rakeResponse struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Code   int    `json:"code"`
}

func (s *Scalelite) serveRake(w http.ResponseWriter, r *http.Request) {
	var req rakeRequest
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "POST a JSON {args}", http.StatusBadRequest)
		return
	}
	var resp rakeResponse
	resp.Stdout, resp.Stderr, resp.Code = s.Rake(req.Args)
	writeJSON(w, http.StatusOK, resp)
}

// rakeStandInEnv carries the fake's address to the stand-in process.
const rakeStandInEnv = "OMC_FAKE_RAKE_URL"

var rakeStandInReady atomic.Bool

// RakeStandIn makes the running test binary the FAKE docker that
// StandInDocker installs. Call it from an init function of a test file
// of each package that uses StandInDocker (an init, so it runs before
// any TestMain). In the test process it only notes that it was called;
// in a process the stand-in docker started it hands the arguments to the
// fake, prints the task's output and exits with its code.
func RakeStandIn() {
	rakeStandInReady.Store(true)
	u := os.Getenv(rakeStandInEnv)
	if u == "" {
		return
	}
	b, _ := json.Marshal(rakeRequest{Args: os.Args[1:]})
	hc := &http.Client{Timeout: 60 * time.Second}
	resp, err := hc.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAKE docker:", err)
		os.Exit(125)
	}
	var rr rakeResponse
	err = json.NewDecoder(resp.Body).Decode(&rr)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "FAKE docker: bad answer from the fake:", resp.Status, err)
		os.Exit(125)
	}
	os.Stdout.WriteString(rr.Stdout)
	os.Stderr.WriteString(rr.Stderr)
	os.Exit(rr.Code)
}

// StandInDocker writes an executable `docker` into dir for a real sshd's
// shell on this machine and returns its path: a FAKE that runs this test
// binary (see RakeStandIn), which hands its arguments to the fake's rake
// tasks over 127.0.0.1 and answers with their output and exit code. The
// test fails when RakeStandIn was not called from an init function.
func (s *Scalelite) StandInDocker(t testing.TB, dir string) string {
	t.Helper()
	if !rakeStandInReady.Load() {
		t.Fatal("fake.StandInDocker: call fake.RakeStandIn() from an init function of the package's tests")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\n# FAKE docker for tests (pool/fake): Scalelite's rake tasks on the fake's state.\n" +
		rakeStandInEnv + "=" + shell.Quote(s.URL+"/_fake/rake") + " exec " + shell.Quote(exe) + " \"$@\"\n"
	p := filepath.Join(dir, "docker")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
