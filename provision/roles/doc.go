// Package roles builds the steps that turn a fresh server into a BBB
// fleet node: what bbb-install.sh and the Ansible roles do, as idempotent
// provision steps (a second run changes nothing), with every file omc
// writes rendered from package templates and pinned by golden tests.
//
// Steps returns, in order: base (every node), firewall, tls (bbb and turn
// nodes), turn (turn nodes, and a bbb node whose group has none), bbb
// (with its secrets and tuning), sysctl, bandwidth, monitoring and backup
// (nodes whose settings have monitoring or backup).
//
// # How the roles read settings
//
// The roles read each node's settings as the inventory decoded them:
// typed, checked where they were written (FILE:LINE:COL), merged
// defaults < group < node and with their defaults filled in
// (inventory.Settings: omc help settings lists every key with its type,
// default and doc, from the struct tags omc schema reads too). What needs the node's roles or BBB line (bbb_version on a bbb
// node, bbb.default_layout against the line's layouts, the secrets named)
// is checked while the steps are built, so omc validate refuses it too.
// The run's own options (omc up --force, omc upgrade's target) come as
// inventory.Run, never as settings keys.
//
// Backups make one snapshot per target and run, tagged omc-TARGET:
// config (bbb: /etc/bigbluebutton, FreeSWITCH's vars.xml, the nginx site;
// turn: /etc/turnserver.conf and /etc/turnserver; bbb and turn:
// /etc/letsencrypt; scalelite: /etc/default/scalelite; plus backup.paths),
// recordings (bbb: /var/bigbluebutton/published, unpublished and
// recording/raw) and scalelite-db (scalelite: db_dump's output, dumped
// to /var/backups/omc/scalelite.pgdump first). Paths that do not exist
// are left out. The repository is initialised once; every converge checks
// it with a read-only restic cat config. /usr/local/sbin/omc-restic runs
// restic with the node's repository and password; omc backup status and
// omc restore use it. No BBB exporter is packaged for Debian or Ubuntu, so
// monitoring installs none; dropping the monitoring or backup setting
// closes the exporter's port but leaves what was installed.
//
// # Secrets
//
// The API secret comes from the inventory (api_secret) or is derived; the
// TURN shared secret (per TURN server) and FreeSWITCH's default_password
// are derived: sha256(purpose NUL node NUL seed). None is ever part of a
// step ID or summary; SecretValues lists them so output can mask diffs,
// with the restic password and backup credentials (written only to
// 0600 files under /etc/omc/backup, never in a script or a command line).
//
// # Restarts
//
// Package upgrades and configuration changes that restart BBB first ask
// the node itself (bbb-web on 127.0.0.1:8090, with a checksum computed on
// the node) how many meetings are live, and refuse while any are, or
// while the node cannot tell, unless bbb_force is set (omc up --force).
// On a node whose group has a Scalelite pool, a BBB version change goes
// only through omc upgrade, which drains the node first; omc up refuses
// it, so Scalelite never sends a meeting to a node mid-upgrade.
package roles
