package robot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/sshtest"
	"github.com/omc-coop/omc/providers"
)

// standIns writes stand-ins for rescue's installimage, lsblk and reboot:
// installimage records its arguments and files and runs the post-install
// script on a scratch root (never on this machine's /), reboot leaves a
// mark.
func standIns(t *testing.T) (dir string, inst *SSHInstaller) {
	dir = t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/bash\nset -eu\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ii := write("installimage", `D=`+dir+`
echo "$@" >"$D/args"
while getopts "ac:x:" o; do case $o in c) cp "$OPTARG" "$D/got.conf";; x) cp "$OPTARG" "$D/got-post-install";; esac; done
echo "installimage stand-in: installing"
mkdir -p "$D/root"
OMC_ROOT="$D/root" "$D/got-post-install"
`)
	ls := write("lsblk", "printf '/dev/sda disk 0\\n/dev/sdb disk 0\\n/dev/sr0 rom 1\\n/dev/loop0 loop 0\\n/dev/sdc disk 1\\n'\n")
	rb := write("reboot", "touch "+dir+"/rebooted\n")
	return dir, &SSHInstaller{InstallImage: ii, ListDisks: ls, Reboot: rb, Dir: filepath.Join(dir, "work"), Image: "/images/Ubuntu-2204-jammy-amd64-base.tar.gz"}
}

func TestSSHInstallerOnARealSSHD(t *testing.T) {
	srv := sshtest.Start(t)
	dir, inst := standIns(t)
	hk, err := providers.NewHostKey("test")
	if err != nil {
		t.Fatal(err)
	}
	operator := testPublicKey(t)
	target := Target{
		Node: "metal-1", Address: "127.0.0.1", Port: srv.Port, KeyFile: srv.KeyFile,
		RescueHostKeys: []string{providers.AuthorizedKey(srv.HostKey)},
		HostKey:        hk, Hostname: "metal-1.example.org", AuthorizedKeys: []string{operator},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := inst.Install(ctx, target); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	work := filepath.Join(dir, "work")
	if got := strings.TrimSpace(read("args")); got != "-a -c "+work+"/install.conf -x "+work+"/post-install" {
		t.Errorf("installimage %s", got)
	}
	conf := read("got.conf")
	for _, want := range []string{"DRIVE1 /dev/sda\n", "DRIVE2 /dev/sdb\n", "SWRAID 1\n", "SWRAIDLEVEL 1\n", "HOSTNAME metal-1.example.org\n", "IMAGE /images/Ubuntu-2204-jammy-amd64-base.tar.gz\n"} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "sdc") || strings.Contains(conf, "sr0") || strings.Contains(conf, "loop") {
		t.Errorf("read-only or non-disk devices in the config:\n%s", conf)
	}
	// The post-install script put omc's host key and the operator's key in place.
	root := filepath.Join(dir, "root")
	if got := read("root/etc/ssh/ssh_host_ed25519_key"); got != string(hk.Private) {
		t.Errorf("host key written:\n%s", got)
	}
	if fi, _ := os.Stat(filepath.Join(root, "etc/ssh/ssh_host_ed25519_key")); fi == nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("host key mode %v", fi)
	}
	if got := read("root/etc/ssh/ssh_host_ed25519_key.pub"); !strings.HasPrefix(got, hk.Public+" ") {
		t.Errorf("public host key %q", got)
	}
	if got := read("root/root/.ssh/authorized_keys"); strings.TrimSpace(got) != operator {
		t.Errorf("authorized_keys %q", got)
	}
	if fi, _ := os.Stat(filepath.Join(work, "post-install")); fi == nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("post-install mode %v", fi)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "rebooted")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("reboot was not run")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Not rescue (no installimage): nothing is written, ErrNotRescue.
	inst.InstallImage = filepath.Join(dir, "missing")
	inst.Dir = filepath.Join(dir, "work2")
	target.RescueHostKeys = nil // learned for this install only
	if err := inst.Install(ctx, target); !errors.Is(err, ErrNotRescue) {
		t.Fatalf("want ErrNotRescue, got %v", err)
	}
	if _, err := os.Stat(inst.Dir); !os.IsNotExist(err) {
		t.Error("wrote to a server that is not in rescue")
	}
}

func TestSSHInstallerReportsAFailedInstall(t *testing.T) {
	srv := sshtest.Start(t)
	dir, inst := standIns(t)
	os.WriteFile(inst.InstallImage, []byte("#!/bin/sh\necho 'ERROR: no image found'\nexit 3\n"), 0o755)
	hk, _ := providers.NewHostKey("test")
	err := inst.Install(context.Background(), Target{Node: "m", Address: "127.0.0.1", Port: srv.Port, KeyFile: srv.KeyFile,
		HostKey: hk, Hostname: "m", AuthorizedKeys: []string{testPublicKey(t)}})
	if err == nil || !strings.Contains(err.Error(), "installimage failed (exit 3)") || !strings.Contains(err.Error(), "no image found") {
		t.Fatalf("%v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rebooted")); err == nil {
		t.Fatal("rebooted after a failed install")
	}
	if strings.Contains(err.Error(), string(hk.Private)) {
		t.Fatal("the host key is in the error")
	}
}

func TestWaitSSHChecksTheHostKey(t *testing.T) {
	srv := sshtest.Start(t)
	ctx := context.Background()
	if err := waitSSH(ctx, srv.Addr, nil, 5*time.Second); err != nil {
		t.Fatalf("banner: %v", err)
	}
	if err := waitSSH(ctx, srv.Addr, []string{providers.AuthorizedKey(srv.HostKey)}, 5*time.Second); err != nil {
		t.Fatalf("right key: %v", err)
	}
	other, _ := providers.NewHostKey("other")
	err := waitSSH(ctx, srv.Addr, []string{other.Public}, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "another host key") {
		t.Fatalf("wrong key accepted: %v", err)
	}
}

func TestPostInstallMakesTheLoginUser(t *testing.T) {
	hk, _ := providers.NewHostKey("t")
	s := PostInstall(Target{HostKey: hk, Hostname: "h", AuthorizedKeys: []string{"ssh-ed25519 AAAA"}, User: "admin"})
	for _, want := range []string{"useradd -m -s /bin/bash 'admin'", "'admin ALL=(ALL) NOPASSWD:ALL' >\"$R/etc/sudoers.d/90-omc-admin\"", "chmod 440"} {
		if !strings.Contains(s, want) {
			t.Errorf("post-install lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(PostInstall(Target{HostKey: hk, User: "root"}), "useradd") {
		t.Error("root is made as a user")
	}
}
