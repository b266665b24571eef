package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/sshtest"
)

func TestRun(t *testing.T) {
	srv := sshtest.Start(t, sshtest.WithEnv("OMC_LEAK_FROM_SSHD=1"))
	t.Setenv("OMC_LEAK_FROM_TEST", "1")
	c := mustDial(t, configFor(srv, testKnownHosts(t)))
	sh := mustShell(t, c)

	tests := []struct {
		name, script   string
		stdout, stderr string
		code           int
	}{
		{"ok", "echo hello", "hello\n", "", 0},
		{"streams", "echo out; echo err >&2; echo out2", "out\nout2\n", "err\n", 0},
		{"exit code", "echo before; exit 3; echo after", "before\n", "", 3},
		{"false", "false", "", "", 1},
		{"no trailing newline", "printf abc; printf def >&2", "abc", "def", 0},
		{"quotes", `echo "it's" 'a "test"'`, "it's a \"test\"\n", "", 0},
		{"stdin is empty", "cat; echo done", "done\n", "", 0},
		{"read", "if read x; then echo got; else echo eof; fi", "eof\n", "", 0},
		{"syntax error", "if then fi (", "", "", 2},
		{"exec", "exec echo replaced", "replaced\n", "", 0},
		{"set -e", "set -e; false; echo no", "", "", 1},
		{"comment at end", "echo x # no newline", "x\n", "", 0},
		{"marker-like", "echo __omc_; echo __omc_ >&2", "__omc_\n", "__omc_\n", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, sh, tc.script)
			if string(r.Stdout) != tc.stdout || r.ExitCode != tc.code {
				t.Errorf("stdout %q exit %d, want %q exit %d (stderr %q)", r.Stdout, r.ExitCode, tc.stdout, tc.code, r.Stderr)
			}
			if tc.name != "syntax error" && string(r.Stderr) != tc.stderr {
				t.Errorf("stderr %q, want %q", r.Stderr, tc.stderr)
			}
		})
	}

	t.Run("shell survives", func(t *testing.T) {
		// Each of these would end or corrupt a shell that ran scripts inline.
		for _, s := range []string{"exit 7", "exec 0<&-; exit 0", "cd /; umask 077; FOO=bar; set -eu", "trap 'echo bye' EXIT"} {
			mustRun(t, sh, s)
		}
		r := mustRun(t, sh, `pwd; umask; echo "${FOO:-unset}"`)
		if got := string(r.Stdout); got != mustRun(t, sh, "cd; pwd").String()+"0022\nunset\n" {
			t.Errorf("state leaked between runs: %q", got)
		}
	})

	t.Run("env is clean", func(t *testing.T) {
		r := mustRun(t, sh, "env")
		env := string(r.Stdout)
		for _, want := range []string{"HOME=/", "PATH=" + cleanPath + "\n", "LC_ALL=C.UTF-8"} {
			if !strings.Contains(env, want) {
				t.Errorf("env lacks %q:\n%s", want, env)
			}
		}
		for _, leak := range []string{"OMC_LEAK_FROM_SSHD", "OMC_LEAK_FROM_TEST", "SSH_CONNECTION", "SSH_CLIENT"} {
			if strings.Contains(env, leak) {
				t.Errorf("env has %s:\n%s", leak, env)
			}
		}
	})

	t.Run("large output on both streams", func(t *testing.T) {
		r := mustRun(t, sh, "head -c 3000000 /dev/zero | tr '\\0' o; head -c 3000000 /dev/zero | tr '\\0' e >&2")
		if len(r.Stdout) != 3000000 || len(r.Stderr) != 3000000 {
			t.Errorf("got %d/%d bytes", len(r.Stdout), len(r.Stderr))
		}
	})

	t.Run("large script", func(t *testing.T) {
		var b strings.Builder
		for i := range 20000 {
			fmt.Fprintf(&b, "x%d='%s'\n", i, strings.Repeat("'\\''", 3))
		}
		b.WriteString("echo $x19999")
		if r := mustRun(t, sh, b.String()); string(r.Stdout) != "'''\n" {
			t.Errorf("stdout %q", r.Stdout)
		}
	})

	for i := range 100 {
		r := mustRun(t, sh, fmt.Sprintf("echo %d", i))
		if string(r.Stdout) != fmt.Sprintf("%d\n", i) {
			t.Fatalf("run %d: %q", i, r.Stdout)
		}
	}
	if got, want := c.Stats(), (Stats{Dials: 1, Execs: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if sh2 := mustShell(t, c); sh2 != sh {
		t.Error("Shell started a second shell")
	}
	if n := accepted(srv, 1); n != 1 {
		t.Errorf("sshd accepted %d logins, want 1", n)
	}
}

func (r Result) String() string { return string(r.Stdout) }

func TestRunNUL(t *testing.T) {
	srv := sshtest.Start(t)
	c := mustDial(t, configFor(srv, testKnownHosts(t)))
	if _, err := mustShell(t, c).Run(ctxT(t), "echo a\x00b"); err == nil {
		t.Fatal("a script with a NUL byte ran")
	}
}

func TestRunCancel(t *testing.T) {
	srv := sshtest.Start(t)
	c := mustDial(t, configFor(srv, testKnownHosts(t)))
	sh := mustShell(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := sh.Run(ctx, "sleep 10")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancelled Run took %s", d)
	}
	if _, err := sh.Run(ctxT(t), "true"); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("Run after cancel: %v", err)
	}
}

func TestShellDies(t *testing.T) {
	srv := sshtest.Start(t)
	c := mustDial(t, configFor(srv, testKnownHosts(t)))
	sh := mustShell(t, c)
	_, err := sh.Run(ctxT(t), "echo going away >&2; kill -9 $$")
	if err == nil || !strings.Contains(err.Error(), "exited unexpectedly") || !strings.Contains(err.Error(), "node1") {
		t.Fatalf("err = %v", err)
	}
	if _, err2 := sh.Run(ctxT(t), "true"); err2 == nil {
		t.Fatal("Run on a dead shell succeeded")
	}
}
