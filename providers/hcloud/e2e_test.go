//go:build e2e

// The end-to-end test rents one real server (cx22 in fsn1, a few cents)
// and deletes it again. It runs only with the e2e build tag and a token:
//
//	HCLOUD_TOKEN=… go test -tags e2e -run E2E -v ./providers/hcloud/
//
// Set HCLOUD_E2E_ZONE to a zone in the project to test DNS records too.
package hcloud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/inventory"
)

func TestE2ECreateAndDelete(t *testing.T) {
	if os.Getenv("HCLOUD_TOKEN") == "" {
		t.Skip("HCLOUD_TOKEN is not set")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := "omc-e2e-" + hex.EncodeToString(b)
	zone := os.Getenv("HCLOUD_E2E_ZONE")
	extra := ""
	if zone != "" {
		extra = fmt.Sprintf("    domain: \"{name}.%s\"\n    dns_zone: %s\n", zone, zone)
	}
	src := fmt.Sprintf(`apiVersion: omc/v1
name: %s
groups:
  e2e:
    provider: hcloud
    location: fsn1
    server_type: cx22
    image: ubuntu-22.04
    count: 1
    name: %s-{n}
    roles: [bbb]
%s`, name, name, extra)
	inv, err := inventory.LoadReader("e2e.yaml", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	g := inv.Group("e2e")
	var log strings.Builder
	p := New(Options{StateDir: t.TempDir(), Stderr: &log, PublicKey: testPublicKey(t), Version: "e2e"})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := p.Delete(ctx, inv, g, []string{name + "-1"}); err != nil {
			t.Errorf("cleanup: %v (delete the servers labelled omc/inventory=%s by hand)", err, name)
		}
		ms, err := p.List(ctx, inv, g)
		if err != nil || len(ms) != 0 {
			t.Errorf("after delete: %+v, %v", ms, err)
		}
		t.Log(log.String())
		if strings.Contains(log.String(), os.Getenv("HCLOUD_TOKEN")) {
			t.Error("the token appears in the output")
		}
	})

	ms, err := p.Create(ctx, inv, g, groupNodes(inv, g))
	if err != nil {
		t.Fatal(err)
	}
	m := ms[0]
	t.Logf("created %+v", m)
	if err := checkHostKey(net.JoinHostPort(m.Address, "22"), m.HostKeys[0]); err != nil {
		t.Fatal(err)
	}
}

// checkHostKey completes an SSH key exchange and checks the server
// presents the host key omc made; authentication is not attempted.
func checkHostKey(addr, want string) error {
	wantKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(want))
	if err != nil {
		return err
	}
	errMismatch := errors.New("host key mismatch")
	_, err = ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User: "root",
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if string(key.Marshal()) != string(wantKey.Marshal()) {
				return errMismatch
			}
			return nil
		},
		Timeout: 30 * time.Second,
	})
	if errors.Is(err, errMismatch) || (err != nil && !strings.Contains(err.Error(), "unable to authenticate")) {
		return fmt.Errorf("SSH to %s: %w", addr, err)
	}
	return nil
}
