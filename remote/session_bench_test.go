package remote

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/sshtest"
)

// BenchmarkNoopSessionHost measures what a no-op session costs the host:
// omc's (the shell's exec, LockRun of a probe, UnlockClose) and the
// floor's (one connection, one sh -c of the same probe), one session at a
// time against one sshd, as host-ms/op: the processor time of sshd and
// everything its sessions ran (sshtest.WithCPU). ns/op is the client's
// wall time. Run many (-benchtime 200x): the host's figure moves with the
// machine's load.
func BenchmarkNoopSessionHost(b *testing.B) {
	const probe = "[ -d /proc ] && echo probe"
	srv := sshtest.Start(b, sshtest.WithCPU())
	cfg := configFor(srv, nil)
	cfg.HostKeys = []string{string(ssh.MarshalAuthorizedKey(srv.HostKey))}
	cfg.LockPath = filepath.Join(b.TempDir(), "lock")
	host := func(b *testing.B, session func()) {
		session()
		c0, err := srv.CPU()
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			session()
		}
		b.StopTimer()
		c1, err := srv.CPU()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64((c1-c0).Microseconds())/1000/float64(b.N), "host-ms/op")
	}
	b.Run("omc", func(b *testing.B) {
		host(b, func() {
			c, err := Dial(ctxT(b), cfg)
			if err != nil {
				b.Fatal(err)
			}
			if _, r, err := c.LockRun(ctxT(b), "bench", probe); err != nil || string(r.Stdout) != "probe\n" {
				b.Fatalf("LockRun: %q, %v", r.Stdout, err)
			}
			if err := c.UnlockClose(ctxT(b)); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("floor", func(b *testing.B) {
		kb, err := os.ReadFile(srv.KeyFile)
		if err != nil {
			b.Fatal(err)
		}
		signer, err := ssh.ParsePrivateKey(kb)
		if err != nil {
			b.Fatal(err)
		}
		ccfg := &ssh.ClientConfig{User: srv.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: ssh.FixedHostKey(srv.HostKey), HostKeyAlgorithms: []string{srv.HostKey.Type()}}
		host(b, func() {
			c, err := ssh.Dial("tcp", srv.Addr, ccfg)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			s, err := c.NewSession()
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if out, err := s.Output("exec /bin/sh -c '" + probe + "'"); err != nil || string(out) != "probe\n" {
				b.Fatalf("floor: %q, %v", out, err)
			}
		})
	})
}
