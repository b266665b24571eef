package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/omc-coop/omc/internal/rttproxy"
	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
)

// env is everything the arms need for one N.
type env struct {
	work      string // per-N dir
	self      string // this program, for the floor arm
	omc       string
	keyFile   string
	fleet     Fleet
	hosts     []*Host // the N hosts
	steps     []step
	ansDir    string
	omcInv    string
	floorJSON string // floor-script's hosts
	probeJSON string // floor's hosts: omc's own probe

	// The latency scenario: the same hosts through delaying proxies.
	latency *env
	proxies []*rttproxy.Proxy
}

// withLatency is e with each host behind a proxy on 127.0.0.1 that adds
// rtt to every round trip and counts them (internal/rttproxy), and the
// arms' inputs (inventory, known_hosts, floor hosts) made for those
// addresses. The proxies last until closeLatency.
func (e *env) withLatency(rtt time.Duration) (*env, error) {
	if e.latency != nil {
		return e.latency, nil
	}
	pe := *e
	pe.work, pe.hosts, pe.latency, pe.proxies = filepath.Join(e.work, "latency"), nil, nil, nil
	for _, h := range e.hosts {
		p, err := rttproxy.Start(net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)), rtt)
		if err != nil {
			e.closeLatency()
			return nil, err
		}
		e.proxies = append(e.proxies, p)
		hc := *h
		hc.Addr, hc.Port = "127.0.0.1", p.Port()
		pe.hosts = append(pe.hosts, &hc)
	}
	pe.proxies = e.proxies
	if err := pe.setup(); err != nil {
		e.closeLatency()
		return nil, err
	}
	e.latency = &pe
	return &pe, nil
}

// bursts is each proxy's count of client write bursts so far.
func (e *env) bursts() []int64 {
	out := make([]int64, len(e.proxies))
	for i, p := range e.proxies {
		out[i] = p.Bursts()
	}
	return out
}

func (e *env) closeLatency() {
	for _, p := range e.proxies {
		p.Close()
	}
	e.proxies, e.latency = nil, nil
}

// outcome is what one timed run of one arm did.
type outcome struct {
	Wall, User, Sys float64 // seconds
	MaxRSSMB        float64
	Exit            int
	Changed         int // steps/tasks changed, all hosts
	ChangedHosts    int
	Failed          int // hosts failed or unreachable
	AptMax          float64
	MachineCPU      float64 // seconds of busy CPU, whole machine (see machineBusy)
	Output          string
}

func (e *env) setup() error {
	if err := os.MkdirAll(e.work, 0o755); err != nil {
		return err
	}
	kh := filepath.Join(e.work, "known_hosts")
	if err := writeKnownHosts(kh, e.hosts); err != nil {
		return err
	}
	e.omcInv = filepath.Join(e.work, "omc.yaml")
	if err := writeOmcInventory(e.omcInv, e.hosts, e.steps, e.fleet.Systemd(), e.keyFile); err != nil {
		return err
	}
	e.ansDir = filepath.Join(e.work, "ansible")
	if err := writeAnsible(e.ansDir, e.hosts, e.steps, e.fleet.Systemd(), e.keyFile, kh); err != nil {
		return err
	}
	probes, err := omcProbes(e.omcInv)
	if err != nil {
		return err
	}
	var fh, ph []floorHost
	for _, h := range e.hosts {
		p := filepath.Join(e.work, "floor-"+h.Name+".sh")
		if err := os.WriteFile(p, []byte(floorScript(e.steps, h.In, h.Name)), 0o644); err != nil {
			return err
		}
		fh = append(fh, floorHost{Name: h.Name, Addr: h.Addr, Port: h.Port, HostKey: h.HostKey, Script: p})
		pp := filepath.Join(e.work, "probe-"+h.Name+".sh")
		if err := os.WriteFile(pp, []byte(probes[h.Name]), 0o644); err != nil {
			return err
		}
		ph = append(ph, floorHost{Name: h.Name, Addr: h.Addr, Port: h.Port, HostKey: h.HostKey, Script: pp, Arg: true})
	}
	e.floorJSON = filepath.Join(e.work, "floor-hosts.json")
	e.probeJSON = filepath.Join(e.work, "probe-hosts.json")
	if err := writeJSON(e.floorJSON, fh); err != nil {
		return err
	}
	return writeJSON(e.probeJSON, ph)
}

// omcProbes is, per node of omc's inventory, the probe omc up sends to
// check its steps: the floor's script, taken from omc's own code.
func omcProbes(invPath string) (map[string]string, error) {
	inv, err := inventory.Load(invPath)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range inv.Nodes() {
		steps, err := provision.Steps(inv, n)
		if err != nil {
			return nil, err
		}
		out[n.Name] = provision.ProbeScript(steps)
	}
	return out, nil
}

