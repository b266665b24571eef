package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// record is one timed run.
type record struct {
	Arm          string  `json:"arm"`
	Scenario     string  `json:"scenario"`
	N            int     `json:"n"`
	Kind         string  `json:"hosts"`
	Run          int     `json:"run"`
	WallS        float64 `json:"wall_s"`
	UserS        float64 `json:"user_s"`
	SysS         float64 `json:"sys_s"`
	MaxRSSMB     float64 `json:"max_rss_mb"`
	Exit         int     `json:"exit"`
	Changed      int     `json:"changed"`
	ChangedHosts int     `json:"changed_hosts"`
	Failed       int     `json:"failed_hosts"`
	Conns        int     `json:"ssh_connections"`
	Execs        int     `json:"ssh_sessions"`
	SFTP         int     `json:"sftp_sessions"`
	ConnsPerHost float64 `json:"connections_per_host"`
	ExecsPerHost float64 `json:"sessions_per_host"`
	MaxConns     int     `json:"max_connections_per_host"`
	MaxExecs     int     `json:"max_sessions_per_host"`
	Writes       int     `json:"noop_paths_written"`
	AptMaxS      float64 `json:"apt_max_s,omitempty"`
	MachineCPUS  float64 `json:"machine_cpu_s"`
	StateOK      bool    `json:"end_state_ok"`
	// The latency scenario: the added round-trip time, and the client's
	// write bursts per host counted at the proxy (median, max over hosts).
	RTTMS         float64 `json:"rtt_ms,omitempty"`
	RoundTrips    float64 `json:"round_trips_per_host,omitempty"`
	MaxRoundTrips float64 `json:"max_round_trips_per_host,omitempty"`
	output        string
	wrong         []string // hosts the checker found not in the wanted end state
}

// summary is one cell: arm × scenario × N.
type summary struct {
	Arm          string  `json:"arm"`
	Scenario     string  `json:"scenario"`
	N            int     `json:"n"`
	MedianS      float64 `json:"median_s"`
	MinS         float64 `json:"min_s"`
	MaxS         float64 `json:"max_s"`
	Runs         int     `json:"runs"`
	Hosts        string  `json:"hosts"`
	CPUS         float64 `json:"controller_cpu_s"`
	MaxRSSMB     float64 `json:"controller_max_rss_mb"`
	ConnsPerHost float64 `json:"connections_per_host"`
	ExecsPerHost float64 `json:"sessions_per_host"`
	Changed      int     `json:"changed_median"`
	StateOK      bool    `json:"end_state_ok"`
	AptMaxS      float64 `json:"apt_max_s,omitempty"`
	MachineCPUS  float64 `json:"machine_cpu_s"`
	RTTMS        float64 `json:"rtt_ms,omitempty"`
	RoundTrips   float64 `json:"round_trips_per_host,omitempty"`
}

func (b *bench) summaries() []summary {
	type key struct {
		arm, sc string
		n       int
	}
	groups := map[key][]record{}
	var order []key
	for _, r := range b.records {
		k := key{r.Arm, r.Scenario, r.N}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []summary
	for _, k := range order {
		rs := groups[k]
		var wall, cpu, conns, execs, changed, apt, mcpu, rts []float64
		s := summary{Arm: k.arm, Scenario: k.sc, N: k.n, Runs: len(rs), Hosts: rs[0].Kind, StateOK: true}
		for _, r := range rs {
			wall = append(wall, r.WallS)
			cpu = append(cpu, r.UserS+r.SysS)
			conns = append(conns, r.ConnsPerHost)
			execs = append(execs, r.ExecsPerHost)
			changed = append(changed, float64(r.Changed))
			apt = append(apt, r.AptMaxS)
			mcpu = append(mcpu, r.MachineCPUS)
			rts = append(rts, r.RoundTrips)
			s.RTTMS = r.RTTMS
			s.MaxRSSMB = max(s.MaxRSSMB, r.MaxRSSMB)
			s.StateOK = s.StateOK && r.StateOK
		}
		s.MedianS, s.MinS, s.MaxS = median(wall), slices.Min(wall), slices.Max(wall)
		s.CPUS, s.ConnsPerHost, s.ExecsPerHost = median(cpu), median(conns), median(execs)
		s.Changed, s.AptMaxS, s.MachineCPUS, s.RoundTrips = int(median(changed)), median(apt), median(mcpu), median(rts)
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, c summary) int {
		if a.N != c.N {
			return a.N - c.N
		}
		if d := slices.Index(allScenarios, a.Scenario) - slices.Index(allScenarios, c.Scenario); d != 0 {
			return d
		}
		return slices.Index(allArms, a.Arm) - slices.Index(allArms, c.Arm)
	})
	return out
}

