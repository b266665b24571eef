package roles

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/provision"
)

// bbbAPI is bbb-web on the node itself: meeting checks ask the node, not
// its public name, which may still point at another server during a
// rebuild (ebbba#213).
const bbbAPI = "http://127.0.0.1:8090/bigbluebutton/api"

// bbbSecretFiles: where the secret BBB runs with may be, newest first:
// omc's record of the one it last restarted BBB with (the override file
// may already hold a new one BBB has not loaded yet), the override, and
// the package's default (before omc ever restarted BBB).
const bbbLiveSecret = "/var/lib/omc/bbb-live-secret"

var bbbSecretFiles = []string{bbbLiveSecret, bbbWebProps, "/usr/share/bbb-web/WEB-INF/classes/bigbluebutton.properties"}

// meetingsProbe prints meetings=N, or meetings=unknown:WHY. The checksum
// is computed on the node from the node's own secret, so the secret never
// travels in a script or shows in a log.
var meetingsProbe = `m=unknown:no-secret-yet
if ! command -v curl >/dev/null; then m=unknown:no-curl
else for f in ` + strings.Join(shell.QuoteAll(bbbSecretFiles), " ") + `; do
  s=$(sed -n 's/^securitySalt=//p' "$f" 2>/dev/null | tail -n 1); [ -n "$s" ] || continue
  c=$(printf '%s' "getMeetings$s" | sha256sum | cut -d' ' -f1)
  r=$(curl -fsS -m 5 "` + bbbAPI + `/getMeetings?checksum=$c" 2>&1)
  case "$r" in
  *'<returncode>SUCCESS</returncode>'*) m=$(printf '%s' "$r" | grep -o '<meetingID>' | wc -l); break ;;
  *checksumError*) m="unknown:the API refuses every secret omc knows of" ;;
  *) m="unknown:$(printf '%s' "$r" | tr -d '\n' | cut -c1-120)"; break ;;
  esac
done; fi
echo "meetings=$m"`

// liveMeetings refuses a restart while meetings run, or when the node
// cannot say: restarting BBB ends every meeting on it.
func liveMeetings(obs []string, force bool, what string) error {
	m, ok := field(obs, "meetings")
	if !ok {
		return fmt.Errorf("unexpected probe output (no meeting count)")
	}
	if force || m == "0" {
		return nil
	}
	if reason, unknown := strings.CutPrefix(m, "unknown:"); unknown {
		return fmt.Errorf("%s would restart BBB, and the node cannot tell whether meetings are live (%s); drain it (omc drain NODE), or pass --force (setting bbb_force: true) to go ahead", what, reason)
	}
	return fmt.Errorf("%s would restart BBB while %s meeting(s) are live on the node; drain it first (omc drain NODE), or pass --force (setting bbb_force: true) to drop them", what, m)
}

// BBBPreflight fails before anything is installed when the node's OS is
// not the one the BBB line runs on.
type BBBPreflight struct {
	Version, OS string
}

func (s *BBBPreflight) ID() string { return "bbb preflight " + s.Version }

func (s *BBBPreflight) Probe() string {
	return `. /etc/os-release 2>/dev/null; echo "os=$ID-$VERSION_ID"; echo "arch=$(uname -m)"`
}

func (s *BBBPreflight) Plan(obs []string) (*provision.Change, error) {
	osv, ok := field(obs, "os")
	if !ok {
		return nil, fmt.Errorf("unexpected probe output for %s", s.ID())
	}
	if osv != s.OS {
		return nil, fmt.Errorf("BBB %s runs on %s, this host is %s: nothing was installed (a different line needs a fresh server)", s.Version, s.OS, osv)
	}
	if arch, _ := field(obs, "arch"); arch != "x86_64" {
		return nil, fmt.Errorf("BBB needs an x86_64 host, this one is %s", arch)
	}
	return nil, nil
}

// BBBPackagesStep installs BBB's packages; when they are already there,
// a version change is an upgrade, which restarts BBB, so it is refused
// while meetings are live (unless Force). apt's lists are refreshed first
// so a newly published version is found.
type BBBPackagesStep struct {
	Packages provision.PackagesStep
	Force    bool
	// Pool, when set, names the Scalelite pool the node serves in: a
	// version change then goes only through omc upgrade, which drains the
	// node first, so Scalelite never sends a meeting to a node mid-upgrade.
	Pool string
	// Upgrade moves BBB to the repository's latest, as a re-run of
	// bbb-install does: every unpinned package of Packages and every
	// installed bbb-* package (BBB's components, which the bigbluebutton
	// package depends on) goes to its candidate version. Without it an
	// installed package stays at its version, so apt never moves BBB
	// unasked.
	Upgrade bool
}

func (s *BBBPackagesStep) ID() string { return "bbb " + s.Packages.ID() }

