// Command bench measures omc against Ansible and against the SSH floor
// (one connection, one exec per host) on the same hosts, with the same
// workload, user, key and strict host-key checking. See README.md.
//
//	go run ./bench            # the full matrix, results in bench/results/
//	go run ./bench -quick     # CI: N=5, omc and floor; fails on a bad no-op
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"flag"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/providers/local"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "floor" {
		os.Exit(floorMain(os.Args[2:]))
	}
	os.Exit(benchMain(os.Args[1:]))
}

type config struct {
	quick           bool
	ns              []int
	arms            []string
	scenarios       []string
	runs            int
	coldRuns        int
	ansibleRuns     int
	ansibleRunsBig  int
	ansibleColdRuns int
	loopFrom        int
	kind            string
	work            string
	out             string
	cacheDir        string
	omc             string
	seed            uint64
	keep            bool
	skip            []string
	rtt             time.Duration
	fleetBench      bool
}

var allArms = []string{"omc", "floor", "floor-script", "ansible", "ansible-tuned"}

// checkOnly says the arm only checks (the floor runs omc's probe, which
// fixes nothing): its cold runs and drift are not its own, and the hosts
// it starts from are converged, untimed, by converger(arm).
func checkOnly(arm string) bool { return arm == "floor" }

// converger is the arm whose run converges hosts for arm.
func converger(arm string) string {
	if checkOnly(arm) {
		return "floor-script"
	}
	return arm
}

var allScenarios = []string{"cold", "noop", "drift", "down", "latency"}

func benchMain(args []string) int {
	var c config
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	nList := fs.String("n", "1,5,20,50", "fleet sizes")
	armList := fs.String("arms", strings.Join(allArms, ","), "arms to run")
	scList := fs.String("scenarios", "cold,noop,drift,down", "scenarios (cold always runs first, to converge): cold, noop, drift, down, latency (the no-op through a proxy adding -rtt, round trips counted at it)")
	fs.BoolVar(&c.quick, "quick", false, "CI mode: N=5, arms omc and floor, 1 run each (2 no-op); exit 1 if omc's no-op makes more than one connection or one exec per host, or any write, or an arm leaves a wrong end state")
	fs.IntVar(&c.runs, "runs", 3, "timed runs per cell (noop, drift, down)")
	fs.IntVar(&c.coldRuns, "cold-runs", 2, "timed cold runs per cell (each on freshly rebuilt hosts)")
	fs.IntVar(&c.ansibleRuns, "ansible-runs", 3, "at most this many runs per cell for the Ansible arms")
	fs.IntVar(&c.ansibleRunsBig, "ansible-runs-big", 1, "runs per cell for the Ansible arms at N >= -loopback-from")
	fs.IntVar(&c.ansibleColdRuns, "ansible-cold-runs", 1, "cold runs per cell for the Ansible arms")
	fs.IntVar(&c.loopFrom, "loopback-from", 50, "use loopback sshd hosts from this N on (local nspawn hosts below)")
	fs.StringVar(&c.kind, "kind", "auto", "host kind for every N: auto, local or loopback")
	fs.StringVar(&c.work, "work", "/var/tmp/omc-bench", "scratch dir (keys, inventories, loopback roots)")
	fs.StringVar(&c.out, "out", "", "results dir (default bench/results in the module)")
	fs.StringVar(&c.cacheDir, "local-dir", "", "local provider dir of the bench's own (default WORK/local; its image is copied from $OMC_LOCAL_DIR or /var/cache/omc-test when one is built there)")
	fs.StringVar(&c.omc, "omc", "", "omc binary (default: built from the module)")
	fs.Uint64Var(&c.seed, "seed", 0, "arm order seed (default: time)")
	fs.BoolVar(&c.keep, "keep", false, "keep the hosts afterwards")
	fs.DurationVar(&c.rtt, "rtt", 50*time.Millisecond, "round-trip time the latency scenario adds (a delaying proxy in front of each host)")
	fs.BoolVar(&c.fleetBench, "fleet", true, "also run the fleet-command benchmark (go test ./pool -bench CheckAll200); off with -quick")
	skipList := fs.String("skip", "", "cells not to run, as arm:scenario:n with * for any part (e.g. ansible:*:50,ansible:down:20); a skipped cold still converges, untimed, when later scenarios run")
	_ = fs.Parse(args)
	c.ns = parseInts(*nList)
	c.arms = strings.Split(*armList, ",")
	c.scenarios = strings.Split(*scList, ",")
	if *skipList != "" {
		c.skip = strings.Split(*skipList, ",")
	}
	if c.quick {
		c.fleetBench = false
		c.ns = []int{5}
		if !flagSet(fs, "arms") {
			c.arms = []string{"omc", "floor"}
		}
		c.runs, c.coldRuns, c.ansibleRuns, c.ansibleColdRuns = 1, 1, 1, 1
	}
	for _, a := range c.arms {
		if !slices.Contains(allArms, a) {
			fmt.Fprintf(os.Stderr, "bench: unknown arm %q (have %s)\n", a, strings.Join(allArms, ", "))
			return 2
		}
	}
	if c.seed == 0 {
		c.seed = uint64(time.Now().UnixNano())
	}
	if c.cacheDir == "" {
		c.cacheDir = filepath.Join(c.work, "local")
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	if c.out == "" {
		c.out = filepath.Join(root, "bench", "results")
	}
	raiseNoFile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{c: c, root: root, start: time.Now()}
	if err := b.main(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if len(b.failures) > 0 {
		fmt.Fprintln(os.Stderr, "\nbench: FAILED")
		for _, f := range b.failures {
			fmt.Fprintln(os.Stderr, "  -", f)
		}
		if c.quick {
			return 1
		}
	}
	return 0
}

// raiseNoFile lifts the open-file limit to its hard limit, for this
// process and the arms it starts: at N=500 the floor holds 500
// connections at once, and the loopback hosts' logs are open too.
func raiseNoFile() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func parseInts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	m := strings.TrimSpace(string(out))
	if m == "" || m == os.DevNull {
		return "", fmt.Errorf("run from inside the omc module")
	}
	return filepath.Dir(m), nil
}

type bench struct {
	c        config
	root     string
	start    time.Time
	self     string
	omc      string
	keyFile  string
	cert     string
	certKey  string
	records  []record
	failures []string
	notes    []string
	fleet    []fleetBench
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[%6.0fs] %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, a...))
}

