package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Inputs of each arm, generated from the one workload.

// omcSteps is the workload as omc steps for every node: file contents and
// lines are Go templates ({{ .Node.Name }}); paths are under root, the
// same on every host (Host.In).
func omcSteps(steps []step, root string) []map[string]any {
	var out []map[string]any
	tmpl := func(s string) string { return strings.ReplaceAll(s, "@@NAME@@", "{{ .Node.Name }}") }
	for _, s := range steps {
		m := map[string]any{"name": s.name}
		p := root + s.path
		switch s.kind {
		case kPackages:
			m["packages"] = s.pkgs
		case kDir:
			m["dir"] = map[string]any{"path": p, "mode": s.mode, "owner": s.owner, "group": s.group}
		case kFile:
			f := map[string]any{"path": p, "content": tmpl(s.content), "mode": s.mode, "owner": s.owner, "group": s.group}
			if s.notify != "" {
				f["notify"] = []string{s.notify}
			}
			m["file"] = f
		case kLine:
			l := map[string]any{"path": p, "line": tmpl(s.line), "match": pyRegexp(s.match)}
			if s.notify != "" {
				l["notify"] = []string{s.notify}
			}
			m["line"] = l
		case kSysctl:
			m["sysctl"] = map[string]any{"name": s.key, "value": s.value}
		case kService:
			m["service"] = map[string]any{"name": s.unit, "enabled": true, "running": true}
		case kUser:
			m["user"] = map[string]any{"name": s.user, "shell": s.shell, "groups": s.groups}
		case kTimezone:
			z := "/usr/share/zoneinfo/" + s.tz
			m["command"] = map[string]any{
				"run":    "ln -sfn " + z + " " + root + "/etc/localtime && echo " + s.tz + " > " + root + "/etc/timezone",
				"unless": `[ "$(readlink ` + root + `/etc/localtime)" = ` + z + ` ] && [ "$(cat ` + root + `/etc/timezone 2>/dev/null)" = ` + s.tz + ` ]`,
			}
		}
		out = append(out, m)
	}
	return out
}

// writeOmcInventory writes a static inventory: the hosts as they are,
// addresses and host keys pinned, as for servers that already exist, and
// the workload once, as the group's steps, as an operator with hundreds
// of alike servers writes it (every host sees the same paths, Host.In).
func writeOmcInventory(path string, hosts []*Host, steps []step, systemd bool, keyFile string) error {
	var nodes []map[string]any
	for _, h := range hosts {
		if h.In != hosts[0].In {
			return fmt.Errorf("hosts %s and %s see their files at different paths (%q, %q)", hosts[0].Name, h.Name, hosts[0].In, h.In)
		}
		n := map[string]any{"name": h.Name, "address": h.Addr, "host_key": h.HostKey}
		if h.Port != 22 {
			n["ssh"] = map[string]any{"port": h.Port}
		}
		nodes = append(nodes, n)
	}
	g := map[string]any{"provider": "static", "nodes": nodes}
	if len(hosts) > 0 {
		g["steps"] = omcSteps(steps, hosts[0].In)
	}
	inv := map[string]any{
		"apiVersion": "omc/v1",
		"name":       "omcbench",
		"defaults":   map[string]any{"ssh": map[string]any{"user": "root", "key": keyFile}},
		"groups":     map[string]any{"bench": g},
	}
	return writeYAML(path, inv)
}

