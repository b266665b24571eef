package roles

import (
	"slices"

	"github.com/omc-coop/omc/provision"
)

// A Scalelite omc runs keeps its recordings index in PostgreSQL and its
// servers and tenants in Redis; the nightly backup dumps both to files
// (scaleliteDump, scaleliteRDB). omc restore puts the files back and
// leaves a ".load" marker beside each one it restored; the next omc up
// loads them into the node's PostgreSQL and Redis, after the database
// role exists and before Scalelite's units start, and drops the marker.
// Without a marker nothing is loaded: the files are rewritten by every
// backup, and loading one over the live data would undo a day's work.

// loadMarker is the marker omc restore leaves for target name, or "" for
// a target nothing loads (only a Scalelite omc runs, the one whose Redis
// is backed up too, loads its database).
func (s *RestoreStep) loadMarker(name string) string {
	managed := slices.ContainsFunc(s.Targets, func(t BackupTarget) bool { return t.Name == TargetScaleliteRedis })
	switch {
	case name == TargetScaleliteRedis:
		return scaleliteRDB + ".load"
	case name == TargetScaleliteDB && managed:
		return scaleliteDump + ".load"
	}
	return ""
}

// scaleliteLoads are the steps that load what omc restore brought back.
func scaleliteLoads() []provision.Step {
	db, rdb := scaleliteDump+".load", scaleliteRDB+".load"
	return []provision.Step{
		&provision.CommandStep{
			Label: "load Scalelite's restored database",
			// The units are stopped when they exist (a restore on a live
			// node); on a rebuilt one they come later in this run.
			// pg_restore reads the dump from stdin, which root opens:
			// postgres may not read the backup directory.
			Run: `set -e
systemctl stop ` + slTarget + ` 2>/dev/null || true
runuser -u postgres -- dropdb --if-exists scalelite_production
runuser -u postgres -- createdb -O scalelite scalelite_production
runuser -u postgres -- pg_restore --no-owner --role=scalelite --exit-on-error -d scalelite_production < ` + scaleliteDump + `
rm -f ` + db,
			Unless: "test ! -e " + db,
		},
		&provision.CommandStep{
			Label: "load Scalelite's restored Redis",
			// Redis writes its data set when it stops, so the file goes
			// in between the stop and the start.
			Run: `set -e
systemctl stop redis-server
install -m 0660 -o redis -g redis ` + scaleliteRDB + ` /var/lib/redis/dump.rdb
systemctl start redis-server
rm -f ` + rdb,
			Unless: "test ! -e " + rdb,
		},
	}
}
