package remote

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/internal/sshtest"
)

// TestDeadLink: a link that stops carrying anything, without closing,
// after the login fails what is running with a *LostError within the
// keepalive's bound (shortened here), instead of hanging.
func TestDeadLink(t *testing.T) {
	srv := sshtest.Start(t)
	kh := testKnownHosts(t)
	for _, tc := range []struct {
		name string
		do   func(ctx context.Context, c *Client) error
	}{
		{"script", func(ctx context.Context, c *Client) error {
			_, err := mustShell(t, c).Run(ctx, "echo hi")
			return err
		}},
		{"file read", func(ctx context.Context, c *Client) error {
			_, err := c.ReadFile(ctx, "/etc/hostname")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := sshtest.StartProxy(t, srv.Addr)
			cfg := configFor(srv, kh)
			cfg.Port = proxy.Port
			cfg.KeepaliveInterval, cfg.KeepaliveCount = 50*time.Millisecond, 3
			c := mustDial(t, cfg)
			mustRun(t, mustShell(t, c), "true")

			proxy.Freeze()
			done := make(chan error, 1)
			go func() { done <- tc.do(context.Background(), c) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("no error within 20s of the link going dead")
			}
			var le *LostError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), "node1: the connection to 127.0.0.1:") ||
				!strings.Contains(err.Error(), "stopped answering") {
				t.Fatalf("err = %v, want the connection stopped answering", err)
			}
			// The client stays failed, with the same reason.
			if _, err := mustShell(t, c).Run(ctxT(t), "true"); !errors.As(err, &le) {
				t.Errorf("next Run: %v", err)
			}
		})
	}
}

// TestLoginHangs: a login that never gets to running omc's shell (here a
// forced command that swallows its input) fails the first script after
// Config.Timeout, instead of hanging it.
func TestLoginHangs(t *testing.T) {
	srv := sshtest.Start(t, sshtest.WithConfig("ForceCommand cat >/dev/null"))
	cfg := configFor(srv, testKnownHosts(t))
	cfg.Timeout = time.Second
	c := mustDial(t, cfg)
	_, err := c.Lock(ctxT(t), "run")
	if err == nil || !strings.Contains(err.Error(), "node1: the remote shell did not answer within 1s of logging in") {
		t.Fatalf("err = %v", err)
	}
}

// TestDeadLinkToBastion: when the link to the bastion dies, the error is
// the bastion's: that is the connection that stopped answering.
func TestDeadLinkToBastion(t *testing.T) {
	jump := sshtest.Start(t)
	target := sshtest.Start(t)
	kh := testKnownHosts(t)
	target.AuthorizeKey(publicKey(t, jump.KeyFile))
	proxy := sshtest.StartProxy(t, jump.Addr)

	cfg := configFor(target, kh)
	cfg.KeyFile = jump.KeyFile
	cfg.KeepaliveInterval = time.Hour // only the bastion's notices
	b := configFor(jump, kh)
	b.Name, b.Port = "bastion", proxy.Port
	b.KeepaliveInterval, b.KeepaliveCount = 50*time.Millisecond, 3
	cfg.Bastion = &b
	c := mustDial(t, cfg)
	sh := mustShell(t, c)
	mustRun(t, sh, "true")

	proxy.Freeze()
	done := make(chan error, 1)
	go func() { _, err := sh.Run(context.Background(), "echo hi"); done <- err }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("no error within 20s of the link going dead")
	}
	var le *LostError
	if !errors.As(err, &le) || le.Host != "bastion" {
		t.Fatalf("err = %v, want the bastion's connection stopped answering", err)
	}
}

func publicKey(t *testing.T, keyFile string) ssh.PublicKey {
	t.Helper()
	b, err := os.ReadFile(keyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}