func (b *bench) fail(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	b.failures = append(b.failures, msg)
	b.logf("FAIL: %s", msg)
}

func (b *bench) main(ctx context.Context) error {
	if err := os.MkdirAll(b.c.work, 0o755); err != nil {
		return err
	}
	var err error
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	if err := b.tools(); err != nil {
		return err
	}
	if err := b.keys(); err != nil {
		return err
	}

	// Which fleet kind for which N.
	useLocal := func(n int) bool {
		switch b.c.kind {
		case "local":
			return true
		case "loopback":
			return false
		}
		return n < b.c.loopFrom
	}
	maxLocal := 0
	for _, n := range b.c.ns {
		if useLocal(n) && n > maxLocal {
			maxLocal = n
		}
	}
	var nsp *nspawnFleet
	if maxLocal > 0 {
		if err := local.Check(); err != nil {
			return fmt.Errorf("local hosts: %w", err)
		}
		if err := seedImage(b.c.cacheDir); err != nil {
			return err
		}
		// With no image yet (a fresh machine), the provider builds it on
		// the first Create; it is prepared then and the hosts rebuilt.
		built, err := prepareImage(b.c.cacheDir)
		if err != nil {
			return err
		}
		var afterBuild func() error
		if !built {
			afterBuild = func() error {
				b.logf("preparing the new image (python3, python3-apt) and rebuilding the hosts from it")
				_, err := prepareImage(b.c.cacheDir)
				return err
			}
		}
		b.logf("creating %d local hosts (systemd-nspawn) in %s", maxLocal, b.c.cacheDir)
		t0 := time.Now()
		nsp, err = newNspawnFleet(ctx, b.c.work, b.c.cacheDir, maxLocal, b.keyFile+".pub", afterBuild)
		if err != nil {
			return fmt.Errorf("local hosts: %w", err)
		}
		b.logf("local hosts ready in %.1fs", time.Since(t0).Seconds())
		if !b.c.keep {
			defer func() {
				b.logf("removing local hosts")
				dctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				_ = nsp.Close(dctx)
			}()
		}
	}
	for _, n := range b.c.ns {
		var f Fleet = nsp
		if !useLocal(n) {
			b.logf("starting %d loopback sshd hosts", n)
			lf, err := newLoopFleet(ctx, filepath.Join(b.c.work, fmt.Sprintf("n%d", n)), n, b.keyFile+".pub")
			if err != nil {
				return err
			}
			f = lf
		}
		err := b.cell(ctx, f, n)
		if lf, ok := f.(*loopFleet); ok {
			lf.Close(ctx)
		}
		if err != nil {
			return err
		}
		if err := b.write(); err != nil {
			return err
		}
	}
	if b.c.fleetBench {
		if err := b.runFleet(ctx); err != nil {
			b.fail("%v", err)
		}
	}
	b.report()
	return b.write()
}