func (s *BBBPackagesStep) Probe() string {
	p := s.Packages.Probe() + "\n" + meetingsProbe
	if !s.Upgrade {
		return p
	}
	var names []string
	for _, n := range s.Packages.Names {
		if !strings.Contains(n, "=") {
			names = append(names, n)
		}
	}
	// The lists are refreshed here, not only in the script: the latest
	// version is what the plan says it installs.
	return `DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null 2>&1 || echo "aptupdate=failed"
for p in $({ printf '%s\n' ` + strings.Join(shell.QuoteAll(names), " ") + `; dpkg-query -W -f='${Package}\n' 'bbb-*' 2>/dev/null; } | sort -u); do
  echo "pkg=$p|$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}' -- "$p" 2>/dev/null)"
  echo "candidate=$p|$(apt-cache policy -- "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p')"
done
` + p
}

// latest adds name=candidate for each installed package whose candidate
// is newer (upgrade mode), leaving pinned names as they are.
func (s *BBBPackagesStep) latest(obs []string) ([]string, error) {
	names := slices.Clone(s.Packages.Names)
	if !s.Upgrade {
		return names, nil
	}
	if v, _ := field(obs, "aptupdate"); v == "failed" {
		return nil, fmt.Errorf("apt-get update failed on the node, so the repository's latest BBB is unknown (run it there to see why)")
	}
	pinned := map[string]bool{}
	for _, n := range names {
		if name, _, ok := strings.Cut(n, "="); ok {
			pinned[name] = true
		}
	}
	installed := map[string]string{}
	for _, l := range obs {
		if rest, ok := strings.CutPrefix(l, "pkg="); ok {
			f := strings.SplitN(rest, "|", 3)
			if len(f) == 3 && len(f[1]) >= 2 && f[1][1] == 'i' {
				installed[f[0]] = f[2]
			}
		}
	}
	var add []string
	for _, l := range obs {
		rest, ok := strings.CutPrefix(l, "candidate=")
		if !ok {
			continue
		}
		name, cand, _ := strings.Cut(rest, "|")
		cur, ok := installed[name]
		if !ok || pinned[name] || cand == "" || cand == "(none)" || cand == cur {
			continue
		}
		add = append(add, name+"="+cand)
		pinned[name] = true
	}
	sort.Strings(add)
	var out []string
	for _, n := range names { // an unpinned name that moves is named once, with its version
		if !slices.ContainsFunc(add, func(a string) bool { return strings.HasPrefix(a, n+"=") }) {
			out = append(out, n)
		}
	}
	return append(out, add...), nil
}

// Moves says which of BBB's packages the step would move to another
// version ("name old→new, ..."), "" for none, from its probe's output.
func (s *BBBPackagesStep) Moves(obs []string) (string, error) {
	names, err := s.latest(obs)
	if err != nil {
		return "", err
	}
	c, err := (&provision.PackagesStep{Names: names}).Plan(obs)
	if c == nil || err != nil || !strings.Contains(c.Summary, "→") {
		return "", err
	}
	return c.Summary, nil
}

func (s *BBBPackagesStep) Plan(obs []string) (*provision.Change, error) {
	names, err := s.latest(obs)
	if err != nil {
		return nil, err
	}
	c, err := (&provision.PackagesStep{Names: names}).Plan(obs)
	if c == nil || err != nil {
		return c, err
	}
	if strings.Contains(c.Summary, "→") { // an installed package changes version
		if s.Pool != "" {
			return nil, fmt.Errorf("upgrading %s: the node serves in pool %s, so its BBB changes version only through a rolling upgrade (omc upgrade %s --to VERSION: drain, upgrade, health check, enable), or with --force", c.Summary, s.Pool, s.Pool)
		}
		if err := liveMeetings(obs, s.Force, "upgrading "+c.Summary); err != nil {
			return nil, err
		}
	}
	c.Step = s
	c.Script = "DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update || exit $?\n" + c.Script
	return c, nil
}

// BBBRestartStep restarts BBB (bbb-conf --restart) when its override
// files differ from those it last restarted with, recorded by checksum
// on the node, so a run that failed half-way still restarts next time,
// and nothing restarts while meetings are live (unless Force).
type BBBRestartStep struct {
	Files []string
	Force bool
}

func (s *BBBRestartStep) ID() string { return "bbb restart on config change" }

func (s *BBBRestartStep) sums() string {
	return "cat -- " + strings.Join(shell.QuoteAll(s.Files), " ") + " 2>/dev/null | sha256sum | cut -d' ' -f1"
}

func (s *BBBRestartStep) Probe() string {
	return `echo "now=$(` + s.sums() + `)"
echo "applied=$(cat ` + bbbAppliedSum + ` 2>/dev/null)"
` + meetingsProbe
}