// floorFor is the floor a cell is compared with: omc's probe in one exec
// (floor) where it ran, else the hand-written script (floor-script: cold
// and drift, which the probe cannot do).
func (b *bench) floorFor(sc string, n int) *summary {
	if f := b.find("floor", sc, n); f != nil {
		return f
	}
	return b.find("floor-script", sc, n)
}

func (b *bench) find(arm, sc string, n int) *summary {
	for _, s := range b.summaries() {
		if s.Arm == arm && s.Scenario == sc && s.N == n {
			return &s
		}
	}
	return nil
}

// besidesApt is the median over arm's cold runs at n of the wall time
// less the slowest host's apt-get time in that run.
func (b *bench) besidesApt(arm string, n int) float64 {
	var xs []float64
	for _, r := range b.records {
		if r.Arm == arm && r.Scenario == "cold" && r.N == n && r.StateOK {
			xs = append(xs, r.WallS-r.AptMaxS)
		}
	}
	return median(xs)
}

// write saves latest.json (the records the issue asks for), the runs,
// and the markdown report.
func (b *bench) write() error {
	dir := b.c.out
	if b.c.quick {
		dir = filepath.Join(b.c.work, "quick-results")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sums := b.summaries()
	type cell struct {
		Arm        string  `json:"arm"`
		Scenario   string  `json:"scenario"`
		N          int     `json:"n"`
		Hosts      string  `json:"hosts"`
		MedianS    float64 `json:"median_s"`
		MinS       float64 `json:"min_s"`
		MaxS       float64 `json:"max_s"`
		Runs       int     `json:"runs"`
		CPUS       float64 `json:"controller_cpu_s"`
		MaxRSSMB   float64 `json:"controller_max_rss_mb"`
		MachineCPU float64 `json:"machine_cpu_s"`
		RTTMS      float64 `json:"rtt_ms,omitempty"`
		RoundTrips float64 `json:"round_trips_per_host,omitempty"`
	}
	l := struct {
		Run     string       `json:"run"`
		Commit  string       `json:"commit"`
		Machine string       `json:"machine"`
		Command string       `json:"command"`
		Cells   []cell       `json:"cells"`
		Fleet   []fleetBench `json:"fleet_commands,omitempty"`
	}{Run: b.start.UTC().Format(time.RFC3339), Commit: gitHead(), Machine: machine(), Command: "go run ./bench " + strings.Join(os.Args[1:], " "), Fleet: b.fleet}
	for _, s := range sums {
		l.Cells = append(l.Cells, cell{s.Arm, s.Scenario, s.N, s.Hosts, round(s.MedianS), round(s.MinS), round(s.MaxS), s.Runs,
			round(s.CPUS), round(s.MaxRSSMB), round(s.MachineCPUS), s.RTTMS, s.RoundTrips})
	}
	if err := writeJSON(filepath.Join(dir, "latest.json"), l); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "cells.json"), sums); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "runs.json"), b.records); err != nil {
		return err
	}
	md := b.markdown(sums)
	if err := os.WriteFile(filepath.Join(dir, "RESULTS.md"), []byte(md), 0o644); err != nil {
		return err
	}
	b.plot(dir, sums)
	return nil
}

