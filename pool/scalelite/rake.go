package scalelite

import (
	"bufio"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/remote"
)

// Runner runs one command on the Scalelite host. Each argv element is one
// argument: nothing is split or expanded.
type Runner interface {
	Run(ctx context.Context, argv []string) (stdout, stderr []byte, exitCode int, err error)
}

// Rake is pool.Pool over Scalelite's rake tasks, run with `docker exec`
// in its API container (lib/tasks/servers.rake, tenants.rake), for
// Scalelite 1.6.0 and later (docs/scalelite-versions.md).
//
// Before its first write it lists the tasks (rake -T) and refuses a
// Scalelite whose tasks lack what omc needs (servers:tag, the tag
// argument of servers:add, tenants:update: all first in 1.6.0), so an
// older one is refused before anything changed. Output is read in every
// form these versions print: with puts, or through Rails' logger
// (1.6.12 to 1.7.0, whose image logs to stdout), each line then behind
// an "I, [time #pid]  INFO -- : " prefix that is stripped.
//
// Each task and its arguments are one argv element
// (servers:add[URL,SECRET,1.0,TAG]): rake splits them at commas, so no
// value may hold a comma, a bracket or whitespace. `docker exec` runs
// without -t, and without -i: nothing is ever read from stdin, which is
// why servers:disable (it asks "yes" when the load is not 0) is only used
// on an empty server. Secrets are arguments of the task, so they show in
// the Scalelite host's process list while it runs.
type Rake struct {
	Runner Runner
	// Container is Scalelite's API container (default scalelite-api).
	Container string
	// Rake is how rake is started in it (default bundle exec rake).
	Rake []string
	// Docker is the docker command (default docker, from the host's PATH).
	Docker string

	mu      sync.Mutex
	checked bool // the tasks were listed and are fit
}

var _ pool.Pool = (*Rake)(nil)

// RakeError is a task that failed.
type RakeError struct {
	Task     string // task name without arguments
	ExitCode int
	Output   string // the end of stderr (or stdout)
}

func (e *RakeError) Error() string {
	return fmt.Sprintf("Scalelite rake %s exited %d: %s", e.Task, e.ExitCode, e.Output)
}

// rakeArg refuses what rake would split or the shell-less argv would
// mangle.
func rakeArg(what, v string) error {
	if strings.ContainsAny(v, ",[]\\ \t\r\n\"'") {
		return fmt.Errorf("Scalelite rake: %s must not contain commas, brackets, quotes or spaces", what)
	}
	return nil
}

func (r *Rake) run(ctx context.Context, task string, args ...string) (string, error) {
	arg := task
	if len(args) > 0 {
		arg += "[" + strings.Join(args, ",") + "]"
	}
	container := r.Container
	if container == "" {
		container = "scalelite-api"
	}
	rake := r.Rake
	if len(rake) == 0 {
		rake = []string{"bundle", "exec", "rake"}
	}
	docker := r.Docker
	if docker == "" {
		docker = "docker"
	}
	argv := append(append([]string{docker, "exec", container}, rake...), arg)
	out, errOut, code, err := r.Runner.Run(ctx, argv)
	if err != nil {
		return "", fmt.Errorf("Scalelite rake %s: %w", task, err)
	}
	if code != 0 {
		msg := rakeMessage(plain(string(errOut)))
		if msg == "" {
			msg = rakeMessage(plain(string(out)))
		}
		e := &RakeError{Task: task, ExitCode: code, Output: msg}
		switch {
		case strings.Contains(msg, "Multitenancy is disabled"):
			return "", pool.ErrMultitenancyDisabled
		case strings.Contains(msg, "No server found"), strings.Contains(msg, "does not exist"), strings.Contains(msg, "Couldn't find"):
			return "", fmt.Errorf("%w: %w", e, pool.ErrNotFound)
		}
		return "", e
	}
	return string(out), nil
}

// rakeMessage is the line of a failed task's output that says why: after
// "rake aborted!" the exception ("Class: message"), not its backtrace nor
// rake's "(See full trace …)" footer; otherwise the whole (short) output,
// or its last meaningful line.
func rakeMessage(out string) string {
	out = strings.TrimSpace(out)
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == "rake aborted!" {
			for _, m := range lines[i+1:] {
				if m = strings.TrimSpace(m); m != "" {
					return m
				}
			}
		}
	}
	if len(out) <= 300 {
		return out
	}
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "(See full trace") && !strings.HasPrefix(l, "Tasks: TOP") {
			return l
		}
	}
	return lines[len(lines)-1]
}

