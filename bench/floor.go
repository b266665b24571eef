package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/shell"
)

// The floors: per host one TCP connection, one SSH handshake (host key
// pinned), one exec, all hosts at once. Run as its own process (`bench
// floor`) so its CPU and memory are measured like the others'.
//
//   - floor: the exec is `sh -c` of omc's own probe for the host
//     (provision.ProbeScript): the least any tool must do to check what
//     omc checks, so that omc's time beyond it is its controller and
//     protocol. It only checks: it cannot converge a host.
//   - floor-script: the exec is a hand-written shell script on stdin that
//     checks the same state and fixes what differs (workload.go).

type floorHost struct {
	Name    string `json:"name"`
	Addr    string `json:"addr"`
	Port    int    `json:"port"`
	HostKey string `json:"host_key"`
	Script  string `json:"script"` // file holding the host's script
	// Arg: the script is sh -c's argument (the probe); else sh -s's stdin.
	Arg bool `json:"arg,omitempty"`
}

type floorResult struct {
	Host    string  `json:"host"`
	Changed int     `json:"changed"`
	AptS    float64 `json:"apt_seconds,omitempty"`
	Err     string  `json:"error,omitempty"`
}

func floorMain(args []string) int {
	fs := flag.NewFlagSet("floor", flag.ExitOnError)
	hostsFile := fs.String("hosts", "", "JSON list of hosts")
	keyFile := fs.String("key", "", "private key")
	timeout := fs.Duration("timeout", 15*time.Second, "connect + handshake timeout (omc's default)")
	_ = fs.Parse(args)
	b, err := os.ReadFile(*hostsFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var hosts []floorHost
	if err := json.Unmarshal(b, &hosts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	kb, err := os.ReadFile(*keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	signer, err := ssh.ParsePrivateKey(kb)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	res := make([]floorResult, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = floorHostRun(h, signer, *timeout)
		}()
	}
	wg.Wait()
	failed := 0
	enc := json.NewEncoder(os.Stdout)
	for _, r := range res {
		_ = enc.Encode(r)
		if r.Err != "" {
			failed++
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func floorHostRun(h floorHost, signer ssh.Signer, timeout time.Duration) floorResult {
	r := floorResult{Host: h.Name}
	script, err := os.ReadFile(h.Script)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	pinned, _, _, _, err := ssh.ParseAuthorizedKey([]byte(h.HostKey))
	if err != nil {
		r.Err = err.Error()
		return r
	}
	addr := net.JoinHostPort(h.Addr, strconv.Itoa(h.Port))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	_ = nc.SetDeadline(time.Now().Add(timeout))
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, &ssh.ClientConfig{
		User:              "root",
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   ssh.FixedHostKey(pinned),
		HostKeyAlgorithms: []string{pinned.Type()},
	})
	if err != nil {
		nc.Close()
		r.Err = err.Error()
		return r
	}
	_ = nc.SetDeadline(time.Time{})
	c := ssh.NewClient(sc, chans, reqs)
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer sess.Close()
	var out, errb bytes.Buffer
	cmd := "exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 HOME=/root /bin/sh "
	if h.Arg {
		err = floorProbe(nc, sess, cmd, string(script), &out, &errb)
	} else {
		sess.Stdout, sess.Stderr = &out, &errb
		sess.Stdin = bytes.NewReader(script)
		err = sess.Run(cmd + "-s")
	}
	if err != nil {
		r.Err = fmt.Sprintf("%v: %s %s", err, strings.TrimSpace(out.String()), strings.TrimSpace(errb.String()))
		return r
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(l, "changed="); ok {
			r.Changed, _ = strconv.Atoi(v)
		}
		if v, ok := strings.CutPrefix(l, "apt_seconds="); ok {
			r.AptS, _ = strconv.ParseFloat(v, 64)
		}
	}
	return r
}

// floorEnd is the line the floor's probe ends its answer with.
const floorEnd = "@@omc-bench-floor-end"

// floorProbe runs the probe as the least a client could: the exec, then
// the answer, and nothing more sent. The shell ends the answer with a
// marker line and waits on its input (the read built-in, no process);
// the client drops the connection once the marker is in, as omc does.
// Letting the shell exit instead costs a write after the answer: the
// library answers the server's channel close with its own, and a nil
// Stdin is sent as an end of input after the exec's reply.
func floorProbe(nc net.Conn, sess *ssh.Session, cmd, script string, out, errb *bytes.Buffer) error {
	if _, err := sess.StdinPipe(); err != nil { // held open, never written
		return err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return err
	}
	sess.Stderr = errb
	if err := sess.Start(cmd + "-c " + shell.Quote(script+"\necho "+floorEnd+"; read omc_floor_x")); err != nil {
		return err
	}
	br := bufio.NewReader(stdout)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("answer ended before its last line: %w", err)
		}
		if line == floorEnd+"\n" {
			break
		}
		out.WriteString(line)
	}
	return nc.Close()
}