func round(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func (b *bench) table(sums []summary) string {
	var t strings.Builder
	t.WriteString("| N | hosts | scenario | arm | median s | min–max s | runs | × floor | omc faster by | conns/host | sessions/host | round trips/host | changed | ctl CPU s | ctl peak RSS MB | machine CPU s | end state |\n")
	t.WriteString("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, s := range sums {
		xf, faster := "", ""
		if f := b.floorFor(s.Scenario, s.N); f != nil && f.MedianS > 0 {
			xf = fmt.Sprintf("%.2f×", s.MedianS/f.MedianS)
		}
		if o := b.find("omc", s.Scenario, s.N); o != nil && s.Arm != "omc" && o.MedianS > 0 {
			faster = fmt.Sprintf("%.1f×", s.MedianS/o.MedianS)
		}
		ok := "ok"
		if !s.StateOK {
			ok = "WRONG"
		}
		rt, sc := "", s.Scenario
		if s.RTTMS > 0 {
			rt, sc = fmt.Sprintf("%.0f", s.RoundTrips), fmt.Sprintf("%s (%.0f ms RTT)", s.Scenario, s.RTTMS)
		}
		fmt.Fprintf(&t, "| %d | %s | %s | %s | %.2f | %.2f–%.2f | %d | %s | %s | %.1f | %.1f | %s | %d | %.2f | %.0f | %.1f | %s |\n",
			s.N, s.Hosts, sc, s.Arm, s.MedianS, s.MinS, s.MaxS, s.Runs, xf, faster, s.ConnsPerHost, s.ExecsPerHost, rt, s.Changed, s.CPUS, s.MaxRSSMB, s.MachineCPUS, ok)
	}
	return t.String()
}

// targets states the targets against the measured ratios.
func (b *bench) targets() string {
	var t strings.Builder
	verdict := func(ok bool) string {
		if ok {
			return "**met**"
		}
		return "**missed**"
	}
	o, f, a := b.find("omc", "noop", 20), b.find("floor", "noop", 20), b.find("ansible-tuned", "noop", 20)
	if o != nil && f != nil {
		r := o.MedianS / f.MedianS
		fmt.Fprintf(&t, "- No-op at N=20 within 1.5× the floor: omc %.3f s / floor %.3f s = %.2f× — %s\n", o.MedianS, f.MedianS, r, verdict(r <= 1.5))
	}
	if o != nil && a != nil {
		r := a.MedianS / o.MedianS
		fmt.Fprintf(&t, "- No-op at N=20 ≥ 30× faster than tuned Ansible: %.2f s / %.3f s = %.1f× — %s\n", a.MedianS, o.MedianS, r, verdict(r >= 30))
	}
	for _, n := range b.c.ns {
		oc, fc, fn := b.find("omc", "cold", n), b.find("floor-script", "cold", n), b.find("floor-script", "noop", n)
		if oc == nil || fc == nil {
			continue
		}
		// apt-get's own time varies more from run to run (20 concurrent
		// installs on a few cores) than the arms differ, so the verdict
		// also compares what each arm needs besides it: each cold run's
		// wall time less its slowest host's apt-get.
		ob, fb := b.besidesApt("omc", n), b.besidesApt("floor-script", n)
		bound := "" // the floor's no-op plus apt-get, when the run has the floor's no-op
		if fn != nil {
			bd := fn.MedianS + fc.AptMaxS
			bound = fmt.Sprintf("floor no-op %.2f s + apt-get update and install %.2f s (slowest host) = %.2f s → %.2f×; ", fn.MedianS, fc.AptMaxS, bd, oc.MedianS/bd)
		}
		fmt.Fprintf(&t, "- Cold at N=%d no slower than floor + package manager: omc %.2f s; %sfloor's own cold converge, apt included: %.2f s → omc %.2f× it. Besides apt-get (median of wall − slowest apt-get per run): omc %.2f s, floor %.2f s. Work (busy CPU of the whole machine, hosts and controller, median per run): omc %.1f s, floor %.1f s — %s\n",
			n, oc.MedianS, bound, fc.MedianS, oc.MedianS/fc.MedianS, ob, fb, oc.MachineCPUS, fc.MachineCPUS, verdict(ob <= fb*1.05 || oc.MedianS <= fc.MedianS*1.05))
	}
	// Issue 25: the no-op at scale against the floor (omc's own probe in
	// one exec per host), memory, and round trips under latency.
	for _, n := range []int{200, 500} {
		o, f := b.find("omc", "noop", n), b.find("floor", "noop", n)
		if o == nil || f == nil {
			continue
		}
		if n == 200 {
			r, c := o.MedianS/f.MedianS, o.CPUS/f.CPUS
			fmt.Fprintf(&t, "- No-op at N=200 within 1.2× the floor: omc %.2f s / floor %.2f s = %.2f× — %s\n", o.MedianS, f.MedianS, r, verdict(r <= 1.2))
			fmt.Fprintf(&t, "- Controller CPU at N=200 within 2× the floor's: omc %.2f s / floor %.2f s = %.2f× — %s\n", o.CPUS, f.CPUS, c, verdict(c <= 2))
		} else {
			fmt.Fprintf(&t, "- No-op at N=%d: omc %.2f s / floor %.2f s = %.2f×; controller CPU %.2f s / %.2f s = %.2f×\n", n, o.MedianS, f.MedianS, o.MedianS/f.MedianS, o.CPUS, f.CPUS, o.CPUS/f.CPUS)
		}
		limit := map[int]float64{200: 60, 500: 150}[n]
		fmt.Fprintf(&t, "- Controller peak RSS at N=%d ≤ %.0f MB: omc %.0f MB — %s\n", n, limit, o.MaxRSSMB, verdict(o.MaxRSSMB <= limit))
	}
	for _, n := range b.c.ns {
		o, f := b.find("omc", "latency", n), b.find("floor", "latency", n)
		if o == nil || f == nil {
			continue
		}
		fmt.Fprintf(&t, "- Latency at N=%d (%.0f ms RTT): omc %.2f s, %.0f round trips per host; floor %.2f s, %.0f — round trips %s", n, o.RTTMS, o.MedianS, o.RoundTrips, f.MedianS, f.RoundTrips, verdict(o.RoundTrips <= f.RoundTrips))
		if a := b.find("ansible-tuned", "latency", n); a != nil {
			fmt.Fprintf(&t, "; tuned Ansible %.2f s, %.0f round trips per host", a.MedianS, a.RoundTrips)
		}
		t.WriteString("\n")
	}
	for _, fb := range b.fleet {
		fmt.Fprintf(&t, "- Fleet commands (%s): %.0f ms a round for 200 nodes, %.0f ms beyond the slowest node; %.2f connections per node per round\n", fb.Name, fb.WallMS, fb.OverMS, fb.ConnsPerNode)
	}
	var peak float64
	nmax := 0
	for _, s := range b.summaries() {
		if s.Arm == "omc" && s.N >= nmax {
			if s.N > nmax {
				peak = 0
			}
			nmax = s.N
			peak = max(peak, s.MaxRSSMB)
		}
	}
	if nmax > 0 {
		fmt.Fprintf(&t, "- Controller memory < 100 MB at N=%d: omc peak RSS %.0f MB over all scenarios — %s\n", nmax, peak, verdict(peak < 100))
	}
	return t.String()
}

func (b *bench) markdown(sums []summary) string {
	var m strings.Builder
	mode := "full"
	if b.c.quick {
		mode = "quick"
	}
	fmt.Fprintf(&m, "# omc benchmark results (%s run)\n\n", mode)
	fmt.Fprintf(&m, "Run %s, %s; command: `go run ./bench %s`; arm order seed %d.\n\n",
		b.start.UTC().Format(time.RFC3339), time.Since(b.start).Round(time.Second), strings.Join(os.Args[1:], " "), b.c.seed)
	m.WriteString("## Machine\n\n" + machine() + "\n")
	m.WriteString("## Targets (issues 4 and 25)\n\n" + b.targets() + "\n")
	m.WriteString("## Results\n\nWall time per run of the whole fleet. × floor: median over the floor's median, same scenario and N. " +
		"omc faster by: this arm's median over omc's. conns/host and sessions/host: sshd's own log (LogLevel VERBOSE: " +
		"\"Accepted publickey\", \"Starting session\") on every live host, median over runs. changed: steps (omc), " +
		"tasks (Ansible) or fixes (floor) reported changed, all hosts. Controller CPU: user+sys of the arm's process " +
		"tree (wait4 rusage; Ansible's ControlPersist masters detach and are not in it); peak RSS: the largest process " +
		"of that tree. Machine CPU: busy CPU time of the whole machine during the run (/proc/stat), the controller's and every " +
		"host's work together, which unlike wall time does not depend on who waited for whom. Round trips/host (latency " +
		"scenario: every host behind a proxy adding the RTT): the client's write bursts per host counted at the proxy (a burst " +
		"starts when the client writes after the server's answer was delivered and a round trip's time went by), median over hosts. " +
		"The floor runs omc's own probe (provision.ProbeScript) in one exec per host; floor-script the hand-written check-and-fix script. End state: the independent checker (below) found every live host exactly as wanted after the run.\n\n")
	m.WriteString(b.table(sums) + "\n")
	if len(b.failures) > 0 {
		m.WriteString("## Failures\n\n")
		for _, f := range b.failures {
			m.WriteString("- " + strings.ReplaceAll(strings.TrimSpace(firstLine(f)), "\n", " ") + "\n")
		}
		m.WriteString("\n")
	}
	if len(b.notes) > 0 {
		m.WriteString("## Notes from the checker\n\n")
		for _, nn := range b.notes {
			m.WriteString("- " + nn + "\n")
		}
		m.WriteString("\n")
	}
	m.WriteString("The plot is `bench.png` beside this file; every run is in `runs.json`, every cell in `cells.json`, " +
		"the records the issue asks for in `latest.json`. How the hosts, workload and arms are set up: `bench/README.md`.\n")
	return m.String()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func machine() string {
	var m strings.Builder
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = firstLine(string(b))
	}
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return "(not installed)"
		}
		return strings.TrimSpace(firstLine(string(out)))
	}
	rel := ""
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				rel = strings.Trim(v, `"`)
			}
		}
	}
	fmt.Fprintf(&m, "- OS: %s, kernel %s\n", rel, run("uname", "-r"))
	fmt.Fprintf(&m, "- CPU: %d × %s (controller and all hosts share them)\n", runtime.NumCPU(), cpu)
	fmt.Fprintf(&m, "- Memory: %s\n", strings.Join(strings.Fields(mem), " "))
	fmt.Fprintf(&m, "- Go: %s; omc at %s\n", runtime.Version(), gitHead())
	fmt.Fprintf(&m, "- OpenSSH: %s\n", run("ssh", "-V"))
	fmt.Fprintf(&m, "- Ansible: %s (Debian packages ansible-core %s, ansible %s)\n", run("ansible", "--version"), dpkgVer("ansible-core"), dpkgVer("ansible"))
	return m.String()
}

