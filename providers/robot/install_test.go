package robot

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/shell"
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

// runPostInstall runs the post-install script on a scratch root with
// stand-ins for id, useradd, getent and chown (the real ones would change
// this machine's accounts): they keep users in the root's etc/passwd and
// log each call. It returns the logged calls.
func runPostInstall(t *testing.T, root, script string) (calls string) {
	t.Helper()
	bin := filepath.Join(filepath.Dir(root), "bin")
	log := filepath.Join(filepath.Dir(root), "calls")
	standIns := map[string]string{
		"id":      `[ "$1" = -u ] && grep -q "^$2:" "$OMC_ROOT/etc/passwd" 2>/dev/null`,
		"useradd": `for a; do n=$a; done; mkdir -p "$OMC_ROOT/etc" "$OMC_ROOT/home/$n"; echo "$n:x:1001:1001::/home/$n:/bin/bash" >>"$OMC_ROOT/etc/passwd"`,
		"getent":  `grep "^$2:" "$OMC_ROOT/etc/passwd"`,
		"chown":   `:`,
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range standIns {
		sh := "#!/bin/bash\necho \"" + name + " $*\" >>" + shell.Quote(log) + "\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(sh), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(filepath.Dir(root), "post-install")
	if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", p)
	cmd.Env = append(os.Environ(), "OMC_ROOT="+root, "PATH="+bin+":"+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("post-install: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(log)
	os.Remove(log)
	return string(b)
}

// The post-install script makes a login user other than root once, gives
// it the operator's keys in its own home and passwordless sudo in a file
// sudo reads; for root it makes no user and no sudoers file.
func TestPostInstallMakesTheLoginUser(t *testing.T) {
	hk, _ := providers.NewHostKey("t")
	operator := testPublicKey(t)
	root := filepath.Join(t.TempDir(), "root")
	script := PostInstall(Target{HostKey: hk, Hostname: "h", AuthorizedKeys: []string{operator}, User: "admin"})
	calls := runPostInstall(t, root, script)
	if !strings.Contains(calls, "useradd -m -s /bin/bash admin\n") || !strings.Contains(calls, "chown -R admin: "+root+"/home/admin/.ssh\n") {
		t.Errorf("calls:\n%s", calls)
	}
	keys := filepath.Join(root, "home/admin/.ssh/authorized_keys")
	if b, err := os.ReadFile(keys); err != nil || strings.TrimSpace(string(b)) != operator {
		t.Errorf("admin's authorized_keys = %q %v, want the operator's key", b, err)
	}
	if fi, err := os.Stat(filepath.Dir(keys)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("admin's .ssh: %v %v", fi, err)
	}
	if fi, err := os.Stat(keys); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("admin's authorized_keys is readable by others: %v %v", fi, err)
	}
	sudoers := filepath.Join(root, "etc/sudoers.d/90-omc-admin")
	if b, err := os.ReadFile(sudoers); err != nil || string(b) != "admin ALL=(ALL) NOPASSWD:ALL\n" {
		t.Errorf("sudoers file = %q %v", b, err)
	}
	if fi, err := os.Stat(sudoers); err != nil || fi.Mode().Perm() != 0o440 {
		t.Errorf("sudoers file mode: %v %v", fi, err)
	}
	if visudo, err := exec.LookPath("visudo"); err == nil {
		if out, err := exec.Command(visudo, "-cf", sudoers).CombinedOutput(); err != nil {
			t.Errorf("visudo refuses the sudoers file: %v\n%s", err, out)
		}
	}
	// A second run (installimage retried) finds the user and makes none.
	if calls := runPostInstall(t, root, script); strings.Contains(calls, "useradd") {
		t.Errorf("second run made the user again:\n%s", calls)
	}

	rootOnly := filepath.Join(t.TempDir(), "root")
	calls = runPostInstall(t, rootOnly, PostInstall(Target{HostKey: hk, Hostname: "h", AuthorizedKeys: []string{operator}, User: "root"}))
	if calls != "" {
		t.Errorf("root as the login user: account tools called:\n%s", calls)
	}
	if _, err := os.Stat(filepath.Join(rootOnly, "etc/sudoers.d")); !os.IsNotExist(err) {
		t.Errorf("root as the login user: sudoers.d made (%v)", err)
	}
	if b, err := os.ReadFile(filepath.Join(rootOnly, "root/.ssh/authorized_keys")); err != nil || strings.TrimSpace(string(b)) != operator {
		t.Errorf("root's authorized_keys = %q %v", b, err)
	}
}
