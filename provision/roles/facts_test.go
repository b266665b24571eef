package roles

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/testenv"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
)

// The goldens pin whole step lists, but they are written by the code
// under test: `go test -update` over a bug would pin the bug. The facts
// below are what the goldens carry that matters, written by hand from the
// inventories in testdata/ and checked on the parsed steps, and where a
// real tool reads the step's file on a host (nft, tc, apt, sh) through
// that tool, so a rewritten golden still fails when one of them breaks.

// fileContent is the content of the file step for path (plain or
// checked), and whether there is one.
func fileContent(steps []provision.Step, path string) (string, bool) {
	for _, s := range steps {
		switch x := s.(type) {
		case *provision.FileStep:
			if x.Path == path {
				return string(x.Content), true
			}
		case *checkedFile:
			if x.Path == path {
				return string(x.Content), true
			}
		}
	}
	return "", false
}

func stepIndex(steps []provision.Step, id string) int {
	return slices.IndexFunc(steps, func(s provision.Step) bool { return s.ID() == id })
}

// keyValues reads "key=value" lines (properties, unit sections).
func keyValues(text string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			m[k] = v
		}
	}
	return m
}

func sysctls(steps []provision.Step) map[string]string {
	m := map[string]string{}
	for _, s := range steps {
		if x, ok := s.(*provision.SysctlStep); ok {
			m[x.Name] = x.Value
		}
	}
	return m
}

func ruleset(t *testing.T, steps []provision.Step) string {
	t.Helper()
	for _, s := range steps {
		if x, ok := s.(*NftablesStep); ok {
			return string(x.Conf)
		}
	}
	t.Fatal("no firewall step")
	return ""
}

// inNetns runs script as root in a new network namespace, so nft and tc
// change nothing of this machine's.
func inNetns(t *testing.T, script string, tools ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root (a network namespace for nft and tc)")
	}
	for _, tool := range append([]string{"unshare"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "needs %s (apt-get install util-linux nftables iproute2)", tool)
		}
	}
	out, err := exec.Command("unshare", "-n", "--", "/bin/sh", "-ec", script).CombinedOutput()
	if err != nil {
		t.Fatalf("in a network namespace: %v\n%s", err, out)
	}
	return string(out)
}

// nftRules loads the ruleset into nft in a fresh network namespace and
// returns the input chain's port rules as nft lists them (comments
// dropped) and the elements of each set.
func nftRules(t *testing.T, conf string) (rules []string, sets map[string]string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "omc.nft")
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out := inNetns(t, "nft -f "+p+"\nnft list table inet omc", "nft")
	sets = map[string]string{}
	set := ""
	comment := regexp.MustCompile(` comment "[^"]*"$`)
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "set ") && strings.HasSuffix(l, " {"):
			set = strings.Fields(l)[1]
		case strings.HasPrefix(l, "elements = ") && set != "":
			sets[set] = strings.TrimPrefix(l, "elements = ")
		case strings.Contains(l, " dport "):
			rules = append(rules, comment.ReplaceAllString(l, ""))
		}
	}
	return rules, sets
}

// tcCaps runs the bandwidth script (start, then stop) in a fresh network
// namespace whose eth0 is one end of a veth pair, and returns the HTB
// rates tc shows on eth0 (egress) and on the ifb device (ingress),
// whether eth0's ingress is redirected to it, and what is left after stop.
func tcCaps(t *testing.T, script string) (egress, ingress string, redirected bool, after string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "omc-bandwidth")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out := inNetns(t, `ip link add eth0 type veth peer name omc-peer0
ip link set eth0 up
`+p+` start 2>/dev/null
echo "egress: $(tc class show dev eth0)"
echo "ingress: $(tc class show dev omc-ifb0)"
echo "filter: $(tc filter show dev eth0 parent ffff: | tr '\n' ' ')"
`+p+` stop
echo "after: $(tc qdisc show dev eth0) $(ip link show omc-ifb0 2>&1)"`, "tc", "ip")
	rate := regexp.MustCompile(`htb 1:10 root .*rate (\S+) ceil (\S+)`)
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(l, ": ")
		switch k {
		case "egress", "ingress":
			m := rate.FindStringSubmatch(v)
			if m == nil || m[1] != m[2] {
				t.Errorf("%s: no HTB class with rate = ceil: %q", k, v)
				continue
			}
			if k == "egress" {
				egress = m[1]
			} else {
				ingress = m[1]
			}
		case "filter":
			redirected = strings.Contains(v, "Egress Redirect to device omc-ifb0")
		case "after":
			after = v
		}
	}
	return egress, ingress, redirected, after
}

