package roles

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/templates"
)

// Backup target names: snapshots are tagged "omc-" + name.
const (
	TargetConfig      = "config"
	TargetRecordings  = "recordings"
	TargetScaleliteDB = "scalelite-db"
	// TargetScaleliteRedis is the Redis of a Scalelite omc runs, where
	// Scalelite keeps its servers and tenants.
	TargetScaleliteRedis = "scalelite-redis"
)

// Where the backup role keeps its files on a node.
const (
	backupDir      = "/etc/omc/backup"
	backupPassword = backupDir + "/password"
	backupEnv      = backupDir + "/env"
	// ResticWrapper runs restic with the node's repository and password.
	ResticWrapper = "/usr/local/sbin/omc-restic"
	backupScript  = "/usr/local/sbin/omc-backup"
	backupUnit    = "omc-backup.service"
	backupTimer   = "omc-backup.timer"
	scaleliteDump = "/var/backups/omc/scalelite.pgdump"
	scaleliteRDB  = "/var/backups/omc/scalelite.rdb"
	// redisDump prints Redis's snapshot (as a replica would receive it);
	// /dev/stdout rather than "-", which redis-cli reads as stdout only
	// from 7.0 on.
	redisDump    = "redis-cli --rdb /dev/stdout"
	restoreStage = "/var/lib/omc/restore"
	// restoreOwners lists the restored files whose owners' names the node
	// does not know yet, as "user:group path" lines, until omc up has
	// installed the packages that create those users.
	restoreOwners = "/var/lib/omc/restore-owners"
	// The package's own properties: present exactly when bbb-web is installed.
	bbbPackageProps = "/usr/share/bbb-web/WEB-INF/classes/bigbluebutton.properties"
)

// BackupTarget is one thing a node backs up: each run makes one restic
// snapshot of it tagged "omc-" + Name (only of the paths that exist).
type BackupTarget struct {
	Name  string
	Paths []string
}

// Tag is the restic tag of the target's snapshots.
func (t BackupTarget) Tag() string { return "omc-" + t.Name }

// BackupTargets returns what node n backs up, in order, or nil when its
// settings configure no backup (or it has no roles, so no role steps).
func BackupTargets(n *inventory.Node, fleet []*inventory.Node) ([]BackupTarget, error) {
	s := settingsOf(n)
	if s.Backup == nil || len(n.Roles) == 0 {
		return nil, nil // a node without roles gets no role steps
	}
	var out []BackupTarget
	for _, t := range backupTargets(n, fleet, s) {
		out = append(out, BackupTarget{Name: t.Name, Paths: t.Paths})
	}
	return out, nil
}

// backupTargets: the node's configuration (per role), its recordings on
// a bbb node that records, Scalelite's database on a scalelite node (and,
// where omc runs Scalelite, its Redis and the recordings it serves).
func backupTargets(n *inventory.Node, fleet []*inventory.Node, s *inventory.Settings) []templates.BackupTarget {
	roles := NodeRoles(n, fleet)
	var conf []string
	if has(n, RoleBBB) {
		conf = append(conf, "/etc/bigbluebutton", fsVars, bbbNginxSite)
	}
	if slices.Contains(roles, RoleTURN) {
		conf = append(conf, "/etc/turnserver.conf")
		if dedicatedTURN(n) {
			conf = append(conf, "/etc/turnserver")
		}
	}
	if has(n, RoleBBB) || has(n, RoleTURN) {
		conf = append(conf, "/etc/letsencrypt")
	}
	if has(n, RoleScalelite) {
		conf = append(conf, "/etc/default/scalelite")
	}
	for _, p := range s.Backup.Paths {
		if !slices.Contains(conf, p) {
			conf = append(conf, p)
		}
	}
	var out []templates.BackupTarget
	if len(conf) > 0 {
		out = append(out, templates.BackupTarget{Name: TargetConfig, Paths: conf})
	}
	if has(n, RoleBBB) && records(s) {
		out = append(out, templates.BackupTarget{Name: TargetRecordings,
			Paths: []string{"/var/bigbluebutton/published", "/var/bigbluebutton/unpublished", "/var/bigbluebutton/recording/raw"}})
	}
	if has(n, RoleScalelite) {
		out = append(out, templates.BackupTarget{Name: TargetScaleliteDB, Paths: []string{scaleliteDump}, Dump: s.Backup.DBDump})
		if scaleliteOf(s).Managed { // its Redis and recordings are where omc put them
			out = append(out, templates.BackupTarget{Name: TargetScaleliteRedis, Paths: []string{scaleliteRDB}, Dump: redisDump},
				templates.BackupTarget{Name: TargetRecordings, Paths: []string{slRoot + "/published", slRoot + "/unpublished"}})
		}
	}
	return out
}