// gitHead is the commit the bench runs at, "+dirty" when the tree has
// changes. The results directory does not count: the run itself writes
// it as it goes, so a clean tree read "+dirty" by the time of the report.
func gitHead() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	h := strings.TrimSpace(string(out))
	if d, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--", ":/", ":(top,exclude)bench/results").Output(); err == nil && len(strings.TrimSpace(string(d))) > 0 {
		h += "+dirty"
	}
	return h
}

func dpkgVer(p string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", p).Output()
	if err != nil {
		return "not installed"
	}
	return string(out)
}

// plot draws median wall time per arm against N, one panel per
// scenario, with gnuplot (gnuplot-nox) when it is installed.
func (b *bench) plot(dir string, sums []summary) {
	gp, err := exec.LookPath("gnuplot")
	if err != nil {
		return
	}
	var script strings.Builder
	fmt.Fprintf(&script, "set terminal pngcairo size 1400,1300 font 'sans,10'\nset output '%s'\n", filepath.Join(dir, "bench.png"))
	script.WriteString("set multiplot layout 3,2 title 'omc benchmark: median wall time (s), bars min–max, log scales'\n")
	script.WriteString("set logscale xy\nset key top left\nset grid\nset xlabel 'hosts (N)'\nset ylabel 'seconds'\nset xrange [0.8:700]\n")
	for _, sc := range allScenarios {
		var plots []string
		var data strings.Builder
		for _, arm := range allArms {
			var rows []string
			for _, s := range sums {
				if s.Arm == arm && s.Scenario == sc {
					rows = append(rows, fmt.Sprintf("%d %g %g %g", s.N, s.MedianS, s.MinS, s.MaxS))
				}
			}
			if len(rows) == 0 {
				continue
			}
			fmt.Fprintf(&data, "$%s_%s << EOD\n%s\nEOD\n", strings.ReplaceAll(arm, "-", "_"), sc, strings.Join(rows, "\n"))
			v := "$" + strings.ReplaceAll(arm, "-", "_") + "_" + sc
			plots = append(plots, fmt.Sprintf("%s using 1:2:3:4 with yerrorlines title '%s'", v, arm))
		}
		if len(plots) == 0 {
			continue
		}
		script.WriteString(data.String())
		title := sc
		if sc == "latency" {
			title = fmt.Sprintf("noop with %v RTT (latency)", b.c.rtt)
		}
		fmt.Fprintf(&script, "set title '%s'\nplot %s\n", title, strings.Join(plots, ", "))
	}
	script.WriteString("unset multiplot\n")
	cmd := exec.Command(gp)
	cmd.Stdin = strings.NewReader(script.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "gnuplot: %v\n%s\n", err, out)
	}
}

// report prints the table and the targets at the end.
func (b *bench) report() {
	sums := b.summaries()
	fmt.Println(b.table(sums))
	fmt.Println(b.targets())
}

// selfSigned makes the workload's certificate and key (valid 90 days).
func selfSigned() (string, string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "bench.bbb.test"},
		DNSNames: []string{"*.bbb.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return "", "", err
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})), nil
}