// seedImage copies a built debian-12 image into the bench's own provider
// dir. The bench keeps its hosts apart from the shared test dir, whose
// teardown (DeleteAll) would remove them mid-run, but need not build the
// image again (about 80 s).
func seedImage(dir string) error {
	dst := filepath.Join(dir, "images", local.DefaultImage)
	if _, err := os.Stat(filepath.Join(dst, "rootfs")); err == nil {
		return nil
	}
	for _, src := range []string{os.Getenv("OMC_LOCAL_DIR"), "/var/cache/omc-test"} {
		if src == "" {
			continue
		}
		s := filepath.Join(src, "images", local.DefaultImage)
		if _, err := os.Stat(filepath.Join(s, "rootfs", "usr", "sbin", "sshd")); err != nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		tmp := dst + ".bench-copy"
		_ = os.RemoveAll(tmp)
		if out, err := exec.Command("cp", "-a", "--reflink=auto", s, tmp).CombinedOutput(); err != nil {
			return fmt.Errorf("copying image %s: %v: %s", s, err, out)
		}
		if err := os.Rename(tmp, dst); err != nil {
			return err
		}
		break
	}
	return nil // else the provider builds it on Create
}

// prepareImage puts python3 and python3-apt into the bench's own image,
// as every cloud image has them (Ansible needs them on the hosts), and
// keeps its apt lists fresh (under 3 h), so no arm's cold run pays an
// apt-get update the others skip (omc, the floor and the playbook all
// skip it for lists under 6 h old). It says false, doing nothing, when
// the image is not built yet.
func prepareImage(dir string) (bool, error) {
	rootfs := filepath.Join(dir, "images", local.DefaultImage, "rootfs")
	if _, err := os.Stat(rootfs); err != nil {
		return false, nil
	}
	script := `set -e
export DEBIAN_FRONTEND=noninteractive
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -180 | head -n 1)" ]; then apt-get -q update >/dev/null; fi
dpkg-query -W -f='${db:Status-Abbrev}' python3 python3-apt 2>/dev/null | grep -q 'ii ii' || apt-get -y -q install python3 python3-apt >/dev/null
apt-get clean`
	out, err := exec.Command("systemd-nspawn", "-q", "--register=no", "--keep-unit", "-D", rootfs, "--pipe", "/bin/sh", "-c", script).CombinedOutput()
	if err != nil {
		return true, fmt.Errorf("preparing the image: %v: %s", err, out)
	}
	return true, nil
}

// tools builds omc and checks the arms' commands.
func (b *bench) tools() error {
	b.omc = b.c.omc
	if b.omc == "" {
		b.omc = filepath.Join(b.c.work, "omc")
		b.logf("building omc")
		cmd := exec.Command("go", "build", "-o", b.omc, ".")
		cmd.Dir, cmd.Stdout, cmd.Stderr = b.root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building omc: %w", err)
		}
	}
	for _, a := range b.c.arms {
		if strings.HasPrefix(a, "ansible") {
			if _, err := exec.LookPath("ansible-playbook"); err != nil {
				return fmt.Errorf("arm %s needs ansible-playbook: apt-get install ansible", a)
			}
		}
	}
	return nil
}