// records: backup.recordings when set, else whether BBB records
// (settings.bbb.recording, default true as in BBB).
func records(s *inventory.Settings) bool {
	if s.Backup.Recordings != nil {
		return *s.Backup.Recordings
	}
	if s.BBB != nil && s.BBB.Recording != nil {
		return *s.BBB.Recording
	}
	return true
}

// backupRepository is the node's repository with {node} filled in.
func backupRepository(bs *inventory.BackupSettings, n *inventory.Node) string {
	return strings.ReplaceAll(bs.Repository, "{node}", n.Name)
}

// password is the repository password from the inventory.
func (x secrets) resticPassword(n *inventory.Node, s *inventory.Settings) (string, error) {
	if s.Backup == nil {
		return "", fmt.Errorf("node %s: no backup settings", n.Name)
	}
	v, ok := x.inv.Secret(s.Backup.PasswordSecret)
	if !ok || v == "" {
		return "", atSetting("backup.password_secret", "node %s: settings.backup.password_secret: no secret named %q in the inventory (the restic repository password; never written in clear text)", n.Name, s.Backup.PasswordSecret)
	}
	return v, nil
}

// backupEnv resolves settings.backup.environment, sorted by variable.
func (x secrets) backupEnv(n *inventory.Node, s *inventory.Settings) ([]templates.KV, error) {
	if s.Backup == nil {
		return nil, nil
	}
	var out []templates.KV
	for _, k := range sortedKeys(s.Backup.Environment) {
		v, ok := x.inv.Secret(s.Backup.Environment[k])
		if !ok {
			return nil, atSetting("backup.environment", "node %s: settings.backup.environment.%s: no secret named %q in the inventory", n.Name, k, s.Backup.Environment[k])
		}
		out = append(out, templates.KV{Key: k, Value: v})
	}
	return out, nil
}

// backupSecrets lists the node's backup secrets for masking.
func (x secrets) backupSecrets(n *inventory.Node, s *inventory.Settings) []string {
	if s.Backup == nil {
		return nil
	}
	var out []string
	if v, err := x.resticPassword(n, s); err == nil {
		out = append(out, v)
	}
	env, _ := x.backupEnv(n, s)
	for _, kv := range env {
		out = append(out, kv.Value, shell.Quote(kv.Value))
	}
	return out
}

// backup: restic, the repository's credentials (0600, root only), the
// nightly script, its service and timer, and the repository initialised
// once. Nothing here changes on a second run.
func (b *builder) backup() {
	if b.s.Backup == nil {
		return
	}
	b.restoredOwners("", true)
	b.add(b.backupAccess()...)
	bs := b.s.Backup
	data := templates.Backup{Node: b.n.Name, Targets: backupTargets(b.n, b.fleet, b.s),
		KeepDaily: bs.Keep.Daily, KeepWeekly: bs.Keep.Weekly, KeepMonthly: bs.Keep.Monthly,
		Schedule: bs.Schedule, RandomDelay: bs.RandomDelay}
	b.addFile(backupScript, templates.BackupScript, data, 0o700, "root", "root")
	b.add(&provision.CommandStep{Label: "restic init (" + b.n.Name + ")",
		Run:    ResticWrapper + " init",
		Unless: ResticWrapper + " --no-lock --no-cache cat config >/dev/null 2>&1"})
	b.addFile("/etc/systemd/system/"+backupUnit, templates.BackupUnit, data, 0o644, "root", "root")
	b.addFile("/etc/systemd/system/"+backupTimer, templates.BackupTimer, data, 0o644, "root", "root", backupTimer)
	b.add(daemonReload(backupUnit), daemonReload(backupTimer),
		&provision.ServiceStep{Name: backupTimer, Enabled: true, Running: true})
}

