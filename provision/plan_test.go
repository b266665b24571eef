package provision

import (
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/shell"
)

// Plan is a pure function of the probe's output: table tests pin what each
// step kind decides from what a host reported.
func TestPlanDecisions(t *testing.T) {
	tests := []struct {
		name    string
		step    Step
		obs     []string
		summary string // "" = in sync
		script  string // substring expected in Before+Script
		wantErr string
	}{
		{"pkg installed", &PackagesStep{Names: []string{"nginx"}}, []string{"pkg=nginx|ii |1.22"}, "", "", ""},
		{"pkg missing", &PackagesStep{Names: []string{"nginx", "coturn"}}, []string{"pkg=nginx|ii |1.22", "pkg=coturn|"}, "install coturn", "install -- 'coturn'", ""},
		{"pkg removed but config left", &PackagesStep{Names: []string{"nginx"}}, []string{"pkg=nginx|rc |1.22"}, "install nginx", "--force-confold", ""},
		{"pkg pinned other version", &PackagesStep{Names: []string{"coturn=4.6.1"}}, []string{"pkg=coturn|ii |4.6.0"}, "coturn 4.6.0→4.6.1", "'coturn=4.6.1'", ""},
		{"pkg dpkg does not know", &PackagesStep{Names: []string{"x"}}, nil, "install x", "install -- 'x'", ""},
		{"service ok", &ServiceStep{Name: "nginx", Enabled: true, Running: true}, []string{"enabled=enabled", "active=active"}, "", "", ""},
		{"service static counts as enabled", &ServiceStep{Name: "x", Enabled: true, Running: true}, []string{"enabled=static", "active=active"}, "", "", ""},
		{"service stopped", &ServiceStep{Name: "nginx", Enabled: true, Running: true}, []string{"enabled=enabled", "active=inactive"}, "start", "systemctl start -- 'nginx'", ""},
		{"service unknown unit", &ServiceStep{Name: "nginx", Enabled: true, Running: true}, []string{"enabled=", "active=inactive"}, "enable, start", "systemctl enable", ""},
		{"service to stop", &ServiceStep{Name: "x", Enabled: false, Running: false}, []string{"enabled=enabled", "active=active"}, "disable, stop", "systemctl stop", ""},
		{"sysctl in sync (tabs)", &SysctlStep{Name: "net.ipv4.tcp_rmem", Value: "4096 87380 6291456"}, []string{"value=4096\t87380\t6291456", "conf=net.ipv4.tcp_rmem = 4096 87380 6291456"}, "", "", ""},
		{"sysctl differs", &SysctlStep{Name: "net.core.rmem_max", Value: "16777216"}, []string{"value=212992"}, "persist in /etc/sysctl.d/90-omc-net.core.rmem_max.conf, set 212992→16777216", "sysctl -w 'net.core.rmem_max=16777216'", ""},
		{"sysctl unknown key", &SysctlStep{Name: "net.bogus", Value: "1"}, []string{"value=<unknown>"}, "", "", "does not exist"},
		{"user missing", &UserStep{Name: "deploy", Shell: "/bin/bash", Groups: []string{"sudo"}}, []string{"passwd="}, "create", "useradd -m -U -s '/bin/bash' -G 'sudo' -- 'deploy'", ""},
		{"user in sync", &UserStep{Name: "deploy", Shell: "/bin/bash", Groups: []string{"sudo"}}, []string{"passwd=deploy:x:1000:1000::/home/deploy:/bin/bash", "groups=deploy sudo"}, "", "", ""},
		{"user shell and group", &UserStep{Name: "deploy", Shell: "/bin/bash", Groups: []string{"sudo", "adm"}}, []string{"passwd=deploy:x:1000:1000::/home/deploy:/bin/sh", "groups=deploy sudo"}, "shell /bin/sh→/bin/bash, add to adm", "usermod -a -G 'adm'", ""},
		{"command done", &CommandStep{Run: "x", Creates: "/y"}, []string{"done=creates"}, "", "", ""},
		{"command to run", &CommandStep{Run: "make install", Unless: "test -x /usr/bin/app"}, []string{"done=no"}, "run", "make install", ""},
		{"file is a directory", &FileStep{Path: "/etc/x", Mode: 0o644, Owner: "root", Group: "root"}, []string{"state=other"}, "", "", "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.step.Plan(tt.obs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.summary == "" {
				if c != nil {
					t.Fatalf("want in sync, got change %q", c.Summary)
				}
				return
			}
			if c == nil {
				t.Fatalf("want change %q, got in sync", tt.summary)
			}
			if c.Summary != tt.summary {
				t.Fatalf("summary = %q, want %q", c.Summary, tt.summary)
			}
			if !strings.Contains(c.Before+"\n"+c.Script, tt.script) {
				t.Fatalf("script %q does not contain %q", c.Before+"\n"+c.Script, tt.script)
			}
		})
	}
}