// aptIndexes is the binary-amd64 package indexes apt would fetch for
// these sources.list files (apt-get update --print-uris, in a scratch
// state directory: nothing is fetched or changed).
func aptIndexes(t *testing.T, lists map[string]string) []string {
	t.Helper()
	if _, err := exec.LookPath("apt-get"); err != nil {
		testenv.Missing(t, "needs apt-get (a Debian or Ubuntu machine)")
	}
	d := t.TempDir()
	parts := filepath.Join(d, "sources.list.d")
	for _, sub := range []string{parts, filepath.Join(d, "lists", "partial"), filepath.Join(d, "cache", "archives", "partial")} {
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, c := range lists {
		if err := os.WriteFile(filepath.Join(parts, filepath.Base(p)), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("apt-get", "update", "--print-uris",
		"-o", "Dir::Etc::SourceList=/dev/null", "-o", "Dir::Etc::SourceParts="+parts,
		"-o", "Dir::State::Lists="+filepath.Join(d, "lists"), "-o", "Dir::Cache="+filepath.Join(d, "cache"),
		"-o", "APT::Architecture=amd64", "-o", "APT::Architectures::=amd64", "-o", "Debug::NoLocking=1").CombinedOutput()
	if err != nil {
		t.Fatalf("apt-get update --print-uris: %v\n%s", err, out)
	}
	var idx []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		u := strings.Trim(f[0], "'")
		if i := strings.Index(u, "/binary-amd64/Packages"); i >= 0 {
			idx = append(idx, u[:i])
		}
	}
	sort.Strings(idx)
	return idx
}

// deriveHex is the seed derivation as a fleet's secrets depend on it:
// sha256 of purpose, node and seed joined by NUL, hex. Changing it would
// change every derived secret of every running fleet.
func deriveHex(purpose, node, seed string) string {
	h := sha256.Sum256([]byte(purpose + "\x00" + node + "\x00" + seed))
	return hex.EncodeToString(h[:])
}

var (
	bbbPorts  = []string{"tcp dport 80 accept", "tcp dport 443 accept", "udp dport 16384-32768 accept"}
	turnPorts = []string{"tcp dport 80 accept", "tcp dport 443 accept", "tcp dport 3478 accept", "udp dport 3478 accept", "udp dport 443 accept", "udp dport 32769-65535 accept"}
	adminSSH  = []string{"ip saddr @admin4 tcp dport 22 accept", "ip6 saddr @admin6 tcp dport 22 accept"}
	mediaSet  = map[string]string{"net.core.rmem_max": "16777216", "net.core.wmem_max": "16777216", "net.ipv4.tcp_slow_start_after_idle": "0"}
)

// sampleFacts: testdata/fleet.yaml, node by node.
var sampleFacts = map[string]struct {
	ports  []string          // input rules with a port, besides admin ssh
	sysctl map[string]string // every sysctl step
	caps   string            // "egress/ingress" as tc shows them; "" none
	salt   string            // securitySalt; "" no BBB
}{
	// bbb-1 and bbb-2 relay through turn-1 (their group's TURN node).
	"bbb-1": {bbbPorts, mediaSet, "500Mbit/400Mbit", deriveHex("bbb-api", "bbb-1", fakeSeed)},
	"bbb-2": {bbbPorts, map[string]string{"net.core.rmem_max": "16777216", "net.core.wmem_max": "16777216", "net.core.somaxconn": "8192"},
		"500Mbit/400Mbit", fakeAPI},
	"turn-1": {turnPorts, mediaSet, "500Mbit/400Mbit", ""},
	// school has no TURN node: school-bbb runs coturn itself.
	"school-bbb": {append(slices.Clone(bbbPorts), turnPorts[2:]...), mediaSet, "", deriveHex("bbb-api", "school-bbb", fakeSeed)},
}

// checkSampleFacts checks node n's steps (fleet.yaml) against sampleFacts;
// golden is the node's golden file as it is on disk.
func checkSampleFacts(t *testing.T, inv *inventory.Inventory, fleet []*inventory.Node, n *inventory.Node, steps []provision.Step, golden string) {
	want, ok := sampleFacts[n.Name]
	if !ok {
		t.Fatalf("no facts for %s: add it to sampleFacts", n.Name)
	}
	if got := sysctls(steps); !maps.Equal(got, want.sysctl) {
		t.Errorf("sysctls %v, want %v", got, want.sysctl)
	}
	props, ok := fileContent(steps, "/etc/bigbluebutton/bbb-web.properties")
	if ok != (want.salt != "") {
		t.Fatalf("bbb-web.properties written: %v, want %v", ok, want.salt != "")
	}
	if ok {
		kv := keyValues(props)
		if kv["securitySalt"] != want.salt {
			t.Error("bbb-web.properties: securitySalt is not the node's API secret")
		}
		if kv["bigbluebutton.web.serverURL"] != "https://"+n.Domain {
			t.Errorf("bbb-web.properties: serverURL %q", kv["bigbluebutton.web.serverURL"])
		}
		if !regexp.MustCompile(`(?m)^securitySalt=<secret-\d+>$`).MatchString(golden) {
			t.Error("the golden does not show securitySalt masked")
		}
	}
	for _, v := range append(inv.SecretValues(), SecretValues(inv, fleet)...) {
		if strings.Contains(golden, v) {
			t.Error("a secret is in the golden file")
		}
	}
	t.Run("nft", func(t *testing.T) {
		rules, sets := nftRules(t, ruleset(t, steps))
		if w := append(slices.Clone(adminSSH), want.ports...); !slices.Equal(rules, w) {
			t.Errorf("port rules, as nft reads them:\n%s\nwant:\n%s", strings.Join(rules, "\n"), strings.Join(w, "\n"))
		}
		if sets["admin4"] != "{ 198.51.100.0/24 }" || sets["admin6"] != "{ 2001:db8::/32 }" {
			t.Errorf("admin sets %v, want the inventory's admin_cidrs", sets)
		}
	})
	t.Run("tc", func(t *testing.T) {
		script, ok := fileContent(steps, "/usr/local/sbin/omc-bandwidth")
		if want.caps == "" {
			if ok {
				t.Error("bandwidth script without settings.bandwidth")
			}
			if i := stepIndex(steps, "service omc-bandwidth.service"); i < 0 || steps[i].(*provision.ServiceStep).Enabled || steps[i].(*provision.ServiceStep).Running {
				t.Error("without settings.bandwidth, omc-bandwidth.service must be stopped and disabled (removing old caps)")
			}
			return
		}
		if !ok {
			t.Fatal("no bandwidth script")
		}
		e, i, redirected, after := tcCaps(t, script)
		if e+"/"+i != want.caps || !redirected {
			t.Errorf("caps %s/%s, ingress redirected to ifb %v; want %s, redirected", e, i, redirected, want.caps)
		}
		if strings.Contains(after, "htb") || !strings.Contains(after, "does not exist") {
			t.Errorf("stop left caps: %s", after)
		}
	})
}

// lineFacts: what each line installs, from bbb-install's branch for it:
// the package indexes apt reads from omc's sources, and BBB's packages.
var lineFacts = map[string]struct {
	indexes  []string // binary-amd64 indexes, sorted
	packages []string // the bbb packages step's
}{
	"3.0": {[]string{
		"https://deb.nodesource.com/node_18.x/dists/nodistro/main",
		"https://download.docker.com/linux/ubuntu/dists/jammy/stable",
		"https://ppa.launchpadcontent.net/bigbluebutton/support/ubuntu/dists/jammy/main",
		"https://ppa.launchpadcontent.net/martin-uni-mainz/coturn/ubuntu/dists/jammy/main",
		"https://ppa.launchpadcontent.net/rmescandon/yq/ubuntu/dists/jammy/main",
		"https://repo.mongodb.org/apt/ubuntu/dists/jammy/mongodb-org/6.0/multiverse",
		"https://ubuntu.bigbluebutton.org/jammy-300/dists/bigbluebutton-jammy/main",
	}, []string{"bigbluebutton", "bbb-html5"}},
	"4.0": {[]string{
		"https://deb.nodesource.com/node_22.x/dists/nodistro/main",
		"https://download.docker.com/linux/ubuntu/dists/noble/stable",
		"https://ubuntu.bigbluebutton.org/noble-400/dists/bigbluebutton-noble/main",
	}, []string{"bigbluebutton"}},
	"4.1": {[]string{
		"https://deb.nodesource.com/node_22.x/dists/nodistro/main",
		"https://download.docker.com/linux/ubuntu/dists/noble/stable",
		"https://ubuntu.bigbluebutton.org/noble-410/dists/bigbluebutton-noble/main",
	}, []string{"bigbluebutton"}},
}

// checkLineFacts: every source list is read by apt as lineFacts says, its
// signed-by keyring is downloaded by a step before it, and BBB's packages
// come after the sources and dependencies.
func checkLineFacts(t *testing.T, version string, steps []provision.Step) {
	want, ok := lineFacts[version]
	if !ok {
		t.Fatalf("no facts for line %s: add it to lineFacts", version)
	}
	lists := map[string]string{}
	last, bbb := -1, -1
	signedBy := regexp.MustCompile(`signed-by=(\S+?)[ \]]`)
	for i, s := range steps {
		switch x := s.(type) {
		case *provision.FileStep:
			if !strings.HasPrefix(x.Path, "/etc/apt/sources.list.d/") {
				continue
			}
			lists[x.Path], last = string(x.Content), i
			m := signedBy.FindStringSubmatch(string(x.Content))
			if m == nil {
				t.Errorf("%s: no signed-by keyring", x.Path)
				continue
			}
			if !slices.ContainsFunc(steps[:i], func(s provision.Step) bool {
				c, ok := s.(*provision.CommandStep)
				return ok && c.Creates == m[1] && strings.Contains(c.Run, "curl -fsSL 'https://")
			}) {
				t.Errorf("%s: no step before it downloads its keyring %s", x.Path, m[1])
			}
		case *provision.PackagesStep, *freshPackages:
			last = i
		case *BBBPackagesStep:
			bbb = i
			if !slices.Equal(x.Packages.Names, want.packages) {
				t.Errorf("bbb packages %v, want %v", x.Packages.Names, want.packages)
			}
		}
	}
	if bbb < 0 || bbb < last {
		t.Errorf("BBB's packages (step %d) must come after every source and dependency (step %d)", bbb, last)
	}
	if got := aptIndexes(t, lists); !slices.Equal(got, want.indexes) {
		t.Errorf("apt reads these indexes from omc's sources:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want.indexes, "\n"))
	}
}

// opsFacts: testdata/ops-fleet.yaml, node by node.
var opsFacts = map[string]struct {
	repo      string // RESTIC_REPOSITORY
	keep      string // the retention flags
	calendar  string // OnCalendar and RandomizedDelaySec of the timer
	listen    string // the node exporter's address
	tags      string // the targets a run backs up, as restic tags
	extraRule string // a port rule besides the role's and 9100's
}{
	"bbb-1":  {"s3:https://s3.example.org/omc-backups/bbb-1", "--keep-daily 14 --keep-weekly 4 --keep-monthly 6", "*-*-* 01:30:00 2h", "10.0.0.10:9100", "omc-config omc-recordings", "udp dport 16384-32768 accept"},
	"bbb-2":  {"s3:https://s3.example.org/omc-backups/bbb-2", "--keep-daily 7 --keep-weekly 4 --keep-monthly 6", "*-*-* 01:30:00 2h", "127.0.0.1:9100", "omc-config", "udp dport 16384-32768 accept"},
	"turn-1": {"s3:https://s3.example.org/omc-backups/turn-1", "--keep-daily 7 --keep-weekly 4 --keep-monthly 6", "*-*-* 03:00:00 30min", "203.0.113.20:9100", "omc-config", "udp dport 32769-65535 accept"},
	"sl-1":   {"/srv/restic/sl-1", "--keep-daily 7 --keep-weekly 4 --keep-monthly 6", "*-*-* 01:30:00 2h", "203.0.113.30:9100", "omc-config omc-scalelite-db", ""},
}

// checkOpsFacts checks node n's backup and monitoring steps against
// opsFacts: the node exporter's flags and nft's reading of the ruleset,
// and the nightly backup run for real on a copy of this machine (nsHost)
// where omc's files are converged, restic (and the scalelite node's
// docker) being stand-ins that log what they were given.
func checkOpsFacts(t *testing.T, n *inventory.Node, steps []provision.Step) {
	want, ok := opsFacts[n.Name]
	if !ok {
		t.Fatalf("no facts for %s: add it to opsFacts", n.Name)
	}
	unit, _ := fileContent(steps, "/etc/systemd/system/prometheus-node-exporter.service.d/50-omc.conf")
	if !strings.Contains(unit, "\nExecStart=\nExecStart=/usr/bin/prometheus-node-exporter --web.listen-address="+want.listen+" $ARGS\n") {
		t.Errorf("node exporter drop-in does not listen on %s:\n%s", want.listen, unit)
	}
	timer, _ := fileContent(steps, "/etc/systemd/system/omc-backup.timer")
	if kv := keyValues(timer); kv["OnCalendar"]+" "+kv["RandomizedDelaySec"] != want.calendar || kv["Persistent"] != "true" {
		t.Errorf("timer %v, want %s, persistent", kv, want.calendar)
	}
	t.Run("nft", func(t *testing.T) {
		rules, _ := nftRules(t, ruleset(t, steps))
		for _, r := range []string{"ip saddr 192.0.2.0/24 tcp dport 9100 accept", "ip6 saddr 2001:db8:9::/48 tcp dport 9100 accept", want.extraRule} {
			if r != "" && !slices.Contains(rules, r) {
				t.Errorf("no rule %q among:\n%s", r, strings.Join(rules, "\n"))
			}
		}
		if slices.ContainsFunc(rules, func(r string) bool { return strings.HasPrefix(r, "tcp dport 9100") }) {
			t.Error("9100 is open to everyone")
		}
	})
	t.Run("backup run", func(t *testing.T) {
		all := onMachine(steps)
		// What BBB and Scalelite would have left for the backup to find.
		h := newNSHost(t, packagesMade(all)+`mkdir -p /var/bigbluebutton/published /etc/default
touch /etc/default/scalelite
printf '#!/bin/sh\nprintf "%%s|%%s|%%s|%%s\\n" "$RESTIC_REPOSITORY" "$(cat "$RESTIC_PASSWORD_FILE")" "$AWS_SECRET_ACCESS_KEY" "$*" >> /tmp/restic.log\n' > `+nsBin+`/restic
printf '#!/bin/sh\necho dump\n' > `+nsBin+`/docker
chmod 755 `+nsBin+`/restic `+nsBin+`/docker`)
		if r, _, _ := h.run(provision.Apply, all); r.Err != nil {
			t.Fatal(r.Err)
		}
		if r, err := h.sh(t.Context(), "/usr/local/sbin/omc-backup"); err != nil || r.ExitCode != 0 {
			t.Fatalf("omc-backup: %v, exit %d: %s%s", err, r.ExitCode, r.Stdout, r.Stderr)
		}
		var tags []string
		forget := false
		for _, l := range strings.Split(strings.TrimSpace(h.mustSh("cat /tmp/restic.log")), "\n") {
			f := strings.SplitN(l, "|", 4)
			if len(f) != 4 || f[0] != want.repo || f[1] != fakeRestic || f[2] != fakeS3 {
				t.Errorf("restic ran without the node's repository, password or credentials (%d fields, repository %q)", len(f), f[0])
				continue
			}
			args := f[3]
			switch {
			case strings.HasPrefix(args, "backup --quiet --host "+n.Name+" --tag "):
				tags = append(tags, strings.Fields(args)[5])
			case strings.HasPrefix(args, "forget --quiet --prune --host "+n.Name+" --group-by host,tags "):
				forget = strings.HasSuffix(args, " "+want.keep)
			default:
				t.Errorf("restic %s", args)
			}
		}
		if strings.Join(tags, " ") != want.tags || !forget {
			t.Errorf("backed up %v, forget with %q: %v; want %s", tags, want.keep, forget, want.tags)
		}
	})
}