// keys makes the client key every arm logs in with, and the TLS
// certificate the workload installs.
func (b *bench) keys() error {
	b.keyFile = filepath.Join(b.c.work, "id_ed25519")
	if _, err := os.Stat(b.keyFile); err != nil {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		blk, err := ssh.MarshalPrivateKey(priv, "omc-bench")
		if err != nil {
			return err
		}
		if err := os.WriteFile(b.keyFile, pem.EncodeToMemory(blk), 0o600); err != nil {
			return err
		}
		sp, _ := ssh.NewPublicKey(pub)
		if err := os.WriteFile(b.keyFile+".pub", ssh.MarshalAuthorizedKey(sp), 0o644); err != nil {
			return err
		}
	}
	var err error
	b.cert, b.certKey, err = selfSigned()
	return err
}

// cell runs every arm and scenario for one N.
func (b *bench) cell(ctx context.Context, f Fleet, n int) error {
	if n > len(f.Hosts()) {
		return fmt.Errorf("need %d hosts, fleet has %d", n, len(f.Hosts()))
	}
	e := &env{work: filepath.Join(b.c.work, fmt.Sprintf("n%d-%s", n, f.Kind())), self: b.self, omc: b.omc, keyFile: b.keyFile,
		fleet: f, hosts: f.Hosts()[:n], steps: workload(f.Systemd(), b.cert, b.certKey)}
	if err := e.setup(); err != nil {
		return err
	}
	defer e.closeLatency()
	arms := slices.Clone(b.c.arms)
	rng := mrand.New(mrand.NewPCG(b.c.seed, uint64(n)))
	rng.Shuffle(len(arms), func(i, j int) { arms[i], arms[j] = arms[j], arms[i] })
	b.logf("N=%d on %s hosts, %d steps per host; arm order %v", n, f.Kind(), len(e.steps), arms)
	for _, arm := range arms {
		if !b.wants(arm, "cold", n) && !b.later(arm, n) {
			b.logf("N=%d %s: skipped", n, arm)
		}
	}
	// Cold runs take turns: round r runs one cold run of each arm, the arm
	// order turned by r, so that a machine slowing down through a cell
	// (seen: in every N=5 cell the arm run second was the slower) slows
	// every arm alike. An arm's last cold run is kept back to go right
	// before its other scenarios, which start from the hosts it leaves.
	inRounds := map[string]int{}
	for _, arm := range arms {
		inRounds[arm] = b.coldRuns(arm, n)
		if b.later(arm, n) {
			inRounds[arm]--
		}
	}
	done := map[string]int{}
	retried := map[string]bool{}
	for _, round := range coldRounds(arms, inRounds) {
		for _, arm := range round {
			if _, err := b.cold(ctx, e, arm, n, done[arm], retried, false); err != nil {
				return err
			}
			done[arm]++
		}
		if err := b.write(); err != nil {
			return err
		}
	}
	for _, arm := range arms {
		if !b.later(arm, n) {
			continue
		}
		ok, err := b.cold(ctx, e, arm, n, done[arm], retried, true)
		if err != nil {
			return err
		}
		if ok {
			if err := b.scenarios(ctx, e, arm, n); err != nil {
				return err
			}
		}
		if err := b.write(); err != nil {
			return err
		}
	}
	return nil
}

// coldRounds orders the arms' cold runs in rounds: round r has one run of
// each arm with runs[arm] > r, in arms' order turned left by r, so that
// each arm takes each place in turn.
func coldRounds(arms []string, runs map[string]int) [][]string {
	var rounds [][]string
	for r := 0; ; r++ {
		var round []string
		for i := range arms {
			if arm := arms[(i+r)%len(arms)]; runs[arm] > r {
				round = append(round, arm)
			}
		}
		if len(round) == 0 {
			return rounds
		}
		rounds = append(rounds, round)
	}
}

// wants says whether scenario sc of arm runs at N=n.
func (b *bench) wants(arm, sc string, n int) bool {
	if checkOnly(arm) && (sc == "cold" || sc == "drift") {
		return false
	}
	return slices.Contains(b.c.scenarios, sc) && !b.skipped(arm, sc, n)
}

// later says whether arm has scenarios after cold at N=n: they need the
// hosts converged by that arm, so it has one cold run even if cold itself
// is not wanted (that run is then not recorded).
func (b *bench) later(arm string, n int) bool {
	return b.wants(arm, "noop", n) || b.wants(arm, "drift", n) || (b.wants(arm, "down", n) && n > 1) || b.wants(arm, "latency", n)
}