func TestSysctlNotPermittedIsAFailureNotSuccess(t *testing.T) {
	c, err := (&SysctlStep{Name: "net.core.rmem_max", Value: "1"}).Plan([]string{"value=2", "conf=net.core.rmem_max = 1"})
	if err != nil || c == nil {
		t.Fatal(c, err)
	}
	err = c.Check("", "sysctl: permission denied on key \"net.core.rmem_max\"", 255)
	if err == nil || !strings.Contains(err.Error(), "not permitted") || !strings.Contains(err.Error(), "NOT applied") {
		t.Fatalf("err = %v", err)
	}
	if c.Check("net.core.rmem_max = 1", "", 0) != nil {
		t.Fatal("success reported as failure")
	}
}

func TestParseProbeRejectsTruncatedOutput(t *testing.T) {
	steps := []Step{&DirStep{Path: "/a"}, &DirStep{Path: "/b"}}
	var facts [numFacts][]string
	facts[factStat] = []string{"/a", "/b"}
	out := "@@n 0\nstate=absent\n" // the second step's marker never came
	if _, _, _, err := parseProbe("n", steps, facts, out); err == nil || !strings.Contains(err.Error(), "ended early") {
		t.Fatalf("err = %v", err)
	}
	out = "@@n 0\nstate=absent\n@@n 1\nstate=dir\n@@n stat\n/b\t755 0 0 root root\n" +
		"@@n ids\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n@@n gids\nroot:x:0:\n"
	obs, uids, gids, err := parseProbe("n", steps, facts, out)
	if err != nil || obs[1][0] != "state=dir" || uids["www-data"] != 33 || gids["root"] != 0 {
		t.Fatalf("obs=%v uids=%v gids=%v err=%v", obs, uids, gids, err)
	}
	// Each step gets its own path's attributes, and only those.
	if len(obs[0]) != 1 || len(obs[1]) != 2 || obs[1][1] != "stat=755 0 0 root root" {
		t.Fatalf("facts not handed to their steps: %q", obs)
	}
}

func TestCommandAndDirStepsOnRealShell(t *testing.T) {
	needRoot(t)
	d := tempDir(t)
	steps := []Step{
		&DirStep{Path: d + "/a/b", Mode: 0o700, Owner: "root", Group: "root"},
		&CommandStep{Run: "echo made > " + shell.Quote(d+"/a/b/out"), Creates: d + "/a/b/out"},
		&CommandStep{Run: "exit 7", Unless: "test -d " + shell.Quote(d+"/a")},
	}
	r, _ := converge(t, Apply, &localConn{}, steps...)
	if r.Err != nil || r.Changed != 2 {
		t.Fatalf("changed=%d err=%v", r.Changed, r.Err)
	}
	r, _ = converge(t, Apply, &localConn{}, steps...)
	if r.Err != nil || r.Changed != 0 {
		t.Fatalf("re-run changed=%d err=%v", r.Changed, r.Err)
	}
	// A failing command fails its host with the command's own words.
	r, _ = converge(t, Apply, &localConn{}, &CommandStep{Run: "echo broken >&2; exit 3", Creates: d + "/never"})
	if r.Err == nil || !strings.Contains(r.Err.Error(), "exit status 3: broken") {
		t.Fatalf("err = %v", r.Err)
	}
}

func TestLineStepOnRealFileKeepsRest(t *testing.T) {
	needRoot(t)
	d := tempDir(t)
	p := d + "/sshd_config"
	writeFile(t, p, "Port 22\n#PasswordAuthentication yes\nUsePAM yes\n")
	s := &LineStep{Path: p, Line: "PasswordAuthentication no", Match: mustRe(`^#?PasswordAuthentication`)}
	r, _ := converge(t, Apply, &localConn{}, s)
	if r.Err != nil || r.Changed != 1 {
		t.Fatal(r)
	}
	if got := readFile(t, p); got != "Port 22\nPasswordAuthentication no\nUsePAM yes\n" {
		t.Fatalf("got %q", got)
	}
	if r, _ := converge(t, Apply, &localConn{}, s); r.Changed != 0 {
		t.Fatal("not idempotent")
	}
}
