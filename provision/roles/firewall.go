package roles

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/templates"
)

// firewall: nftables from the port table, applied with an automatic
// revert that only a fresh SSH connection can cancel.
func (b *builder) firewall() {
	fw := templates.Firewall{Node: b.n.Name, SSHPort: b.n.SSH.Port}
	if fw.SSHPort == 0 {
		fw.SSHPort = 22
	}
	for _, p := range b.s.AdminCIDRs {
		if p.Addr().Is4() {
			fw.AdminV4 = append(fw.AdminV4, p.String())
		} else {
			fw.AdminV6 = append(fw.AdminV6, p.String())
		}
	}
	roles := NodeRoles(b.n, b.fleet)
	if b.s.Monitoring != nil {
		roles = append(roles, roleMonitoring)
	}
	for _, p := range Ports(roles) {
		if p.Admin {
			continue // SSH: from the admin sets above, on the node's SSH port
		}
		if p.Monitor {
			if r := b.limitedRule(p); r != nil {
				fw.Limited = append(fw.Limited, *r)
			}
			continue
		}
		fw.Rules = append(fw.Rules, templates.Rule{Proto: p.Proto, Ports: p.Range(), Comment: p.Purpose})
	}
	conf, err := templates.Render(templates.Nftables, fw)
	if err != nil {
		b.fail(err)
		return
	}
	b.add(&provision.PackagesStep{Names: []string{"nftables"}},
		// ufw would drop what omc's table accepts; omc's table is the firewall.
		&provision.ServiceStep{Name: "ufw", Enabled: false, Running: false},
		&NftablesStep{Conf: conf, RevertAfter: revertAfter})
}

// revertAfter: longer than the engine's 20 s confirmation window plus the
// commit, short enough that a locked-out admin waits under a minute.
const revertAfter = 45

// Where the firewall step keeps its state on the node.
const (
	fwDir      = "/var/lib/omc/firewall"
	fwNext     = fwDir + "/next.nft"
	fwRevert   = fwDir + "/revert.nft"
	fwLoaded   = fwDir + "/loaded.sum"
	fwState    = fwDir + "/state"
	fwConf     = "/etc/nftables.conf"
	fwUnit     = "omc-firewall-revert"
	fwListOurs = "nft list table inet omc"
)

// NftablesStep wants Conf loaded and persisted as /etc/nftables.conf.
//
// Applying it is guarded: the script saves omc's current table, arms a
// systemd timer that restores it after RevertAfter seconds, then loads the
// new ruleset. The engine then opens a fresh SSH connection; only if that
// gets in does Commit cancel the timer and persist the ruleset (and
// enable nftables.service for reboots). If the new rules cut omc off, the
// step fails and the timer puts the old rules back.
//
// In sync means: /etc/nftables.conf is Conf, and the loaded table is the
// one omc loaded from it (its `nft list` checksum, recorded at commit),
// so a ruleset changed by hand or lost by a flush is noticed.
type NftablesStep struct {
	Conf        []byte
	RevertAfter int
}

func (s *NftablesStep) ID() string { return "firewall (nftables)" }

func (s *NftablesStep) sum() string {
	h := sha256.Sum256(s.Conf)
	return hex.EncodeToString(h[:])
}

func (s *NftablesStep) Probe() string {
	return `command -v nft >/dev/null && echo nft=yes
echo "conf=$(sha256sum < ` + fwConf + ` 2>/dev/null | cut -d' ' -f1)"
echo "live=$(` + fwListOurs + ` 2>/dev/null | sha256sum | cut -d' ' -f1)"
echo "state=$(cat ` + fwState + ` 2>/dev/null)"
echo "enabled=$(systemctl is-enabled nftables 2>/dev/null)"`
}

func (s *NftablesStep) Plan(obs []string) (*provision.Change, error) {
	if _, ok := field(obs, "nft"); !ok {
		if _, probed := field(obs, "conf"); !probed {
			return nil, fmt.Errorf("unexpected probe output for %s", s.ID())
		}
		// Not installed yet (a plan before the packages step ran).
		return s.change("load and persist the ruleset (nftables not installed yet)"), nil
	}
	conf, _ := field(obs, "conf")
	live, _ := field(obs, "live")
	state, _ := field(obs, "state")
	en, _ := field(obs, "enabled")
	want := s.sum()
	switch {
	case conf != want:
		return s.change("load and persist a new ruleset"), nil
	case state != want+" "+live:
		return s.change("reload the ruleset (the loaded rules differ from " + fwConf + ")"), nil
	case en != "enabled":
		return &provision.Change{Step: s, Summary: "enable nftables.service", Script: "systemctl enable nftables"}, nil
	}
	return nil, nil
}

func (s *NftablesStep) change(summary string) *provision.Change {
	after := strconv.Itoa(s.RevertAfter)
	return &provision.Change{
		Step:    s,
		Summary: summary + " (reverted after " + after + "s unless omc can still get in)",
		Before:  "mkdir -p -m 0700 " + fwDir,
		Write: &provision.FileWrite{Path: fwNext, Mode: 0o600, Owner: "0", Group: "0", ContentChanged: true,
			Content: func([]byte) ([]byte, error) { return s.Conf, nil }},
		Script: `set -e
nft -c -f ` + fwNext + `
{ echo 'table inet omc'; echo 'delete table inet omc'; ` + fwListOurs + ` 2>/dev/null || true; } > ` + fwRevert + `
systemctl stop ` + fwUnit + `.timer 2>/dev/null || true
systemctl reset-failed ` + fwUnit + `.timer ` + fwUnit + `.service 2>/dev/null || true
systemd-run --quiet --unit=` + fwUnit + ` --on-active=` + after + ` --timer-property=AccuracySec=1s /usr/sbin/nft -f ` + fwRevert + `
nft -f ` + fwNext + `
` + fwListOurs + ` | sha256sum | cut -d' ' -f1 > ` + fwLoaded,
		Commit: `set -e
systemctl stop ` + fwUnit + `.timer
live=$(` + fwListOurs + ` 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ "$live" != "$(cat ` + fwLoaded + `)" ]; then
  echo "the automatic revert already ran before omc could confirm; run omc again" >&2; exit 1
fi
cp ` + fwNext + ` ` + fwConf + `.omc-tmp && chmod 0755 ` + fwConf + `.omc-tmp && mv -f ` + fwConf + `.omc-tmp ` + fwConf + `
echo "` + s.sum() + ` $live" > ` + fwState + `
systemctl enable --quiet nftables`,
	}
}