// backupAccess: what running restic against the node's repository needs.
func (b *builder) backupAccess() []provision.Step {
	n, s := b.n, b.s
	pass, err := b.sec.resticPassword(n, s)
	b.fail(err)
	env, err := b.sec.backupEnv(n, s)
	b.fail(err)
	if pass == "" || err != nil {
		return nil
	}
	for i := range env {
		env[i].Value = shell.Quote(env[i].Value)
	}
	steps := []provision.Step{
		&provision.PackagesStep{Names: []string{"restic"}},
		&provision.DirStep{Path: "/etc/omc", Mode: 0o755, Owner: "root", Group: "root"},
		&provision.DirStep{Path: backupDir, Mode: 0o700, Owner: "root", Group: "root"},
		&provision.FileStep{Path: backupPassword, Content: []byte(pass), Mode: 0o600, Owner: "root", Group: "root"},
	}
	for _, f := range []struct {
		path, tmpl string
		data       any
		mode       uint32
	}{
		{backupEnv, templates.BackupEnv, templates.BackupEnvironment{Node: n.Name, Env: env}, 0o600},
		{ResticWrapper, templates.ResticWrapper, templates.Restic{Node: n.Name, Repository: backupRepository(s.Backup, n)}, 0o755},
	} {
		fs, err := file(f.path, f.tmpl, f.data, osMode(f.mode), "root", "root")
		if err != nil {
			b.fail(err)
			return nil
		}
		steps = append(steps, fs)
	}
	return steps
}

// BackupAccessSteps are the steps that let restic reach node n's
// repository (restic, password, credentials, the omc-restic wrapper),
// for omc restore on a rebuilt node before omc up; nil without backup
// settings.
func BackupAccessSteps(inv *inventory.Inventory, n *inventory.Node, fleet []*inventory.Node) ([]provision.Step, error) {
	s := settingsOf(n)
	if s.Backup == nil {
		return nil, nil
	}
	b := &builder{inv: inv, n: n, fleet: fleet, s: s, sec: secrets{inv}}
	steps := b.backupAccess()
	if err := b.err(); err != nil {
		return nil, err
	}
	return steps, nil
}

// BackupStatusScript prints, on node n, the result of the last backup run
// (result=…, from systemd) and either snapshots=<restic snapshots --json
// of this node> or error=<why restic could not list them>, or
// state=absent when the node has no backup installed.
func BackupStatusScript(n *inventory.Node) string {
	return `if ! command -v restic >/dev/null || [ ! -x ` + ResticWrapper + ` ]; then echo state=absent; exit 0; fi
echo "result=$(systemctl show -p Result --value ` + backupUnit + ` 2>/dev/null)"
echo "ran=$(systemctl show -p ExecMainExitTimestamp --value ` + backupUnit + ` 2>/dev/null)"
e=$(mktemp)
if out=$(` + ResticWrapper + ` --no-lock snapshots --json --host ` + shell.Quote(n.Name) + ` 2>"$e"); then
  echo "snapshots=$(printf '%s' "$out" | tr -d '\n')"
else
  echo "error=$(tr '\n' ' ' < "$e" | cut -c1-300)"
fi
rm -f "$e"`
}

// snapshotID: restic's full or short snapshot IDs.
var snapshotID = regexp.MustCompile(`^[0-9a-f]{8,64}$`)

// RestoreStep puts node Node's backed-up targets back from its repository
// (the latest snapshot of each, or the one Snapshot names) onto the node,
// over what is there. It refuses while meetings are live on a BBB node,
// or while the node cannot tell, unless Force. Run BackupAccessSteps
// first; afterwards omc up converges the node again.
type RestoreStep struct {
	Node     string
	Targets  []BackupTarget
	Snapshot string // "" or "latest": the latest of each target
	Force    bool
}

func (s *RestoreStep) ID() string { return "restore " + s.Node }

func (s *RestoreStep) Probe() string {
	return `if [ -e ` + bbbPackageProps + ` ]; then
` + meetingsProbe + `
else echo meetings=none; fi`
}