// logPrefix is what Ruby's Logger::Formatter puts before each message:
// "I, [2026-01-16T14:32:04.123456 #42]  INFO -- : " (severity letter,
// time, pid, severity right-aligned in 5, progname, usually empty).
var logPrefix = regexp.MustCompile(`^[DIWEFAU], \[[^\]]*\] +[A-Z]+ -- [^:]*: `)

// plain is rake's output with the Rails logger's line prefixes removed,
// so the logger versions (1.6.12 to 1.7.0) read as the puts ones.
func plain(out string) string {
	if !strings.Contains(out, " -- ") {
		return out
	}
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		lines[i] = logPrefix.ReplaceAllString(l, "")
	}
	return strings.Join(lines, "\n")
}

// parseRecords reads rake's listings: "id: X" starts a record, and the
// tab-indented lines after it are its fields ("key: value", or a bare
// word such as a state). Anything else (log lines) is skipped.
func parseRecords(out string) []map[string]string {
	var recs []map[string]string
	var cur map[string]string
	sc := bufio.NewScanner(strings.NewReader(plain(out)))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			cur = map[string]string{"id": strings.TrimSpace(id)}
			recs = append(recs, cur)
			continue
		}
		if cur == nil || !strings.HasPrefix(line, "\t") {
			cur = nil
			continue
		}
		f := strings.TrimSpace(line)
		if k, v, ok := strings.Cut(f, ": "); ok {
			cur[k] = strings.TrimSpace(v)
		} else if k, ok := strings.CutSuffix(f, ":"); ok {
			cur[k] = ""
		} else {
			cur["_"+f] = "true"
		}
	}
	return recs
}

func serverOf(m map[string]string) pool.Server {
	s := pool.Server{ID: m["id"], URL: m["url"], Secret: m["secret"], Tag: m["tag"], BBBVersion: m["bbb version"], LoadMultiplier: 1}
	for _, st := range []string{pool.Enabled, pool.Cordoned, pool.Disabled} {
		if m["_"+st] != "" {
			s.State = st
		}
	}
	s.Online = m["_online"] != ""
	if f, err := strconv.ParseFloat(m["load"], 64); err == nil {
		s.Load, s.LoadKnown = f, true
	}
	if f, err := strconv.ParseFloat(m["load multiplier"], 64); err == nil && f > 0 {
		s.LoadMultiplier = f
	}
	return s
}

// List runs `servers`.
func (r *Rake) List(ctx context.Context) ([]pool.Server, error) {
	out, err := r.run(ctx, "servers")
	if err != nil {
		return nil, err
	}
	var l []pool.Server
	for _, m := range parseRecords(out) {
		l = append(l, serverOf(m))
	}
	return l, nil
}

// Get lists and picks one: rake has no single-server task.
func (r *Rake) Get(ctx context.Context, id string) (pool.Server, error) {
	l, err := r.List(ctx)
	if err != nil {
		return pool.Server{}, err
	}
	for _, s := range l {
		if s.ID == id {
			return s, nil
		}
	}
	return pool.Server{}, fmt.Errorf("Scalelite server %s: %w", id, pool.ErrNotFound)
}