// coldRuns is how many cold runs arm has at N=n.
func (b *bench) coldRuns(arm string, n int) int {
	switch {
	case b.wants(arm, "cold", n):
		return max(1, b.runsFor(arm, "cold", n))
	case b.later(arm, n):
		return 1
	}
	return 0
}

func (b *bench) runsFor(arm, scenario string, n int) int {
	ans := strings.HasPrefix(arm, "ansible")
	switch {
	case scenario == "cold" && ans:
		return min(b.c.coldRuns, b.c.ansibleColdRuns)
	case scenario == "cold":
		return b.c.coldRuns
	case scenario == "noop" && b.c.quick && arm == "omc":
		return 2
	case ans && n >= b.c.loopFrom:
		return min(b.c.runs, b.c.ansibleRunsBig)
	case ans:
		return min(b.c.runs, b.c.ansibleRuns)
	}
	return b.c.runs
}

func (b *bench) skipped(arm, sc string, n int) bool {
	for _, p := range b.c.skip {
		f := strings.Split(p, ":")
		if len(f) == 3 && (f[0] == "*" || f[0] == arm) && (f[1] == "*" || f[1] == sc) && (f[2] == "*" || f[2] == strconv.Itoa(n)) {
			return true
		}
	}
	return false
}

// cold runs arm's cold run r (1-based in the record as run r+1) on fresh
// hosts. Now and then a unit fails to start on a loaded machine (seen for
// nftables, in every arm): such a run is said with its output and the
// failed units' journals, kept out of the medians and tried once more on
// fresh hosts, once per arm and cell; failing again it is a failure. ok
// says the hosts are left converged by arm: when last (the run other
// scenarios start from) a failed run is followed by an untimed re-converge.
func (b *bench) cold(ctx context.Context, e *env, arm string, n, r int, retried map[string]bool, last bool) (ok bool, err error) {
	keep := b.wants(arm, "cold", n)
	for {
		b.logf("N=%d %s: resetting hosts", n, arm)
		t0 := time.Now()
		if err := e.fleet.Reset(ctx, n); err != nil {
			return false, fmt.Errorf("reset: %w", err)
		}
		b.logf("N=%d %s: reset in %.1fs", n, arm, time.Since(t0).Seconds())
		nf := len(b.failures)
		rec, err := b.timed(ctx, e, arm, "cold", n, r, nil)
		if err != nil {
			return false, err
		}
		if rec.Failed == 0 && rec.StateOK {
			if !keep {
				b.records = b.records[:len(b.records)-1]
			}
			return true, nil
		}
		why := b.unitJournals(ctx, e, rec)
		if !retried[arm] {
			b.logf("N=%d %s cold run %d: %d hosts failed in %.1fs; trying the cold run once more on fresh hosts. Output:\n%s\n%s", n, arm, r+1, rec.Failed, rec.WallS, tail(rec.output, 3000), why)
			b.notes = append(b.notes, fmt.Sprintf("N=%d %s cold run %d: %d hosts failed (%.1fs; not in the medians; run again on fresh hosts): %s", n, arm, r+1, rec.Failed, rec.WallS, oneLine(why)))
			b.failures, b.records = b.failures[:nf], b.records[:len(b.records)-1]
			retried[arm] = true
			continue
		}
		b.fail("N=%d %s cold: %d hosts failed:\n%s\n%s", n, arm, rec.Failed, tail(rec.output, 3000), why)
		if !keep {
			b.records = b.records[:len(b.records)-1]
		}
		if !last {
			return false, nil
		}
		// Later scenarios start from a re-converge (untimed) rather than
		// being skipped.
		if err := b.reconverge(ctx, e, arm, n); err != nil {
			b.fail("N=%d %s: %v; later scenarios skipped", n, arm, err)
			return false, nil
		}
		return true, nil
	}
}