func (s *RestoreStep) Plan(obs []string) (*provision.Change, error) {
	if s.Snapshot != "" && s.Snapshot != "latest" && !snapshotID.MatchString(s.Snapshot) {
		return nil, fmt.Errorf("%q is not a restic snapshot ID (see omc backup status)", s.Snapshot)
	}
	m, ok := field(obs, "meetings")
	if !ok {
		return nil, fmt.Errorf("unexpected probe output for %s", s.ID())
	}
	if !s.Force && m != "none" && m != "0" {
		if reason, unknown := strings.CutPrefix(m, "unknown:"); unknown {
			return nil, fmt.Errorf("restoring would overwrite BBB's configuration and recordings, and the node cannot tell whether meetings are live (%s); use --force to go ahead", reason)
		}
		return nil, fmt.Errorf("restoring would overwrite BBB's configuration and recordings while %s meeting(s) are live on the node; drain it first, or use --force", m)
	}
	var all []string
	for _, t := range s.Targets {
		all = append(all, t.Paths...)
	}
	var sc strings.Builder
	// restic (0.14) will not replace a file or symlink that is there
	// (certbot's live/ links are), so configuration is restored into a
	// staging directory, all of it or nothing, and put in place path by
	// path: only the backed-up paths, never the directories above them
	// (copying the staging directory itself over / made / 0700, and then
	// no service running as its own user could start: coturn failed with
	// status=200/CHDIR), and each file whole, copied next to its place and
	// renamed over it. Recordings, which can be large, go straight into
	// place. restic restores numeric owners, which on a rebuilt node may
	// be other users or none; the owners' names in the snapshot are put
	// back instead (see restoredOwnersScript).
	sc.WriteString("set -e\nr=" + ResticWrapper + "\nst=" + restoreStage + "\nown=" + restoreOwners + `
mkdir -p -m 0700 "${own%/*}"
: > "$own.new"
# owners "PATH..." SELECTION...: "user:group path" of the selected
# snapshot's files at or under the paths, appended to $own.new.
owners() {
  ps=$1; shift
  "$r" --no-lock find --json "$@" '*' > "$own.json"
  sed 's/},{/}\n{/g' "$own.json" |
    sed -n 's/.*"path":"\([^"]*\)".*"user":"\([^"]*\)","group":"\([^"]*\)".*/\2:\3 \1/p' |
    awk -v ps="$ps" 'BEGIN { n = split(ps, P, " ") }
      { p = substr($0, index($0, " ") + 1)
        for (i = 1; i <= n; i++) if (p == P[i] || index(p, P[i] "/") == 1) { print; next } }' >> "$own.new"
  rm -f "$own.json"
}
# place PATH: the staged PATH over PATH.
place() {
  [ -e "$st$1" ] || [ -L "$st$1" ] || return 0
  mkdir -p "${1%/*}/"
  cd "$st"
  find ".$1" -type d ! -name '*
*' | while IFS= read -r d; do
    d=${d#.}
    if [ -L "$d" ] || { [ -e "$d" ] && [ ! -d "$d" ]; }; then rm -f "$d"; fi
    mkdir -p "$d"
  done
  find ".$1" ! -type d ! -name '*
*' | while IFS= read -r f; do
    f=${f#.}
    if [ -d "$f" ] && [ ! -L "$f" ]; then rm -rf "$f"; fi
    cp -a "$st$f" "$f.omc-restore"
    mv -f -T "$f.omc-restore" "$f"
  done
  find ".$1" -depth -type d ! -name '*
*' | while IFS= read -r d; do
    d=${d#.}
    chown --reference="$st$d" "$d"
    chmod --reference="$st$d" "$d"
    touch -r "$st$d" "$d"
  done
  cd /
}
# staged "PATH..." SELECTION...
staged() {
  ps=$1; shift
  rm -rf "$st" && mkdir -p -m 0700 "$st"
  "$r" --no-lock restore "$@" --target "$st"
  for p in $ps; do place "$p"; done
  rm -rf "$st"
}
`)
	var what []string
	if s.Snapshot != "" && s.Snapshot != "latest" {
		sid := shell.Quote(s.Snapshot)
		ps := shell.Quote(strings.Join(all, " "))
		sc.WriteString(`if ! "$r" --no-lock snapshots --json ` + sid + ` | grep -q '"hostname":` + jsonQ(s.Node) + `'; then
  echo "snapshot ` + s.Snapshot + ` is not one of ` + s.Node + `'s (see omc backup status)" >&2; exit 1
fi
owners ` + ps + ` -s ` + sid + `
staged ` + ps + ` ` + sid + `
`)
		for _, t := range s.Targets {
			if load := s.loadMarker(t.Name); load != "" {
				sc.WriteString(`if "$r" --no-lock snapshots --json ` + sid + ` | grep -q '"` + t.Tag() + `"'; then touch ` + load + `; fi
`)
			}
		}
		what = append(what, "snapshot "+s.Snapshot)
	} else {
		// A target never backed up (its paths did not exist yet) is skipped.
		sc.WriteString("n=0\n")
		for _, t := range s.Targets {
			sel := ` --host ` + shell.Quote(s.Node) + ` --tag ` + shell.Quote(t.Tag())
			ps := shell.Quote(strings.Join(t.Paths, " "))
			restore := `staged ` + ps + ` latest` + sel
			if t.Name == TargetRecordings {
				restore = `"$r" --no-lock restore latest` + sel + ` --target /`
			}
			if load := s.loadMarker(t.Name); load != "" {
				restore += ` && touch ` + load
			}
			sc.WriteString(`if "$r" --no-lock snapshots --json` + sel + ` | grep -q '"id"'; then
  owners ` + ps + ` -s latest` + sel + `
  ` + restore + `; n=$((n+1))
else echo "no snapshot of ` + t.Name + ` yet, skipped" >&2; fi
`)
			what = append(what, t.Name)
		}
		sc.WriteString(`[ "$n" -gt 0 ] || { echo "the repository holds no snapshot of ` + s.Node + `" >&2; exit 1; }` + "\n")
	}
	sc.WriteString(`cat "$own.new" >> "$own" && rm -f "$own.new"
` + restoredOwnersScript(false) + "\n")
	if len(what) == 0 {
		return nil, fmt.Errorf("node %s backs up nothing to restore", s.Node)
	}
	next := "then run omc up"
	switch {
	case slices.ContainsFunc(s.Targets, func(t BackupTarget) bool { return t.Name == TargetScaleliteRedis }):
		next += ", which loads Scalelite's database and Redis from them"
	case slices.ContainsFunc(s.Targets, func(t BackupTarget) bool { return t.Name == TargetScaleliteDB }):
		// Scalelite omc does not run: its database is the operator's.
		next += "; load " + scaleliteDump + " into Scalelite's database with pg_restore"
	}
	return &provision.Change{Step: s, Summary: "restore " + strings.Join(what, ", ") + " from " + firstOr(s.Snapshot, "the latest snapshots") + " (" + next + ")",
		Script: strings.TrimRight(sc.String(), "\n")}, nil
}