// run runs one arm once and measures it: wall time, and the controller's
// CPU and peak RSS from the process tree's rusage (wait4). The peak RSS
// is GNU time's (%M) when /usr/bin/time is there: a child of this process
// inherits its RSS high-water mark at exec (Linux sets the new program's
// maxrss from the old address space, which for Go's vfork-style start is
// this process's), so the bench's own size (59 MB at N=200) would show
// as every arm's floor. time is small, and forks the arm itself.
func (e *env) run(ctx context.Context, arm string) (outcome, error) {
	var cmd *exec.Cmd
	switch arm {
	case "omc":
		cmd = exec.CommandContext(ctx, e.omc, "up", "bench", "-i", e.omcInv, "-o", "json")
		cmd.Env = append(os.Environ(), "CI=true", "OMC_STATE_DIR="+filepath.Join(e.work, "omc-state"))
	case "floor":
		cmd = exec.CommandContext(ctx, e.self, "floor", "-hosts", e.probeJSON, "-key", e.keyFile, "-timeout", e.floorTimeout().String())
	case "floor-script":
		cmd = exec.CommandContext(ctx, e.self, "floor", "-hosts", e.floorJSON, "-key", e.keyFile, "-timeout", e.floorTimeout().String())
	case "ansible", "ansible-tuned":
		cfg := "ansible.cfg"
		if arm == "ansible-tuned" {
			cfg = "ansible-tuned.cfg"
		}
		cmd = exec.CommandContext(ctx, "ansible-playbook", "-i", "hosts.ini", "site.yml")
		cmd.Dir = e.ansDir
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(e.ansDir, cfg), "ANSIBLE_NOCOLOR=1",
			"ANSIBLE_SSH_CONTROL_PATH_DIR="+e.controlDir(arm), "ANSIBLE_RETRY_FILES_ENABLED=0")
	default:
		return outcome{}, fmt.Errorf("unknown arm %q", arm)
	}
	rssFile := ""
	if _, err := os.Stat(gnuTime); err == nil {
		f, err := os.CreateTemp(e.work, "rss-")
		if err != nil {
			return outcome{}, err
		}
		f.Close()
		rssFile = f.Name()
		defer os.Remove(rssFile)
		args := append([]string{"-q", "-f", "%M", "-o", rssFile, "--"}, cmd.Args...)
		args[len(args)-len(cmd.Args)] = cmd.Path
		wrapped := exec.CommandContext(ctx, gnuTime, args...)
		wrapped.Dir, wrapped.Env = cmd.Dir, cmd.Env
		cmd = wrapped
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	busy0 := machineBusy()
	t0 := time.Now()
	err := cmd.Run()
	o := outcome{Wall: time.Since(t0).Seconds(), Output: out.String(), MachineCPU: machineBusy() - busy0}
	if cmd.ProcessState == nil {
		return o, err
	}
	o.Exit = cmd.ProcessState.ExitCode()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		o.User = time.Duration(ru.Utime.Nano()).Seconds()
		o.Sys = time.Duration(ru.Stime.Nano()).Seconds()
		o.MaxRSSMB = float64(ru.Maxrss) / 1024
	}
	if rssFile != "" {
		b, _ := os.ReadFile(rssFile)
		kb, err := strconv.ParseFloat(strings.TrimSpace(lastLine(string(b))), 64)
		if err != nil {
			return o, fmt.Errorf("%s: reading GNU time's peak RSS %q: %v", arm, b, err)
		}
		o.MaxRSSMB = kb / 1024
	}
	switch arm {
	case "omc":
		parseOmc(&o)
	case "floor", "floor-script":
		parseFloor(&o)
	default:
		parseAnsible(&o, len(e.hosts))
		e.closeMasters(arm)
	}
	return o, nil
}

// gnuTime measures an arm's peak RSS (see run); Debian package time.
const gnuTime = "/usr/bin/time"

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// floorTimeout bounds a floor's connect and handshake: omc's default
// (15 s), but a minute from N=100 on, where the floor's handshakes, all at
// once (omc's are 10 at a time), queue for the CPU longer than that.
func (e *env) floorTimeout() time.Duration {
	if len(e.hosts) >= 100 {
		return time.Minute
	}
	return 15 * time.Second
}

// machineBusy is the CPU time the whole machine has spent busy (user,
// nice, system, irq, softirq, steal in /proc/stat), in seconds. The hosts
// share this machine's CPUs with the controller, so over one run on an
// otherwise quiet machine it is the work that run took, on the
// controller and every host together: unlike wall time it does not
// depend on who waited for whom.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system (idle iowait) irq softirq steal
		v, _ := strconv.ParseFloat(f[i], 64)
		busy += v
	}
	return busy / 100 // USER_HZ, 100 on Linux
}