func writeYAML(path string, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Ansible: one playbook for both arms, as an Ansible user would write it
// (modules, templates, handlers); the arms differ only in ansible.cfg.

func writeAnsible(dir string, hosts []*Host, steps []step, systemd bool, keyFile, knownHosts string) error {
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		return err
	}
	// Inventory.
	var inv strings.Builder
	inv.WriteString("[bench]\n")
	for _, h := range hosts {
		fmt.Fprintf(&inv, "%s ansible_host=%s ansible_port=%d", h.Name, h.Addr, h.Port)
		if !systemd {
			fmt.Fprintf(&inv, " bench_root=%s", h.In)
		}
		inv.WriteString("\n")
	}
	inv.WriteString("\n[bench:vars]\nansible_user=root\n")
	fmt.Fprintf(&inv, "ansible_ssh_private_key_file=%s\n", keyFile)
	fmt.Fprintf(&inv, "ansible_ssh_common_args='-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes'\n", knownHosts)
	if systemd {
		inv.WriteString("bench_root=''\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts.ini"), []byte(inv.String()), 0o644); err != nil {
		return err
	}

	jinja := func(s string) string { return strings.ReplaceAll(s, "@@NAME@@", "{{ inventory_hostname }}") }
	var tasks []map[string]any
	handlers := map[string]bool{}
	for i, s := range steps {
		p := "{{ bench_root }}" + s.path
		t := map[string]any{"name": s.name}
		switch s.kind {
		case kPackages:
			t["ansible.builtin.apt"] = map[string]any{"name": s.pkgs, "state": "present", "update_cache": true, "cache_valid_time": 21600}
		case kDir:
			t["ansible.builtin.file"] = map[string]any{"path": p, "state": "directory", "mode": s.mode, "owner": s.owner, "group": s.group}
		case kFile:
			src := fmt.Sprintf("f%02d-%s", i, filepath.Base(s.path))
			mod := "ansible.builtin.template"
			if s.static {
				mod = "ansible.builtin.copy"
			} else {
				src += ".j2"
			}
			if err := os.WriteFile(filepath.Join(dir, "templates", src), []byte(jinja(s.content)), 0o644); err != nil {
				return err
			}
			t[mod] = map[string]any{"src": "templates/" + src, "dest": p, "mode": s.mode, "owner": s.owner, "group": s.group}
		case kLine:
			t["ansible.builtin.lineinfile"] = map[string]any{"path": p, "line": jinja(s.line), "regexp": pyRegexp(s.match)}
		case kSysctl:
			t["ansible.posix.sysctl"] = map[string]any{"name": s.key, "value": s.value, "sysctl_file": sysctlConf(s.key), "sysctl_set": true, "reload": false}
		case kService:
			t["ansible.builtin.systemd"] = map[string]any{"name": s.unit, "enabled": true, "state": "started"}
		case kUser:
			t["ansible.builtin.user"] = map[string]any{"name": s.user, "shell": s.shell, "groups": s.groups, "append": true}
		case kTimezone:
			// Idiomatic Ansible: two declarative tasks instead of a guarded command.
			tasks = append(tasks, map[string]any{"name": s.name + " (localtime)",
				"ansible.builtin.file": map[string]any{"src": "/usr/share/zoneinfo/" + s.tz, "dest": "{{ bench_root }}/etc/localtime", "state": "link", "force": true}})
			t["name"] = s.name + " (/etc/timezone)"
			t["ansible.builtin.copy"] = map[string]any{"content": s.tz + "\n", "dest": "{{ bench_root }}/etc/timezone", "mode": "0644"}
		}
		if s.notify != "" {
			t["notify"] = "restart " + s.notify
			handlers[s.notify] = true
		}
		tasks = append(tasks, t)
	}
	var hs []map[string]any
	for _, u := range []string{"coturn", "nftables"} {
		if handlers[u] {
			hs = append(hs, map[string]any{"name": "restart " + u, "ansible.builtin.systemd": map[string]any{"name": u, "state": "restarted"}})
		}
	}
	play := map[string]any{"name": "BBB node (omc benchmark workload)", "hosts": "bench", "tasks": tasks}
	if len(hs) > 0 {
		play["handlers"] = hs
	}
	if err := writeYAML(filepath.Join(dir, "site.yml"), []map[string]any{play}); err != nil {
		return err
	}

	// ansible.cfg per arm. "ansible": Debian's defaults, nothing set
	// (forks 5, facts gathered, no pipelining, ControlPersist 60s).
	// "ansible-tuned": what a tuning guide says.
	if err := os.WriteFile(filepath.Join(dir, "ansible.cfg"), []byte("# Debian's ansible as shipped: no settings.\n[defaults]\n"), 0o644); err != nil {
		return err
	}
	forks := len(hosts)
	if forks < 5 {
		forks = 5
	}
	tuned := "[defaults]\nforks = " + strconv.Itoa(forks) + "\ngathering = explicit\ninterpreter_python = /usr/bin/python3\n" +
		"\n[ssh_connection]\npipelining = True\nssh_args = -o ControlMaster=auto -o ControlPersist=30m\n"
	return os.WriteFile(filepath.Join(dir, "ansible-tuned.cfg"), []byte(tuned), 0o644)
}

// writeKnownHosts writes known_hosts for OpenSSH from the host keys the
// provider (or the loopback harness) returned.
func writeKnownHosts(path string, hosts []*Host) error {
	var b strings.Builder
	for _, h := range hosts {
		if h.Port == 22 {
			fmt.Fprintf(&b, "%s %s\n", h.Addr, h.HostKey)
		} else {
			fmt.Fprintf(&b, "[%s]:%d %s\n", h.Addr, h.Port, h.HostKey)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