// lastValue is what follows key on the last output line starting with it
// (servers:add's "id: X", tenants:add's "New Tenant id: X").
func lastValue(out, key string) string {
	v := ""
	for _, line := range strings.Split(plain(out), "\n") {
		if x, ok := strings.CutPrefix(strings.TrimSpace(line), key); ok {
			v = strings.TrimSpace(x)
		}
	}
	return v
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// Add runs servers:add[url,secret,multiplier,tag]; the server is added
// disabled.
func (r *Rake) Add(ctx context.Context, s pool.ServerSpec) (pool.Server, error) {
	for what, v := range map[string]string{"the server URL": s.URL, "the secret": s.Secret, "the tag": s.Tag} {
		if err := rakeArg(what, v); err != nil {
			return pool.Server{}, err
		}
	}
	lm := s.LoadMultiplier
	if lm <= 0 {
		lm = 1
	}
	args := []string{s.URL, s.Secret, fmtFloat(lm)}
	if s.Tag != "" {
		args = append(args, s.Tag)
	}
	if err := r.check(ctx); err != nil {
		return pool.Server{}, err
	}
	out, err := r.run(ctx, "servers:add", args...)
	if err != nil {
		return pool.Server{}, err
	}
	id := lastValue(out, "id: ")
	if id == "" {
		return pool.Server{}, fmt.Errorf("Scalelite rake servers:add printed no id")
	}
	return r.Get(ctx, id)
}

// Update uses servers:update for secret and multiplier (giving both, as
// rake takes an empty argument for an empty value), servers:tag for the
// tag, and servers:enable/cordon/disable for the state.
func (r *Rake) Update(ctx context.Context, id string, u pool.ServerUpdate) (pool.Server, error) {
	if err := rakeArg("the server id", id); err != nil {
		return pool.Server{}, err
	}
	if err := r.check(ctx); err != nil {
		return pool.Server{}, err
	}
	cur, err := r.Get(ctx, id)
	if err != nil {
		return pool.Server{}, err
	}
	if u.Secret != nil || u.LoadMultiplier != nil {
		sec, lm := cur.Secret, cur.LoadMultiplier
		if u.Secret != nil {
			sec = *u.Secret
		}
		if u.LoadMultiplier != nil {
			lm = *u.LoadMultiplier
		}
		if err := rakeArg("the secret", sec); err != nil {
			return pool.Server{}, err
		}
		if lm <= 0 {
			return pool.Server{}, fmt.Errorf("Scalelite rake: the load multiplier must be positive")
		}
		if _, err := r.run(ctx, "servers:update", id, sec, fmtFloat(lm)); err != nil {
			return pool.Server{}, err
		}
	}
	if u.Tag != nil {
		if err := rakeArg("the tag", *u.Tag); err != nil {
			return pool.Server{}, err
		}
		args := []string{id}
		if *u.Tag != "" { // servers:tag[id] removes the tag
			args = append(args, *u.Tag)
		}
		if _, err := r.run(ctx, "servers:tag", args...); err != nil {
			return pool.Server{}, err
		}
	}
	switch u.State {
	case "":
	case pool.Enable:
		_, err = r.run(ctx, "servers:enable", id)
	case pool.Cordon:
		_, err = r.run(ctx, "servers:cordon", id)
	case pool.Disable:
		// servers:disable asks for "yes" on stdin when the load is not 0;
		// omc never answers it (that is what Panic is for).
		if cur.LoadKnown && cur.Load > 0 {
			return pool.Server{}, fmt.Errorf("Scalelite rake: server %s still has load %s; drain it (cordon) or panic it instead of disabling", id, cur.LoadText())
		}
		_, err = r.run(ctx, "servers:disable", id)
	default:
		return pool.Server{}, fmt.Errorf("Scalelite rake: unknown state %q (enable, cordon or disable)", u.State)
	}
	if err != nil {
		return pool.Server{}, err
	}
	return r.Get(ctx, id)
}

// Delete runs servers:remove.
func (r *Rake) Delete(ctx context.Context, id string) error {
	if err := rakeArg("the server id", id); err != nil {
		return err
	}
	if err := r.check(ctx); err != nil {
		return err
	}
	_, err := r.run(ctx, "servers:remove", id)
	return err
}

// Panic runs servers:panic. rake passes arguments as strings and the task
// tests keep_state for presence, so "false" would keep the state: the
// argument is given only to keep it.
func (r *Rake) Panic(ctx context.Context, id string, keepState bool) error {
	if err := rakeArg("the server id", id); err != nil {
		return err
	}
	if err := r.check(ctx); err != nil {
		return err
	}
	args := []string{id}
	if keepState {
		args = append(args, "true")
	}
	_, err := r.run(ctx, "servers:panic", args...)
	return err
}

func tenantOf(m map[string]string) pool.Tenant {
	return pool.Tenant{ID: m["id"], Name: m["name"], Secrets: splitSecrets(m["secrets"])}
}

// Tenants runs `tenants`.
func (r *Rake) Tenants(ctx context.Context) ([]pool.Tenant, error) {
	out, err := r.run(ctx, "tenants")
	if err != nil {
		return nil, err
	}
	var l []pool.Tenant
	for _, m := range parseRecords(out) {
		l = append(l, tenantOf(m))
	}
	return l, nil
}

func (r *Rake) tenant(ctx context.Context, id string) (pool.Tenant, error) {
	l, err := r.Tenants(ctx)
	if err != nil {
		return pool.Tenant{}, err
	}
	for _, t := range l {
		if t.ID == id {
			return t, nil
		}
	}
	return pool.Tenant{}, fmt.Errorf("Scalelite tenant %s: %w", id, pool.ErrNotFound)
}

func checkTenantArgs(name string, secrets []string) error {
	if err := rakeArg("the tenant name", name); err != nil {
		return err
	}
	for _, s := range secrets {
		if err := rakeArg("a tenant secret", s); err != nil {
			return err
		}
		if strings.Contains(s, ":") {
			return fmt.Errorf("Scalelite: a tenant secret must not contain ':' (it separates secrets)")
		}
	}
	return nil
}

// AddTenant runs tenants:add[name,secret1:secret2].
func (r *Rake) AddTenant(ctx context.Context, name string, secrets []string) (pool.Tenant, error) {
	if err := checkTenantArgs(name, secrets); err != nil {
		return pool.Tenant{}, err
	}
	if err := r.check(ctx); err != nil {
		return pool.Tenant{}, err
	}
	out, err := r.run(ctx, "tenants:add", name, strings.Join(secrets, ":"))
	if err != nil {
		return pool.Tenant{}, err
	}
	id := lastValue(out, "New Tenant id: ")
	if id == "" {
		return pool.Tenant{}, fmt.Errorf("Scalelite rake tenants:add printed no id")
	}
	return r.tenant(ctx, id)
}

// UpdateTenant runs tenants:update[id,name,secrets]; an empty name or
// secrets argument leaves that field.
func (r *Rake) UpdateTenant(ctx context.Context, id, name string, secrets []string) (pool.Tenant, error) {
	if err := checkTenantArgs(name, secrets); err != nil {
		return pool.Tenant{}, err
	}
	if err := rakeArg("the tenant id", id); err != nil {
		return pool.Tenant{}, err
	}
	if err := r.check(ctx); err != nil {
		return pool.Tenant{}, err
	}
	if _, err := r.run(ctx, "tenants:update", id, name, strings.Join(secrets, ":")); err != nil {
		return pool.Tenant{}, err
	}
	return r.tenant(ctx, id)
}

// DeleteTenant runs tenants:remove.
func (r *Rake) DeleteTenant(ctx context.Context, id string) error {
	if err := rakeArg("the tenant id", id); err != nil {
		return err
	}
	if err := r.check(ctx); err != nil {
		return err
	}
	_, err := r.run(ctx, "tenants:remove", id)
	return err
}

// needTasks are the tasks (with the arguments omc passes) that Scalelite
// 1.6.0 introduced or that omc needs; an older Scalelite lacks some.
var needTasks = []struct{ name, args string }{
	{"servers", ""},
	{"servers:add", "[url,secret,load_multiplier,tag]"},
	{"servers:update", ""},
	{"servers:tag", "[id,tag]"},
	{"servers:enable", ""},
	{"servers:cordon", ""},
	{"servers:disable", ""},
	{"servers:remove", ""},
	{"servers:panic", ""},
	{"tenants", ""},
	{"tenants:add", ""},
	{"tenants:update", ""},
	{"tenants:remove", ""},
}

// check lists Scalelite's rake tasks once (rake -T, which changes nothing)
// and refuses a Scalelite older than 1.6.0 before omc writes to it.
func (r *Rake) check(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checked {
		return nil
	}
	out, err := r.run(ctx, "-T")
	if err != nil {
		return fmt.Errorf("Scalelite rake: listing its tasks (rake -T) to check its version: %w", err)
	}
	if err := checkTasks(out); err != nil {
		return err
	}
	r.checked = true
	return nil
}

// checkTasks reads rake -T ("rake NAME[ARGS]  # comment" lines) and
// names what omc needs and this Scalelite lacks.
func checkTasks(out string) error {
	have := map[string]string{}
	for _, line := range strings.Split(plain(out), "\n") {
		rest, ok := strings.CutPrefix(line, "rake ")
		if !ok {
			continue
		}
		spec, _, _ := strings.Cut(rest, " ")
		name, args := spec, ""
		if i := strings.IndexByte(spec, '['); i >= 0 {
			name, args = spec[:i], spec[i:]
		}
		have[name] = args
	}
	var missing []string
	for _, t := range needTasks {
		args, ok := have[t.name]
		if !ok || (t.args != "" && args != t.args) {
			missing = append(missing, t.name+t.args)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("Scalelite rake: this Scalelite is older than 1.6.0, which omc's api: rake needs: its rake tasks lack %s "+
		"(upgrade Scalelite; 1.5.1 to 1.5.3 can be managed through api: scalelite/api, without tags; see docs/scalelite-versions.md)",
		strings.Join(missing, ", "))
}

// SSHRunner runs commands through omc's SSH transport, in the host's
// persistent shell, each argv element single-quoted.
type SSHRunner struct {
	Client *remote.Client
}

// Run implements Runner.
func (s SSHRunner) Run(ctx context.Context, argv []string) ([]byte, []byte, int, error) {
	sh, err := s.Client.Shell(ctx)
	if err != nil {
		return nil, nil, 0, err
	}
	res, err := sh.Run(ctx, strings.Join(shell.QuoteAll(argv), " "))
	if err != nil {
		return nil, nil, 0, err
	}
	return res.Stdout, res.Stderr, res.ExitCode, nil
}
