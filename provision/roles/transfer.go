package roles

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/templates"
)

// Recordings reach Scalelite the way Scalelite's bigbluebutton/README
// describes for rsync over SSH: after BBB publishes a recording, the node
// packs each published format of it into MEETING.tar and rsyncs that into
// the scalelite node's spool, where the recording importer takes it. omc
// writes its own post_publish hook and transfer script rather than
// Scalelite's (same protocol: the tar layout, the spool, the sender.done
// marker), and adds what the README leaves to the operator:
//   - the SSH key pair is derived from the seed, so both ends are written
//     in one run and a rebuilt node gets the same key;
//   - the receiving account may only write into the spool (rrsync -wo);
//   - a tar left by a failed transfer is retried by a timer, and
//     omc status counts those that wait (a stuck transfer).
const (
	spoolUser       = "scalelite-spool"
	spoolGID        = slGID
	transferDir     = "/etc/bigbluebutton/omc-scalelite"
	transferKey     = transferDir + "/id_ed25519"
	transferScript  = "/usr/local/lib/omc/scalelite-transfer"
	transferHook    = "/usr/local/bigbluebutton/core/scripts/post_publish/omc_scalelite.rb"
	transferWork    = TransferWork
	transferUnit    = "omc-scalelite-transfer"
	purposeTransfer = "scalelite-transfer"
	rrsync          = "/usr/bin/rrsync"
)

// TransferWork is where a bbb node packs each recording and where a tar
// a failed transfer left waits for the timer.
const TransferWork = "/var/bigbluebutton/recording/scalelite"

// TransferRetry is how often the timer sends again what waits; omc
// status --transfers calls a node stuck when its oldest tar has waited
// longer than TransferStuckAfter, two tries.
const (
	TransferRetry      = 10 * time.Minute
	TransferStuckAfter = 2 * TransferRetry
)

// ScaleliteTarget is the managed scalelite node that bbb node n sends
// its recordings to (its group's), nil when there is none.
func ScaleliteTarget(n *inventory.Node, fleet []*inventory.Node) *inventory.Node {
	if !has(n, RoleBBB) {
		return nil
	}
	return scaleliteTarget(n, fleet)
}

// scaleliteTarget is the managed scalelite node of n's group, if any.
func scaleliteTarget(n *inventory.Node, fleet []*inventory.Node) *inventory.Node {
	for _, m := range groupWith(n, fleet, RoleScalelite) {
		if RunsScalelite(m) {
			return m
		}
	}
	return nil
}

// transferKeys is a BBB node's transfer key pair, derived from the seed:
// the private key in OpenSSH's format (its check number derived too, so
// the file is the same on every run) and the public key line.
func (x secrets) transferKeys(n *inventory.Node, s *inventory.Settings) (private []byte, public string, err error) {
	seed, err := x.seed(n, s)
	if err != nil {
		return nil, "", err
	}
	h := sha256.Sum256([]byte(derive(purposeTransfer, n.Name, seed)))
	key := ed25519.NewKeyFromSeed(h[:])
	pub, err := ssh.NewPublicKey(key.Public())
	if err != nil {
		return nil, "", err
	}
	comment := "omc-transfer-" + n.Name
	return openSSHKey(key, pub, binary.BigEndian.Uint32(h[:4]), comment), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + comment, nil
}

// openSSHKey encodes an unencrypted ed25519 key as OpenSSH's
// openssh-key-v1 (PROTOCOL.key), with the given check number.
func openSSHKey(key ed25519.PrivateKey, pub ssh.PublicKey, check uint32, comment string) []byte {
	str := func(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
	var priv []byte
	priv = binary.BigEndian.AppendUint32(priv, check)
	priv = binary.BigEndian.AppendUint32(priv, check)
	priv = append(priv, str([]byte(ssh.KeyAlgoED25519))...)
	priv = append(priv, str(key.Public().(ed25519.PublicKey))...)
	priv = append(priv, str(key)...)
	priv = append(priv, str([]byte(comment))...)
	for i := byte(1); len(priv)%8 != 0; i++ {
		priv = append(priv, i)
	}
	var b []byte
	b = append(b, "openssh-key-v1\x00"...)
	b = append(b, str([]byte("none"))...)
	b = append(b, str([]byte("none"))...)
	b = append(b, str(nil)...)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = append(b, str(pub.Marshal())...)
	b = append(b, str(priv)...)
	return pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: b})
}