// scenarios runs arm's no-op, drift and down scenarios on hosts arm has
// just converged.
func (b *bench) scenarios(ctx context.Context, e *env, arm string, n int) error {
	want := func(sc string) bool { return b.wants(arm, sc, n) }
	if want("noop") {
		for r := range b.runsFor(arm, "noop", n) {
			before, err := e.check(ctx, nil)
			if err != nil {
				return err
			}
			rec, err := b.timed(ctx, e, arm, "noop", n, r, nil)
			if err != nil {
				return err
			}
			after, err := e.check(ctx, nil)
			if err != nil {
				return err
			}
			for name, st := range after {
				for p, s := range st.stamps {
					if before[name].stamps[p] != s {
						b.records[len(b.records)-1].Writes++
						b.notes = append(b.notes, fmt.Sprintf("N=%d %s noop: %s: %s was written (%s → %s)", n, arm, name, p, before[name].stamps[p], s))
					}
				}
			}
			rec = &b.records[len(b.records)-1]
			if rec.Changed > 0 || rec.Writes > 0 {
				b.fail("N=%d %s no-op: %d changed, %d paths written", n, arm, rec.Changed, rec.Writes)
			}
			if arm == "omc" && (rec.MaxConns > 1 || rec.MaxExecs > 1 || rec.SFTP > 0) {
				b.fail("N=%d omc no-op: %d connections, %d execs per host at most, %d sftp sessions (want 1, 1, 0)", n, rec.MaxConns, rec.MaxExecs, rec.SFTP)
			}
		}
	}
	if want("drift") {
		k := max(1, int(math.Ceil(float64(n)/10)))
		for r := range b.runsFor(arm, "drift", n) {
			if err := e.drift(ctx, k); err != nil {
				return err
			}
			rec, err := b.timed(ctx, e, arm, "drift", n, r, nil)
			if err != nil {
				return err
			}
			if rec.ChangedHosts != k {
				b.fail("N=%d %s drift: %d hosts changed, want %d", n, arm, rec.ChangedHosts, k)
			}
		}
	}
	if want("latency") {
		pe, err := e.withLatency(b.c.rtt)
		if err != nil {
			return err
		}
		for r := range b.runsFor(arm, "latency", n) {
			b0 := pe.bursts()
			rec, err := b.timed(ctx, pe, arm, "latency", n, r, nil)
			if err != nil {
				return err
			}
			b1 := pe.bursts()
			var per []float64
			for i := range b1 {
				per = append(per, float64(b1[i]-b0[i]))
			}
			rec.RTTMS = float64(b.c.rtt.Milliseconds())
			rec.RoundTrips, rec.MaxRoundTrips = median(per), slices.Max(per)
			b.logf("N=%-3d %-13s latency run %d: %.1f round trips per host (max %.0f) at %v RTT", n, arm, r+1, rec.RoundTrips, rec.MaxRoundTrips, b.c.rtt)
			if rec.Changed > 0 || rec.Failed > 0 {
				b.fail("N=%d %s latency: %d changed, %d failed", n, arm, rec.Changed, rec.Failed)
			}
		}
	}
	if want("down") && n > 1 {
		down := e.hosts[n-1]
		if err := e.fleet.Down(ctx, down); err != nil {
			return err
		}
		for r := range b.runsFor(arm, "down", n) {
			rec, err := b.timed(ctx, e, arm, "down", n, r, down)
			if err != nil {
				return err
			}
			if rec.Exit == 0 || rec.Failed != 1 {
				b.fail("N=%d %s down: exit %d, %d hosts failed (want non-zero, 1)", n, arm, rec.Exit, rec.Failed)
			}
		}
		if err := e.fleet.Up(ctx, down); err != nil {
			return err
		}
	}
	return nil
}

// unitJournals says, for each host the run's check found not in the
// wanted end state, which units failed and their last journal lines: the
// only trace of a start failure for arms (the floor, Ansible) that do not
// print it.
func (b *bench) unitJournals(ctx context.Context, e *env, rec *record) string {
	if !e.fleet.Systemd() {
		return ""
	}
	var out strings.Builder
	for _, h := range e.hosts {
		if !slices.Contains(rec.wrong, h.Name) {
			continue
		}
		j, err := e.fleet.Exec(ctx, h, `for u in $(systemctl list-units --failed --plain --no-legend | cut -d' ' -f1); do echo "== $u"; journalctl -u "$u" -n 12 --no-pager -o short-monotonic; done`)
		if err != nil {
			j += err.Error()
		}
		fmt.Fprintf(&out, "%s failed units:\n%s\n", h.Name, strings.TrimSpace(tail(j, 2500)))
	}
	return out.String()
}

