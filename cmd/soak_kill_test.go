package cmd

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/sshtest"
)

// killRig is a few static hosts, each its own sshd on loopback, with a
// small file, a large file and a long command: every generation changes
// all three, so each run of omc up writes and runs on every host.
type killRig struct {
	t     *testing.T
	dir   string
	srvs  []*sshtest.Server
	inv   string
	tag   string    // in every soak command's environment
	big   [2]string // the large file's two versions (template files)
	bigH  [2]string // and their hashes
	sleep string    // the command's duration
}

func newKillRig(t *testing.T, s *soak, hosts int, bigMiB int, opts ...sshtest.Option) *killRig {
	d := isolate(t)
	lockPathFor(t, filepath.Join(d, "{node}.lock"))
	r := &killRig{t: t, dir: d, tag: fmt.Sprintf("%d", time.Now().UnixNano()), sleep: "1.5"}
	for i := 0; i < hosts; i++ {
		r.srvs = append(r.srvs, sshtest.Start(t, opts...))
		if err := os.MkdirAll(r.hostDir(i), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Template files are at most 1 MiB, their output up to 32 MiB: each
	// version repeats its own 0.9 MiB of random hex bigMiB times, each
	// copy numbered, so a mix of versions or copies has neither hash.
	for v := range r.big {
		raw := make([]byte, 460<<10)
		rand.Read(raw)
		line := hex.EncodeToString(raw)
		var block strings.Builder
		for i := 0; i < len(line); i += 127 {
			block.WriteString(line[i:min(i+127, len(line))])
			block.WriteByte('\n')
		}
		var out strings.Builder
		for i := 0; i < bigMiB; i++ {
			fmt.Fprintf(&out, "%d:%s", i, block.String())
		}
		r.big[v] = filepath.Join(d, fmt.Sprintf("big-%d.txt", v))
		r.bigH[v] = textHash(out.String())
		tmpl := fmt.Sprintf("{{ range $i := %d }}{{ $i }}:%s{{ end }}", bigMiB, block.String())
		if err := os.WriteFile(r.big[v], []byte(tmpl), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.inv = filepath.Join(d, "omc.yaml")
	return r
}

func (r *killRig) hostDir(i int) string { return filepath.Join(r.dir, fmt.Sprintf("h%d", i)) }

func smallContent(gen, host int) string {
	return fmt.Sprintf("generation %d\nnode h%d\n%s\n", gen, host, strings.Repeat("x", 1000+gen))
}

// write makes generation gen's inventory.
func (r *killRig) write(gen int) {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: omc/v1\nname: soak\ngroups:\n  g:\n    provider: static\n    nodes:\n")
	for i, s := range r.srvs {
		hd := r.hostDir(i)
		fmt.Fprintf(&b, `      - name: h%d
        address: 127.0.0.1
        ssh: {port: %d, key: %s, user: %s}
        steps:
          - file: {path: %s/small.conf, content: %q}
          - file: {path: %s/big.txt, template: %s}
          - name: long
            command:
              run: env OMC_SOAK_TAG=%s sh -c 'echo $$ >%s/cmd.pid; sleep %s; touch %s/done.%d'
              creates: %s/done.%d
`, i, s.Port, s.KeyFile, s.User, hd, smallContent(gen, i), hd, filepath.Base(r.big[gen%2]),
			r.tag, hd, r.sleep, hd, gen, hd, gen)
	}
	if err := os.WriteFile(r.inv, []byte(b.String()), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// up runs omc up to the end and returns its exit code and stderr.
func (r *killRig) up() (int, string) {
	p := startOmc(r.t, nil, "up", "-i", r.inv)
	code, _ := p.wait(120 * time.Second)
	return code, p.errb.String()
}

// omcRun is omc (this test binary, see TestMain) running in the
// background, waited for from the start so a test can see it end.
type omcRun struct {
	t    *testing.T
	c    *exec.Cmd
	errb *lockedBuffer
	done chan struct{}
}

func startOmc(t *testing.T, stdin io.Reader, args ...string) *omcRun {
	c, errb := omcProcess(t, stdin, args...)
	p := &omcRun{t: t, c: c, errb: errb, done: make(chan struct{})}
	go func() { c.Wait(); close(p.done) }()
	return p
}

func (p *omcRun) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits at most d (then kills omc and fails the test) and returns
// the exit status.
func (p *omcRun) wait(d time.Duration) (code int, signaled bool) {
	select {
	case <-p.done:
	case <-time.After(d):
		p.c.Process.Kill()
		<-p.done
		p.t.Errorf("omc %v did not exit within %s", p.c.Args[1:], d)
		return -2, false
	}
	ws := p.c.ProcessState.Sys().(syscall.WaitStatus)
	return ws.ExitStatus(), ws.Signaled()
}

// whole checks that each host's files are generation gen's or gen-1's,
// whole (by hash), and returns how many were still gen-1's.
func (r *killRig) whole(s *soak, run string, gen int) (old int) {
	for i := range r.srvs {
		hd := r.hostDir(i)
		sm, bg := fileHash(r.t, hd+"/small.conf"), fileHash(r.t, hd+"/big.txt")
		smNew, smOld := textHash(smallContent(gen, i)), textHash(smallContent(gen-1, i))
		s.check("file whole (old or new)", sm == smNew || sm == smOld, "%s: h%d small.conf is neither generation %d nor %d", run, i, gen-1, gen)
		s.check("file whole (old or new)", bg == r.bigH[gen%2] || bg == r.bigH[(gen+1)%2], "%s: h%d big.txt is neither version", run, i)
		if sm == smOld {
			old++
		}
		if bg != r.bigH[gen%2] {
			old++
		}
	}
	return old
}

// released checks, within 30 s of omc's end, that no soak command runs
// and every host's lock is free.
func (r *killRig) released(s *soak, run string) {
	s.check("no remote process left", until(30*time.Second, func() bool { return len(taggedProcesses(r.tag)) == 0 }),
		"%s: 30 s after omc stopped, soak commands still run: %v", run, taggedProcesses(r.tag))
	for i := range r.srvs {
		lock := filepath.Join(r.dir, fmt.Sprintf("h%d.lock", i))
		if _, err := os.Stat(lock); err != nil {
			continue // never taken
		}
		s.check("lock released", until(30*time.Second, func() bool { return lockFree(r.t, lock) }),
			"%s: h%d's lock is still held 30 s after omc stopped", run, i)
	}
}

// converged checks that generation gen is fully there: both files new
// and whole, the command done, no temp file, no command, no lock.
func (r *killRig) converged(s *soak, run string, gen int) {
	for i := range r.srvs {
		hd := r.hostDir(i)
		s.check("converged", fileHash(r.t, hd+"/small.conf") == textHash(smallContent(gen, i)) &&
			fileHash(r.t, hd+"/big.txt") == r.bigH[gen%2] && fileExists(fmt.Sprintf("%s/done.%d", hd, gen)),
			"%s: h%d did not converge to generation %d", run, i, gen)
		s.check("no temp file", len(tempFiles(hd)) == 0, "%s: h%d keeps temp files %v", run, i, tempFiles(hd))
	}
	r.released(s, run)
}

// TestSoakKillsOmc: omc up of three hosts killed at random points (by
// SIGINT, SIGTERM, two SIGINTs or SIGKILL), half of them while the large
// file is being written; the next omc up must converge.
func TestSoakKillsOmc(t *testing.T) {
	s := startSoak(t, 1)
	r := newKillRig(t, s, 3, s.n(4, 18))
	r.write(0)
	start := time.Now()
	if code, errs := r.up(); code != 0 {
		t.Fatalf("first omc up: exit %d\n%s", code, errs)
	}
	span := time.Since(start)
	r.converged(s, "baseline", 0)
	signals := []string{"SIGINT", "SIGTERM", "SIGINT twice", "SIGKILL"}
	for gen := 1; gen <= s.n(3, 60); gen++ {
		s.runs++
		sig := signals[s.R.IntN(len(signals))]
		r.write(gen)
		p := startOmc(t, nil, "up", "-i", r.inv)
		c, errb := p.c, p.errb
		var when string
		if s.R.IntN(2) == 0 {
			// Any time from the start to a little past a whole run.
			d := time.Duration(s.R.Int64N(int64(span) * 6 / 5))
			time.Sleep(d)
			when = fmt.Sprintf("after %s", d.Round(time.Millisecond))
		} else {
			// While some host's large file is being written: its temp
			// file has reached a random share of the full size.
			share := 0.05 + 0.9*s.R.Float64()
			h := s.R.IntN(len(r.srvs))
			tmp := filepath.Join(r.hostDir(h), ".big.txt.omc-tmp")
			size, _ := os.Stat(r.big[gen%2])
			until(60*time.Second, func() bool {
				fi, err := os.Stat(tmp)
				return (err == nil && float64(fi.Size()) >= share*float64(size.Size())) || p.exited()
			})
			when = fmt.Sprintf("at %.0f%% of h%d's large file", share*100, h)
		}
		if len(tempFiles(r.dir)) > 0 {
			s.saw("kill while a temp file existed")
		}
		if len(taggedProcesses(r.tag)) > 0 {
			s.saw("kill while a command ran")
		}
		s.saw(sig)
		switch sig {
		case "SIGINT":
			c.Process.Signal(os.Interrupt)
		case "SIGTERM":
			c.Process.Signal(syscall.SIGTERM)
		case "SIGINT twice":
			c.Process.Signal(os.Interrupt)
			time.Sleep(20 * time.Millisecond)
			c.Process.Signal(os.Interrupt)
		case "SIGKILL":
			c.Process.Kill()
		}
		run := fmt.Sprintf("run %d: %s %s", gen, sig, when)
		code, signaled := p.wait(60 * time.Second)
		s.saw(fmt.Sprintf("exit %d signaled %v", code, signaled))
		switch {
		case sig == "SIGKILL":
			s.check("exit status", signaled || code == 0, "%s: exit %d", run, code)
		case sig == "SIGINT twice" && signaled:
			// The second signal takes its default action (cmd/exit.go).
			ws := p.c.ProcessState.Sys().(syscall.WaitStatus)
			s.check("exit status", ws.Signal() == syscall.SIGINT, "%s: killed by %v", run, ws.Signal())
		default:
			s.check("exit status", !signaled && (code == ExitInterrupt || code == 0), "%s: exit %d (signaled %v)\n%s", run, code, signaled, errb.String())
			if code == ExitInterrupt && sig != "SIGINT twice" {
				s.check("says interrupted", strings.Contains(errb.String(), "interrupted"), "%s: stderr does not say interrupted:\n%s", run, errb.String())
			}
		}
		if !signaled && code == 0 {
			// Finished before the signal: it must really be done.
			r.converged(s, run+" (finished before the signal)", gen)
		}
		r.whole(s, run, gen)
		r.released(s, run)
		code, errs := r.up()
		s.check("next run succeeds", code == 0, "%s: next omc up: exit %d\n%s", run, code, errs)
		r.converged(s, run+", then omc up", gen)
	}
}

// sshdTree finds a test sshd's listening process (by its config file)
// and returns it with its descendants: the per-connection sshd
// processes, their shells and sftp-server.
func sshdTree(t *testing.T, srv *sshtest.Server) (listener int, children []int) {
	cfg := filepath.Join(filepath.Dir(srv.LogPath), "sshd_config")
	l := pidsWith("-f " + cfg)
	if len(l) != 1 {
		t.Fatalf("soak: want one sshd with %s, found %v", cfg, l)
	}
	return l[0], descendants(l[0])
}

// TestSoakKillsTheServer: the SSH side dies while the large file is being
// written: sftp-server alone, the connection's sshd processes, or the
// whole sshd (then started again). The host's run fails and says so (or,
// when done, is done); the next omc up must converge.
func TestSoakKillsTheServer(t *testing.T) {
	s := startSoak(t, 2)
	r := newKillRig(t, s, 2, s.n(4, 18), sshtest.WithSFTPServer())
	r.sleep = "0.5"
	r.write(0)
	if code, errs := r.up(); code != 0 {
		t.Fatalf("first omc up: exit %d\n%s", code, errs)
	}
	r.converged(s, "baseline", 0)
	modes := []string{"sftp-server", "connection's sshd", "whole sshd"}
	for gen := 1; gen <= s.n(3, 45); gen++ {
		s.runs++
		mode := modes[s.R.IntN(len(modes))]
		share := 0.05 + 0.9*s.R.Float64()
		r.write(gen)
		p := startOmc(t, nil, "up", "-i", r.inv)
		errb := p.errb
		tmp := filepath.Join(r.hostDir(0), ".big.txt.omc-tmp")
		size, _ := os.Stat(r.big[gen%2])
		until(60*time.Second, func() bool {
			fi, err := os.Stat(tmp)
			return (err == nil && float64(fi.Size()) >= share*float64(size.Size())) || p.exited()
		})
		run := fmt.Sprintf("run %d: %s killed at %.0f%% of h0's large file", gen, mode, share*100)
		listener, tree := sshdTree(t, r.srvs[0])
		var victims []int
		switch mode {
		case "sftp-server":
			for _, p := range tree {
				if strings.Contains(cmdline(p), "sftp-server") {
					victims = append(victims, p)
				}
			}
		case "connection's sshd":
			for _, p := range tree {
				if strings.HasPrefix(cmdline(p), "sshd:") {
					victims = append(victims, p)
				}
			}
		case "whole sshd":
			victims = append([]int{listener}, tree...)
		}
		for _, p := range victims {
			syscall.Kill(p, syscall.SIGKILL)
		}
		if mode == "whole sshd" {
			r.srvs[0].Restart()
		}
		code, signaled := p.wait(90 * time.Second)
		s.saw(mode)
		s.saw(fmt.Sprintf("exit %d", code))
		if !s.check("exit status", !signaled && (code == ExitError || code == 0), "%s: exit %d\n%s", run, code, errb.String()) {
			continue
		}
		if code == 0 {
			r.converged(s, run+" (omc reported success)", gen)
		} else {
			s.check("failure names the host", strings.Contains(errb.String(), "h0"), "%s: stderr does not name h0:\n%s", run, errb.String())
		}
		r.whole(s, run, gen)
		r.released(s, run)
		code, errs := r.up()
		s.check("next run succeeds", code == 0, "%s: next omc up: exit %d\n%s", run, code, errs)
		r.converged(s, run+", then omc up", gen)
	}
}
