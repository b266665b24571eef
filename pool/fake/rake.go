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
// and tenants.rake), as omc's api: rake runs them:
// `docker exec CONTAINER bundle exec rake TASK[ARGS]`, and rake -T. They
// work on the same state as the FAKE JSON API, so a test can mix both,
// and count as its writes. SetRakeVersion picks the Scalelite version
// whose tasks they copy (1.5.0 to 1.8.5, default 1.8.5): which tasks
// exist (servers:tag and tags since 1.6.0, tenants:update since 1.5.1),
// where each line goes (puts; Rails' logger on stdout with its
// "I, [time #pid]  INFO -- : " prefix in 1.6.12 to 1.7.0; warn on stderr
// since 1.7.1), whether "No server found" exits 1 (since 1.5.1.6), and
// rake's own "Don't know how to build task". servers:disable on a loaded
// server aborts as it does without a terminal ($stdin.gets is nil). Left
// out: Rails' and Scalelite's other tasks (poll, recordings, sync, yaml),
// backtraces (a one-line stand-in), LRS settings.
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

// bigDecimal prints f as a BigDecimal prints inside Scalelite (2.0 for
// 2, 1.5 for 1.5): Rails' ActiveSupport makes BigDecimal#to_s use the
// "F" format (core_ext/big_decimal/conversions.rb), so the load
// multiplier shows as in issue #316's listing ("load multiplier: 9.0"),
// not as Ruby's bare 0.9e1.
func bigDecimal(f float64) string { return rubyFloat(f) }

// toD is Ruby's String#to_d: the leading number, 0 when there is none.
func toD(s string) float64 {
	m := regexp.MustCompile(`^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?`).FindString(s)
	f, _ := strconv.ParseFloat(strings.TrimSpace(m), 64)
	return f
}

// rakeFlavor is how one Scalelite version's rake tasks behave and print
// (lib/tasks/servers.rake and tenants.rake at its tag).
type rakeFlavor struct {
	tags          bool // 1.6.0: servers:tag, a tag argument, bbb version and tag in the listing, URL check in servers:add
	tenantsUpdate bool // 1.5.1: tenants:update
	lrsTasks      bool // 1.5.3: tenants:update_lrs_basic, update_lrs_kc
	notFoundExit1 bool // 1.5.1.6: "No server found" exits 1 (before: 0)
	skipEndCalls  bool // 1.6.6: servers:panic[id,keep_state,skip_end_calls]
	logAll        bool // 1.6.12 to 1.7.0: every line through Rails.logger (stdout in the image)
	warnErrors    bool // 1.7.1: errors with warn (stderr); before, puts (stdout)
	// progress is how "Updating server X..." lines come: "" none
	// (before 1.6.11), "puts" (1.6.11), "log" (1.6.12 to 1.7.1), "both"
	// (1.8.0).
	progress string
}

// rakeFlavorOf returns the behaviour of Scalelite version v ("1.8.5").
func rakeFlavorOf(v string) rakeFlavor {
	at := func(min string) bool { return versionAtLeast(v, min) }
	f := rakeFlavor{tags: at("1.6.0"), tenantsUpdate: at("1.5.1"), lrsTasks: at("1.5.3"), notFoundExit1: at("1.5.1.6"),
		skipEndCalls: at("1.6.6"), logAll: at("1.6.12") && !at("1.7.1"), warnErrors: at("1.7.1")}
	switch {
	case at("1.8.0"):
		f.progress = "both"
	case at("1.6.12"):
		f.progress = "log"
	case at("1.6.11"):
		f.progress = "puts"
	}
	return f
}

// versionAtLeast compares dotted versions numerically (1.5.1.6 > 1.5.1).
func versionAtLeast(v, min string) bool {
	a, b := strings.Split(strings.TrimPrefix(v, "v"), "."), strings.Split(min, ".")
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			x, _ = strconv.Atoi(a[i])
		}
		if i < len(b) {
			y, _ = strconv.Atoi(b[i])
		}
		if x != y {
			return x > y
		}
	}
	return true
}