// restoredOwnersScript gives the files restoreOwners lists their owners
// by name where the node has the user and the group, and root:root until
// it has both (never the old node's numeric ids, which may be someone
// else here); final drops the list, saying which names never came,
// otherwise the lines still waiting stay in it.
func restoredOwnersScript(final bool) string {
	rest := `if [ -s "$own.wait" ]; then mv -f "$own.wait" "$own"; else rm -f "$own.wait" "$own"; fi`
	if final {
		rest = `if [ -s "$own.wait" ]; then
  echo "restored files left owned by root:root, their owners are not on this node: $(cut -d' ' -f1 "$own.wait" | sort -u | tr '\n' ' ')" >&2
fi
rm -f "$own.wait" "$own"`
	}
	return `own=` + restoreOwners + `
if [ -e "$own" ]; then
: > "$own.wait"
while IFS= read -r l; do
  o=${l%% *} p=${l#* }
  [ -e "$p" ] || [ -L "$p" ] || continue
  u=${o%%:*} g=${o#*:}
  if getent passwd "$u" >/dev/null && getent group "$g" >/dev/null; then
    chown -h "$u:$g" "$p"
  else
    chown -h root:root "$p"
    printf '%s\n' "$l" >> "$own.wait"
  fi
done < "$own"
` + rest + `
fi`
}

// restoredOwners: the restored files' owners by name once the packages
// just installed have created them (see restoredOwnersScript); final
// is the last such step of the converge.
func (b *builder) restoredOwners(after string, final bool) {
	if b.s.Backup == nil {
		return
	}
	label := "restored owners"
	if after != "" {
		label += " after " + after
	}
	b.add(&provision.CommandStep{Label: label, Run: restoredOwnersScript(final), Unless: "[ ! -e " + restoreOwners + " ]"})
}

// jsonQ is s as a JSON string, for matching restic's --json output.
func jsonQ(s string) string { return strconv.Quote(s) }

func firstOr(s, def string) string {
	if s == "" || s == "latest" {
		return def
	}
	return s
}
