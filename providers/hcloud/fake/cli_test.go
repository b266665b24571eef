package fake_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/providers/hcloud/fake"
)

// TestOfficialCLI runs the official hcloud CLI against the fake for the
// calls omc makes, when the CLI is on PATH (it is not in CI; see the
// package doc for how it was built and what it printed).
func TestOfficialCLI(t *testing.T) {
	bin, err := exec.LookPath("hcloud")
	if err != nil {
		t.Skip("the hcloud CLI is not on PATH")
	}
	f, endpoint := fake.Serve(t, token)
	f.AddZone("example.org")
	dir := t.TempDir()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := ssh.NewPublicKey(pub)
	keyFile := filepath.Join(dir, "op.pub")
	if err := os.WriteFile(keyFile, ssh.MarshalAuthorizedKey(sshPub), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		args string
		want string // in the combined output
	}{
		{"ssh-key create --name op --public-key-from-file " + keyFile, "created"},
		{"location list", "fsn1"},
		{"primary-ip create --type ipv4 --name ip1 --location fsn1", "created"},
		{"firewall create --name fw", "created"},
		{"firewall apply-to-resource fw --type label_selector --label-selector role=bbb", "applied"},
		{"server create --name s1 --type cx22 --image ubuntu-24.04 --location fsn1 --ssh-key op --label role=bbb --primary-ipv4 ip1", "created"},
		{"server list -o noheader -o columns=name,status", "s1 running"},
		{"server describe s1", "ubuntu-24.04"},
		{"zone rrset create example.org --name s1 --type A --record 127.77.0.9", "created"},
		{"zone rrset list example.org -o noheader -o columns=name,type", "s1"},
		{"server delete s1", "deleted"},
		{"primary-ip describe ip1", "Auto delete"},
	}
	for _, s := range steps {
		cmd := exec.Command(bin, strings.Fields(s.args)...)
		cmd.Env = append(os.Environ(), "HCLOUD_ENDPOINT="+endpoint, "HCLOUD_TOKEN="+token,
			"HCLOUD_CONFIG="+filepath.Join(dir, "cli.toml"), "HCLOUD_POLL_INTERVAL=10ms")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(strings.Join(strings.Fields(string(out)), " "), s.want) {
			t.Fatalf("hcloud %s: %v\n%s", s.args, err, out)
		}
	}
}