// SetRakeVersion makes the FAKE rake tasks behave and print as Scalelite
// version v's do (default 1.8.5); see docs/scalelite-versions.md for the
// differences modelled.
func (s *Scalelite) SetRakeVersion(v string) { s.mu.Lock(); s.rakeVersion = v; s.mu.Unlock() }

// SetMultitenancyEnv sets MULTITENANCY_ENABLED as the environment of the
// API container holds it (set false: unset). The API enables
// multitenancy only for "true" (any case); the rake tasks only check that
// the variable is set, so "false" lets them run.
func (s *Scalelite) SetMultitenancyEnv(value string, set bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mtEnv, s.mtEnvSet = value, set
	s.multitenancy = set && strings.EqualFold(value, "true")
}

// rakeTasks is rake -T of one flavour: Scalelite's own server and tenant
// tasks (Rails' and its other tasks are left out).
func (f rakeFlavor) rakeTasks() string {
	type task struct{ name, comment string }
	add := "servers:add[url,secret,load_multiplier]"
	update := "servers:update[id,secret,load_multiplier]"
	if f.tags {
		add, update = "servers:add[url,secret,load_multiplier,tag]", "servers:update[id,secret,load_multiplier,tag]"
	}
	panicT := "servers:panic[id,keep_state]"
	if f.skipEndCalls {
		panicT = "servers:panic[id,keep_state,skip_end_calls]"
	}
	l := []task{
		{"servers", "List configured BigBlueButton servers"},
		{add, "Add a new BigBlueButton server (it will be added disabled)"},
		{"servers:addAll[path]", "Adds multiple BigBlueButton servers defined in a YAML file passed as an argument"},
		{"servers:cordon[id]", "Mark a BigBlueButton server as cordoned to stop scheduling new meetings but consider for"},
		{"servers:disable[id]", "Mark a BigBlueButton server as unavailable to stop scheduling new meetings"},
		{"servers:enable[id]", "Mark a BigBlueButton server as available for scheduling new meetings"},
		{"servers:loadMultiplier[id,load_multiplier]", "Set the load-multiplier of a BigBlueButton server"},
		{"servers:meeting_list[server_ids]", "List all meetings running in specific BigBlueButton servers"},
		{panicT, "Mark a BigBlueButton server as unavailable, and clear all meetings from it"},
		{"servers:remove[id]", "Remove a BigBlueButton server"},
		{"servers:sync[path,mode,dryrun]", "Sync cluster state with servers defined in a YAML file"},
	}
	if f.tags {
		l = append(l, task{"servers:tag[id,tag]", "Set the tag of a BigBlueButton server"})
	}
	l = append(l, task{update, "Update a BigBlueButton server"},
		task{"servers:yaml[verbose]", "Return a yaml compatible with servers:sync"},
		task{"tenants", "List all the Tenants"},
		task{"tenants:add[name,secrets]", "Add a new Tenant"},
		task{"tenants:remove[id]", "Remove existing Tenant"})
	if f.tenantsUpdate {
		l = append(l, task{"tenants:update[id,name,secrets]", "Update an existing Tenant"})
	}
	if f.lrsTasks {
		l = append(l, task{"tenants:update_lrs_basic[id,lrs_endpoint,lrs_username,lrs_password]", "Update an existing Tenants LRS credentials with basic authentication"},
			task{"tenants:update_lrs_kc[id,lrs_endpoint,kc_token_url,kc_client_id,kc_client_secret,kc_username,kc_password]", "Update an existing Tenants LRS credentials with Keycloak"})
	}
	w := 0
	for _, t := range l {
		w = max(w, len(t.name))
	}
	var b strings.Builder
	for _, t := range l {
		fmt.Fprintf(&b, "rake %-*s  # %s\n", w, t.name, t.comment)
	}
	return b.String()
}

