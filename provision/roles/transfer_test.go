package roles

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/internal/testenv"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/templates"
)

// The transfer as the roles build it, run for real: the BBB node's derived
// key, the scalelite node's authorized_keys line (rrsync, write-only),
// omc's transfer script, rsync and a real sshd on loopback. Only paths
// move into a temporary directory.
func TestRecordingTransferOverRealSSH(t *testing.T) {
	for _, tool := range []string{"rsync", rrsync, "python3", "ssh", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s not installed (apt-get install rsync openssh-client python3): the transfer test runs them", tool)
		}
	}
	b, err := os.ReadFile("testdata/scalelite-fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	inv, fleet := loadScaleliteFleet(t, string(b), fakeSeed)
	fileOf := func(name, path string) []byte {
		t.Helper()
		steps, err := Steps(inv, node(t, fleet, name), fleet)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range steps {
			if f, ok := s.(*provision.FileStep); ok && f.Path == path {
				return f.Content
			}
		}
		t.Fatalf("%s gets no %s", name, path)
		return nil
	}
	key := fileOf("bbb-1", transferKey)
	var line string
	for _, l := range strings.Split(string(fileOf("sl-1", "/var/lib/"+spoolUser+"/.ssh/authorized_keys")), "\n") {
		if strings.HasSuffix(l, " omc-transfer-bbb-1") {
			line = l
		}
	}
	if !strings.HasPrefix(line, `restrict,command="`+rrsync+` -wo `+slRoot+`/spool" ssh-ed25519 `) {
		t.Fatalf("scalelite node's line for bbb-1: %q", line)
	}

	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	for _, d := range []string{"spool", "work", "status", "published/presentation/rec-1", "published/presentation/rec-2", "published/video/rec-1"} {
		if err := os.MkdirAll(p(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string, data []byte, mode os.FileMode) {
		if err := os.WriteFile(p(name), data, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("published/presentation/rec-1/metadata.xml", []byte("<recording><id>rec-1</id></recording>"), 0o644)
	write("published/video/rec-1/video.mp4", []byte("frames"), 0o644)
	write("published/presentation/rec-2/metadata.xml", []byte("<recording><id>rec-2</id></recording>"), 0o644)
	write("id_ed25519", key, 0o600)

	srv := sshtest.Start(t)
	srv.AuthorizeLine(strings.Replace(line, slRoot+"/spool", p("spool"), 1))
	script, err := templates.Render(templates.TransferScript, templates.Transfer{Spool: srv.User + "@127.0.0.1:", Port: srv.Port,
		Key: p("id_ed25519"), KnownHosts: p("known_hosts"), Work: p("work"), Script: p("transfer"), Published: p("published"), Status: p("status")})
	if err != nil {
		t.Fatal(err)
	}
	write("transfer", script, 0o755)
	run := func(args ...string) error {
		out, err := exec.Command(p("transfer"), args...).CombinedOutput()
		t.Logf("transfer %v: %v\n%s", args, err, out)
		return err
	}
	exists := func(name string) bool { _, err := os.Stat(p(name)); return err == nil }

	// Published: every format of the recording, in one tar, in the spool.
	if err := run("rec-1"); err != nil {
		t.Fatal(err)
	}
	if got := tarNames(t, p("spool/rec-1.tar")); got != "presentation/rec-1/ presentation/rec-1/metadata.xml video/rec-1/ video/rec-1/video.mp4" {
		t.Fatalf("rec-1.tar holds %s", got)
	}
	if exists("work/rec-1.tar") || !exists("status/rec-1-sender.done") {
		t.Fatal("a sent tar stays in the work directory, or no sender.done")
	}
	// The key may only write into the spool: reading fails.
	out, err := exec.Command("rsync", "-e", "ssh -p "+strconv.Itoa(srv.Port)+" -i "+p("id_ed25519")+" -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile="+p("known_hosts"),
		srv.User+"@127.0.0.1:rec-1.tar", p("back.tar")).CombinedOutput()
	if err == nil || exists("back.tar") {
		t.Fatalf("the transfer key read the spool back: %s", out)
	}

	// Scalelite unreachable: the tar waits; the timer's run sends it.
	srv.Stop()
	if err := run("rec-2"); err == nil || !exists("work/rec-2.tar") || exists("status/rec-2-sender.done") {
		t.Fatal("a failed transfer did not fail, or did not leave its tar to retry")
	}
	srv.Restart()
	if err := run(); err != nil || exists("work/rec-2.tar") || !exists("spool/rec-2.tar") {
		t.Fatalf("the retry did not send the waiting tar (%v)", err)
	}

	// Another host key at the same address: nothing is sent.
	srv.Restart(sshtest.WithNewHostKey())
	os.Remove(p("spool/rec-1.tar"))
	if err := run("rec-1"); err == nil || exists("spool/rec-1.tar") || !exists("work/rec-1.tar") {
		t.Fatal("a changed host key did not stop the transfer")
	}
}

func tarNames(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	return strings.Join(names, " ")
}