func (e *env) controlDir(arm string) string { return filepath.Join(e.work, "cp-"+arm) }

// closeMasters ends the SSH control masters an Ansible run left (they
// persist for 60 s or 30 min), so that every run of every arm starts
// with no connection open, as omc's and the floor's do.
func (e *env) closeMasters(arm string) {
	ents, _ := os.ReadDir(e.controlDir(arm))
	var wg sync.WaitGroup
	for _, ent := range ents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := filepath.Join(e.controlDir(arm), ent.Name())
			c := exec.Command("ssh", "-o", "ControlPath="+p, "-O", "exit", "bench-master")
			_ = c.Run()
		}()
	}
	wg.Wait()
}

func parseOmc(o *outcome) {
	hostsChanged := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(o.Output))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev struct {
			Type, Host, Status, Step string
			Failed                   int
			DurationMS               int64 `json:"duration_ms"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		// The workload's one packages step is omc's apt-get time.
		if ev.Type == "step" && strings.HasPrefix(ev.Step, "packages ") {
			o.AptMax = max(o.AptMax, float64(ev.DurationMS)/1000)
		}
		switch {
		case ev.Type == "step" && ev.Status == "changed":
			o.Changed++
			hostsChanged[ev.Host] = true
		case ev.Type == "summary":
			o.Failed = ev.Failed
		}
	}
	o.ChangedHosts = len(hostsChanged)
}

func parseFloor(o *outcome) {
	sc := bufio.NewScanner(strings.NewReader(o.Output))
	for sc.Scan() {
		var r floorResult
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		if r.Err != "" {
			o.Failed++
		}
		o.Changed += r.Changed
		if r.Changed > 0 {
			o.ChangedHosts++
		}
		if r.AptS > o.AptMax {
			o.AptMax = r.AptS
		}
	}
}

var recapRe = regexp.MustCompile(`(?m)^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

func parseAnsible(o *outcome, n int) {
	for _, m := range recapRe.FindAllStringSubmatch(o.Output, -1) {
		c, _ := strconv.Atoi(m[3])
		u, _ := strconv.Atoi(m[4])
		f, _ := strconv.Atoi(m[5])
		o.Changed += c
		if c > 0 {
			o.ChangedHosts++
		}
		if u > 0 || f > 0 {
			o.Failed++
		}
	}
}

// counts reads every host's cumulative SSH counts.
func (e *env) counts(ctx context.Context) ([][3]int, error) {
	res := make([][3]int, len(e.hosts))
	errs := make([]error, len(e.hosts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, startParallel)
	for i, h := range e.hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, s, f, err := e.fleet.Counts(ctx, h)
			res[i], errs[i] = [3]int{c, s, f}, err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

// hostState is what the checker saw on one host.
type hostState struct {
	diffs  []string          // differences from the wanted end state
	stamps map[string]string // path → inode and ctime
}

// check runs the independent checker on every host but skip (a down
// host): it reads the state without SSH and compares it with the
// workload's wanted end state.
func (e *env) check(ctx context.Context, skip *Host) (map[string]hostState, error) {
	res := map[string]hostState{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	sem := make(chan struct{}, startParallel)
	for _, h := range e.hosts {
		if h == skip {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := e.fleet.Exec(ctx, h, dumpScript(e.steps, h.Root, h.Name))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = err
				return
			}
			st := hostState{stamps: map[string]string{}}
			got := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				k, v, _ := strings.Cut(l, "\t")
				if p, ok := strings.CutPrefix(k, "stamp:"); ok {
					st.stamps[p] = v
					continue
				}
				if k != "" {
					got[k] = v
				}
			}
			want := expected(e.steps, h.Root, h.Name)
			for k, w := range want {
				if g, ok := got[k]; !ok {
					st.diffs = append(st.diffs, k+": missing (want "+w+")")
				} else if g != w {
					st.diffs = append(st.diffs, k+": "+g+" (want "+w+")")
				}
			}
			for k, g := range got {
				if _, ok := want[k]; !ok {
					st.diffs = append(st.diffs, k+": unexpected "+g)
				}
			}
			sort.Strings(st.diffs)
			res[h.Name] = st
		}()
	}
	wg.Wait()
	return res, firstErr
}

// drift edits one managed file and stops the service on the first k hosts.
func (e *env) drift(ctx context.Context, k int) error {
	for _, h := range e.hosts[:k] {
		script := "printf '# drift: edited by hand\\n' >> " + shell.Quote(h.Root+"/etc/turnserver.conf")
		if e.fleet.Systemd() {
			script += " && systemctl stop coturn"
		}
		if _, err := e.fleet.Exec(ctx, h, script); err != nil {
			return err
		}
	}
	return nil
}