// Rake runs one `docker exec CONTAINER bundle exec rake TASK[ARGS]`
// (args without the docker program) on the fake's state and returns
// what it prints and its exit code, as the version SetRakeVersion names.
func (s *Scalelite) Rake(args []string) (stdout, stderr string, exitCode int) {
	s.mu.Lock()
	s.rakeCalls = append(s.rakeCalls, append([]string(nil), args...))
	container := s.rakeContainer
	if container == "" {
		container = "scalelite-api"
	}
	version := s.rakeVersion
	if version == "" {
		version = DefaultScaleliteVersion
	}
	s.mu.Unlock()
	f := rakeFlavorOf(version)
	if len(args) >= 2 && args[0] == "exec" && strings.HasPrefix(args[1], "-") {
		return "", "FAKE docker: omc must run docker exec without -i or -t (got " + args[1] + ")\n", 2
	}
	if len(args) != 6 || args[0] != "exec" || strings.Join(args[2:5], " ") != "bundle exec rake" {
		return "", fmt.Sprintf("FAKE docker: expected exec CONTAINER bundle exec rake TASK, got %q\n", args), 2
	}
	if args[1] != container {
		return "", "Error response from daemon: No such container: " + args[1] + "\n", 1
	}
	if args[5] == "-T" {
		return f.rakeTasks(), "", 0
	}
	task, targs := parseRakeTask(args[5])
	arg := func(i int) (string, bool) {
		if i < len(targs) {
			return targs[i], true
		}
		return "", false
	}
	var out, errb strings.Builder
	// Ruby's Logger::Formatter, as Rails' logger writes to stdout in the
	// image (RAILS_LOG_TO_STDOUT=true).
	logLine := func(severity, msg string) {
		fmt.Fprintf(&out, "%s, [%s #%d] %5s -- : %s\n", severity[:1], time.Now().UTC().Format("2006-01-02T15:04:05.000000"), rakePid, severity, msg)
	}
	// say is a result line (puts, or the logger in 1.6.12 to 1.7.0).
	say := func(msg string) {
		if f.logAll {
			logLine("INFO", msg)
		} else {
			out.WriteString(msg + "\n")
		}
	}
	// fail is an error line: puts before 1.6.12, the logger's ERROR until
	// 1.7.0, warn (stderr) since 1.7.1.
	fail := func(msg string) {
		switch {
		case f.logAll:
			logLine("ERROR", msg)
		case f.warnErrors:
			errb.WriteString(msg + "\n")
		default:
			out.WriteString(msg + "\n")
		}
	}
	progress := func(msg string) {
		switch f.progress {
		case "puts":
			out.WriteString(msg + "\n")
		case "log":
			logLine("INFO", msg)
		case "both":
			out.WriteString(msg + "\n")
			logLine("INFO", msg)
		}
	}
	done := func(code int) (string, string, int) { return out.String(), errb.String(), code }
	notFound := func(id string) (string, string, int) {
		fail("ERROR: No server found with id: " + id)
		if f.notFoundExit1 {
			return done(1)
		}
		return done(0)
	}
	// aborted is an exception rake reports (rake aborted!, exit 1).
	aborted := func(msg string, trace ...string) (string, string, int) {
		errb.WriteString("rake aborted!\n" + msg + "\n")
		if !strings.HasPrefix(msg, "Don't know how") {
			if len(trace) == 0 {
				trace = []string{"/srv/scalelite/lib/tasks/" + strings.Split(task, ":")[0] + ".rake (FAKE backtrace)"}
			}
			errb.WriteString(strings.Join(trace, "\n") + "\nTasks: TOP => " + task + "\n")
		}
		errb.WriteString("(See full trace by running task with --trace)\n")
		return done(1)
	}
	known := map[string]bool{"servers": true, "servers:add": true, "servers:update": true, "servers:remove": true, "servers:enable": true,
		"servers:cordon": true, "servers:disable": true, "servers:panic": true, "servers:loadMultiplier": true,
		"servers:tag": f.tags, "tenants": true, "tenants:add": true, "tenants:update": f.tenantsUpdate, "tenants:remove": true}
	if !known[task] {
		return aborted("Don't know how to build task '" + task + "' (See the list of available tasks with `rake --tasks`)")
	}

	if strings.HasPrefix(task, "tenants") {
		// tenants.rake's check_multitenancy: abort unless
		// ENV['MULTITENANCY_ENABLED'], i.e. unless it is set at all.
		s.mu.Lock()
		set := s.mtEnvSet
		s.mu.Unlock()
		if !set {
			return "", "Multitenancy is disabled, task can not be completed\n", 1
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, _ := arg(0)
	multiplier := func(v string) float64 {
		lm := toD(v)
		if lm == 0 {
			if f.logAll || f.progress == "log" {
				logLine("INFO", "WARNING! Load-multiplier was not readable or 0, so it is now 1")
			} else {
				out.WriteString("WARNING! Load-multiplier was not readable or 0, so it is now 1\n")
				if f.progress == "both" {
					logLine("INFO", "WARNING! Load-multiplier was not readable or 0, so it is now 1")
				}
			}
			lm = 1
		}
		return lm
	}
	switch task {
	case "servers":
		if len(s.servers) == 0 {
			// puts before 1.6.12, the logger's INFO until 1.7.0, warn since.
			switch {
			case f.logAll:
				logLine("INFO", "No servers are configured")
			case f.warnErrors:
				errb.WriteString("No servers are configured\n")
			default:
				out.WriteString("No servers are configured\n")
			}
		}
		for _, sv := range s.servers {
			load := "unavailable"
			if v, ok := sv.shownLoad(); ok {
				load = rubyFloat(v)
			}
			online := "offline"
			if sv.online {
				online = "online"
			}
			say("id: " + sv.id)
			say("\turl: " + sv.url)
			say("\tsecret: " + sv.secret)
			say("\t" + sv.state)
			say("\tload: " + load)
			say("\tload multiplier: " + bigDecimal(sv.multiplier))
			if f.tags {
				say("\tbbb version: " + sv.version)
				say("\ttag: " + sv.tag)
			}
			say("\t" + online)
		}
	case "servers:add":
		u, okU := arg(0)
		sec, okS := arg(1)
		if !okU || !okS {
			fail("Error: Please input at least a URL and a secret!")
			return done(1)
		}
		if f.tags && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			fail("Error: Server URL must start with http:// or https://")
			return done(1)
		}
		switch {
		case f.logAll || f.warnErrors:
			logLine("INFO", "Adding server "+u+"...")
		case f.progress == "puts":
			out.WriteString("Adding server " + u + "...\n")
		}
		lm := 1.0
		if v, ok := arg(2); ok {
			lm = multiplier(v)
		}
		tag := ""
		if f.tags {
			tag, _ = arg(3)
		}
		// No check for an existing URL: Scalelite adds a duplicate.
		sv := &server{id: uuid(), url: u, secret: sec, tag: tag, state: pool.Disabled, multiplier: lm}
		s.servers = append(s.servers, sv)
		s.writes++
		say("OK")
		say("id: " + sv.id)
	case "servers:update", "servers:tag", "servers:enable", "servers:cordon", "servers:disable", "servers:remove", "servers:panic", "servers:loadMultiplier":
		verb := map[string]string{"servers:update": "Updating", "servers:enable": "Enabling", "servers:cordon": "Cordoning",
			"servers:disable": "Disabling", "servers:remove": "Removing", "servers:panic": "Panicking"}[task]
		if verb != "" {
			progress(verb + " server " + id + "...")
		}
		sv := s.find(id)
		if sv == nil {
			return notFound(id)
		}
		switch task {
		case "servers:update":
			if v, ok := arg(1); ok {
				sv.secret = v
			}
			if v, ok := arg(2); ok {
				sv.multiplier = multiplier(v)
			}
			if v, ok := arg(3); ok && f.tags {
				sv.tag = v
			}
		case "servers:loadMultiplier":
			v, _ := arg(1)
			sv.multiplier = multiplier(v)
		case "servers:tag":
			sv.tag, _ = arg(1)
		case "servers:enable":
			sv.state = pool.Enabled
		case "servers:cordon":
			sv.state = pool.Cordoned
		case "servers:disable":
			if sv.load != nil && *sv.load > 0 {
				say("WARNING: You are trying to disable a server with active load. You should use the cordon option if\n" +
					"          you do not want to clear all the meetings")
				say("If you still wish to continue please enter `yes`")
				// No terminal: $stdin.gets is nil.
				return aborted("NoMethodError: undefined method `chomp' for nil:NilClass")
			}
			sv.state = pool.Disabled
		case "servers:remove":
			for i, x := range s.servers {
				if x == sv {
					s.servers = append(s.servers[:i], s.servers[i+1:]...)
					break
				}
			}
		case "servers:panic":
			// Rake hands over strings, and the task tests for presence:
			// any keep_state given, even "false" or "", keeps the state.
			_, keep := arg(1)
			_, skipEnd := arg(2)
			if !skipEnd || !f.skipEndCalls {
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
		say("OK")
	case "tenants":
		for _, t := range s.tenants {
			say("id: " + t.id)
			say("\tname: " + t.name)
			say("\tsecrets: " + t.secrets)
		}
		say(fmt.Sprintf("Total number of tenants: %d", len(s.tenants)))
	case "tenants:add":
		name, _ := arg(0)
		sec, _ := arg(1)
		if name == "" || sec == "" {
			fail("Error: both name and secrets are required to create a Tenant")
			return done(1)
		}
		// Tenant.create! checks nothing about the name: a second tenant
		// of the same name is made, and the name index points at it.
		t := &tenant{id: uuid(), name: name, secrets: sec}
		s.tenants = append(s.tenants, t)
		s.writes++
		say("OK")
		say("New Tenant id: " + t.id)
	case "tenants:update", "tenants:remove":
		name, _ := arg(1)
		sec, _ := arg(2)
		if task == "tenants:update" && (id == "" || (name == "" && sec == "")) {
			fail("Error: id and either name or secrets are required to update a Tenant")
			return done(1)
		}
		ti := -1
		for i, t := range s.tenants {
			if t.id == id {
				ti = i
			}
		}
		if ti < 0 {
			// Tenant.find raises; rake prints the exception and its
			// backtrace (as Scalelite 1.6.0 did, run for real here).
			line := map[string]string{"tenants:update": "61", "tenants:remove": "131"}[task]
			return aborted("ApplicationRedisRecord::RecordNotFound: Couldn't find Tenant with id="+id, tenantFindTrace(line)...)
		}
		t := s.tenants[ti]
		s.writes++
		if task == "tenants:remove" {
			s.tenants = append(s.tenants[:ti], s.tenants[ti+1:]...)
			say("Tenant was successfully deleted.")
			break
		}
		if name != "" {
			t.name = name
		}
		if sec != "" {
			t.secrets = sec
		}
		say("OK")
		say("Updated Tenant id: " + t.id)
	}
	return done(0)
}

// rakePid is the pid the fake's log lines show.
const rakePid = 17

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

// RakeVersionAtLeast compares dotted Scalelite versions (1.5.1.6 is after
// 1.5.1), for tests that treat versions differently.
func RakeVersionAtLeast(v, min string) bool { return versionAtLeast(v, min) }

// tenantFindTrace is the backtrace of Tenant.find raising RecordNotFound
// inside Scalelite's image (connection_pool 2.4.0, its Gemfile.lock), from
// the task's line in lib/tasks/tenants.rake.
func tenantFindTrace(rakeLine string) []string {
	const gem = "/usr/local/bundle/gems/connection_pool-2.4.0/lib/connection_pool.rb"
	return []string{
		"/srv/scalelite/app/models/tenant.rb:73:in `block in find'",
		gem + ":68:in `block (2 levels) in with'",
		gem + ":67:in `handle_interrupt'",
		gem + ":67:in `block in with'",
		gem + ":64:in `handle_interrupt'",
		gem + ":64:in `with'",
		"/srv/scalelite/lib/redis_store.rb:38:in `with_connection'",
		"/srv/scalelite/app/models/application_redis_record.rb:150:in `with_connection'",
		"/srv/scalelite/app/models/tenant.rb:70:in `find'",
		"/srv/scalelite/lib/tasks/tenants.rake:" + rakeLine + ":in `block (2 levels) in <main>'",
	}
}