func (s *BBBRestartStep) Plan(obs []string) (*provision.Change, error) {
	now, ok := field(obs, "now")
	if !ok {
		return nil, fmt.Errorf("unexpected probe output for %s", s.ID())
	}
	if applied, _ := field(obs, "applied"); applied == now {
		return nil, nil
	}
	if err := liveMeetings(obs, s.Force, "applying changed BBB configuration"); err != nil {
		return nil, err
	}
	return &provision.Change{Step: s, Summary: "bbb-conf --restart (configuration changed)",
		Script: "set -e\nbbb-conf --restart >/dev/null\nmkdir -p /var/lib/omc\n" +
			"(umask 077; grep '^securitySalt=' " + bbbWebProps + " > " + bbbLiveSecret + ")\n" +
			s.sums() + " > " + bbbAppliedSum}, nil
}

// BBBHealthStep wants the node's BBB API answering: the root with
// SUCCESS, and a getMeetings signed with the node's secret with SUCCESS
// (so the secret omc set is the one BBB uses). When it does not answer
// yet (BBB starting after a restart), it waits up to Wait seconds.
type BBBHealthStep struct {
	Wait int
}

func (s *BBBHealthStep) ID() string { return "bbb health" }

func (s *BBBHealthStep) Probe() string {
	return `r=$(curl -fsS -m 5 ` + bbbAPI + ` 2>/dev/null); case "$r" in *'<returncode>SUCCESS</returncode>'*) echo root=ok;; *) echo root=down;; esac
echo "version=$(printf '%s' "$r" | sed -n 's:.*<bbbVersion>\(.*\)</bbbVersion>.*:\1:p')"
` + meetingsProbe
}

func (s *BBBHealthStep) Plan(obs []string) (*provision.Change, error) {
	root, ok := field(obs, "root")
	if !ok {
		return nil, fmt.Errorf("unexpected probe output for %s", s.ID())
	}
	m, _ := field(obs, "meetings")
	if root == "ok" && !strings.HasPrefix(m, "unknown") {
		return nil, nil
	}
	return &provision.Change{Step: s, Summary: "wait for the BBB API to answer", Script: `i=0
while [ $i -lt ` + strconv.Itoa(s.Wait/2) + ` ]; do
` + indent(meetingsProbe) + ` > /tmp/.omc-bbb-health
  grep -q '^meetings=[0-9]' /tmp/.omc-bbb-health && { rm -f /tmp/.omc-bbb-health; exit 0; }
  i=$((i+1)); sleep 2
done
echo "BBB API on the node did not answer a signed getMeetings with SUCCESS within ` + strconv.Itoa(s.Wait) + `s: $(cat /tmp/.omc-bbb-health)" >&2
rm -f /tmp/.omc-bbb-health; exit 1`}, nil
}

func indent(s string) string {
	return "  { " + strings.ReplaceAll(s, "\n", "\n    ") + "; }"
}

// bbbRecordingYML is where bbb-conf --setip records the playback host.
const bbbRecordingYML = "/usr/local/bigbluebutton/core/scripts/bigbluebutton.yml"

// BBBSetIPStep runs bbb-conf --setip DOMAIN when BBB does not serve that
// name yet, as bbb-install does: it sets what only bbb-conf knows to set
// for the name on each line (the recordings' playback host, FreeSWITCH's
// ws-binding, webrtc-sfu's freeswitch.ip). It comes before omc writes its
// override files, so that theirs win. It restarts BBB, so it waits for
// meetings like a restart, except on a node omc never configured (no
// applied checksum) where bbb-web may not answer yet.
type BBBSetIPStep struct {
	Domain string
	Force  bool
}

func (s *BBBSetIPStep) ID() string { return "bbb-conf --setip " + s.Domain }

func (s *BBBSetIPStep) Probe() string {
	return `echo "playback=$(sed -n 's/^playback_host: *//p' ` + bbbRecordingYML + ` 2>/dev/null | tr -d "\"' ")"
echo "applied=$(cat ` + bbbAppliedSum + ` 2>/dev/null)"
` + meetingsProbe
}

func (s *BBBSetIPStep) Plan(obs []string) (*provision.Change, error) {
	playback, ok := field(obs, "playback")
	if !ok {
		return nil, fmt.Errorf("unexpected probe output for %s", s.ID())
	}
	if playback == s.Domain {
		return nil, nil
	}
	m, _ := field(obs, "meetings")
	if applied, _ := field(obs, "applied"); applied != "" || !strings.HasPrefix(m, "unknown:") {
		if err := liveMeetings(obs, s.Force, "bbb-conf --setip"); err != nil {
			return nil, err
		}
	}
	what := "playback host " + playback
	if playback == "" {
		what = "no playback host yet"
	}
	return &provision.Change{Step: s, Summary: "bbb-conf --setip " + s.Domain + " (" + what + ")",
		Script: "bbb-conf --setip " + shell.Quote(s.Domain) + " >/dev/null"}, nil
}