// recordingTransfer adds, on a bbb node whose group has a scalelite
// node, the key, script, hook and retry timer that send its published
// recordings there.
func (b *builder) recordingTransfer() {
	n, s := b.n, b.s
	sl := scaleliteTarget(n, b.fleet)
	if sl == nil {
		return
	}
	private, _, err := b.sec.transferKeys(n, s)
	b.fail(err)
	if len(b.errs) > 0 {
		return
	}
	b.add(&provision.PackagesStep{Names: []string{"rsync", "openssh-client"}},
		&provision.DirStep{Path: transferDir, Mode: 0o750, Owner: "bigbluebutton", Group: "bigbluebutton"},
		&provision.FileStep{Path: transferKey, Content: private, Mode: 0o600, Owner: "bigbluebutton", Group: "bigbluebutton"},
		&provision.DirStep{Path: transferWork, Mode: 0o755, Owner: "bigbluebutton", Group: "bigbluebutton"})
	t := templates.Transfer{Spool: spoolUser + "@" + sl.Domain + ":", Key: transferKey, KnownHosts: transferDir + "/known_hosts",
		Work: transferWork, Script: transferScript, Port: sl.SSH.Port, Retry: fmt.Sprintf("%dmin", int(TransferRetry.Minutes())),
		Published: "/var/bigbluebutton/published", Status: "/var/bigbluebutton/recording/status/published"}
	b.addFile(transferScript, templates.TransferScript, t, 0o755, "root", "root")
	b.addFile(transferHook, templates.TransferHook, t, 0o644, "root", "root")
	b.addFile("/etc/systemd/system/"+transferUnit+".service", templates.TransferUnit, t, 0o644, "root", "root")
	b.addFile("/etc/systemd/system/"+transferUnit+".timer", templates.TransferTimer, t, 0o644, "root", "root", transferUnit+".timer")
	b.add(daemonReload(transferUnit + ".timer"))
	b.add(&provision.ServiceStep{Name: transferUnit + ".timer", Enabled: true, Running: true})
}

// spoolAccount adds, on a scalelite node, the account the group's BBB
// nodes send recordings to: in the spool's group (the gid Scalelite's
// containers use), and allowed only to write into the spool.
func (b *builder) spoolAccount() {
	var keys []string
	for _, m := range groupWith(b.n, b.fleet, RoleBBB) {
		_, pub, err := b.sec.transferKeys(m, &m.Settings)
		if err != nil {
			b.fail(err)
			continue
		}
		keys = append(keys, `restrict,command="`+rrsync+` -wo `+slRoot+`/spool" `+pub)
	}
	home := "/var/lib/" + spoolUser
	// rrsync, the forced command, is a python3 script in Debian's and
	// Ubuntu's rsync.
	b.add(&provision.PackagesStep{Names: []string{"rsync", "python3"}},
		&provision.CommandStep{Label: "group " + spoolUser, Run: "groupadd --system --gid " + spoolGID + " " + spoolUser,
			Unless: "getent group " + spoolUser + " >/dev/null"},
		&provision.CommandStep{Label: "user " + spoolUser,
			Run:    "useradd --system --gid " + spoolUser + " --home-dir " + home + " --shell /bin/sh " + spoolUser,
			Unless: "getent passwd " + spoolUser + " >/dev/null"},
		&provision.DirStep{Path: home, Mode: 0o750, Owner: spoolUser, Group: spoolUser},
		&provision.DirStep{Path: home + "/.ssh", Mode: 0o700, Owner: spoolUser, Group: spoolUser},
		&provision.FileStep{Path: home + "/.ssh/authorized_keys", Mode: 0o600, Owner: spoolUser, Group: spoolUser,
			Content: []byte("# Managed by omc: the group's BBB nodes, each allowed only to write recordings into the spool.\n" + strings.Join(keys, "\n") + "\n")})
}