// reconverge runs the arm once more, untimed, on the hosts a failed cold
// run left, and says whether they are now in the wanted end state.
func (b *bench) reconverge(ctx context.Context, e *env, arm string, n int) error {
	b.logf("N=%d %s: re-converging, untimed", n, arm)
	o, err := e.run(ctx, converger(arm))
	if err != nil {
		return fmt.Errorf("re-converge: %w", err)
	}
	st, err := e.check(ctx, nil)
	if err != nil {
		return err
	}
	for name, s := range st {
		if len(s.diffs) > 0 {
			return fmt.Errorf("re-converge: %s still differs: %s\n%s", name, strings.Join(s.diffs, "; "), tail(o.Output, 1500))
		}
	}
	b.notes = append(b.notes, fmt.Sprintf("N=%d %s: later scenarios started from an untimed re-converge (exit %d, changed %d on %d hosts)", n, arm, o.Exit, o.Changed, o.ChangedHosts))
	return nil
}

func oneLine(s string) string {
	return tail(strings.Join(strings.Fields(s), " "), 800)
}

// timed runs one arm once with SSH counts and the end-state check.
func (b *bench) timed(ctx context.Context, e *env, arm, scenario string, n, r int, down *Host) (*record, error) {
	before, err := e.counts(ctx)
	if err != nil {
		return nil, err
	}
	runArm := arm
	if scenario == "cold" {
		runArm = converger(arm)
	}
	o, err := e.run(ctx, runArm)
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", runArm, err, tail(o.Output, 2000))
	}
	after, err := e.counts(ctx)
	if err != nil {
		return nil, err
	}
	rec := record{Arm: arm, Scenario: scenario, N: n, Kind: e.fleet.Kind(), Run: r + 1,
		WallS: o.Wall, UserS: o.User, SysS: o.Sys, MaxRSSMB: o.MaxRSSMB, Exit: o.Exit,
		Changed: o.Changed, ChangedHosts: o.ChangedHosts, Failed: o.Failed, AptMaxS: o.AptMax, MachineCPUS: o.MachineCPU, output: o.Output}
	live := 0
	for i, h := range e.hosts {
		if h == down {
			continue
		}
		live++
		c, s, f := after[i][0]-before[i][0], after[i][1]-before[i][1], after[i][2]-before[i][2]
		rec.Conns += c
		rec.Execs += s
		rec.SFTP += f
		rec.MaxConns = max(rec.MaxConns, c)
		rec.MaxExecs = max(rec.MaxExecs, s)
	}
	if live > 0 {
		rec.ConnsPerHost = float64(rec.Conns) / float64(live)
		rec.ExecsPerHost = float64(rec.Execs) / float64(live)
	}
	st, err := e.check(ctx, down)
	if err != nil {
		return nil, err
	}
	for name, s := range st {
		if len(s.diffs) > 0 {
			rec.wrong = append(rec.wrong, name)
			if len(rec.wrong) <= 2 {
				b.notes = append(b.notes, fmt.Sprintf("N=%d %s %s: %s differs: %s", n, arm, scenario, name, strings.Join(s.diffs, "; ")))
			}
		}
	}
	bad := len(rec.wrong)
	rec.StateOK = bad == 0
	if !rec.StateOK {
		b.fail("N=%d %s %s run %d: %d hosts not in the wanted end state (see notes)\n%s", n, arm, scenario, r+1, bad, tail(o.Output, 1500))
	}
	b.records = append(b.records, rec)
	if runArm != arm {
		arm += " (" + runArm + ")"
	}
	b.logf("N=%-3d %-13s %-5s run %d: %7.2fs  exit %d  changed %d on %d hosts  failed %d  conns/host %.1f execs/host %.1f sftp %d  cpu %.2fs  rss %.0fMB  machine cpu %.1fs",
		n, arm, scenario, r+1, o.Wall, o.Exit, o.Changed, o.ChangedHosts, o.Failed, rec.ConnsPerHost, rec.ExecsPerHost, rec.SFTP, o.User+o.Sys, o.MaxRSSMB, o.MachineCPU)
	return &b.records[len(b.records)-1], nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s) == 0 {
		return math.NaN()
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
