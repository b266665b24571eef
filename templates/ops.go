package templates

// Template names of the backup and monitoring roles.
const (
	ResticWrapper        = "omc-restic.sh"
	BackupEnv            = "omc-backup.env"
	BackupScript         = "omc-backup.sh"
	BackupUnit           = "omc-backup.service"
	BackupTimer          = "omc-backup.timer"
	NodeExporterOverride = "node-exporter-override.conf"
)

// Restic is the data of ResticWrapper.
type Restic struct {
	Node, Repository string
}

// BackupEnvironment is the data of BackupEnv: Value is already quoted
// for sh (the role quotes it; it is a secret).
type BackupEnvironment struct {
	Node string
	Env  []KV
}

// Backup is the data of BackupScript, BackupUnit and BackupTimer.
type Backup struct {
	Node    string
	Targets []BackupTarget
	// KeepDaily, KeepWeekly and KeepMonthly are restic forget's --keep-*.
	KeepDaily, KeepWeekly, KeepMonthly int
	// Schedule is the timer's OnCalendar, RandomDelay its RandomizedDelaySec.
	Schedule, RandomDelay string
}

// BackupTarget is one snapshot per run, tagged omc-Name. Dump, when set,
// is a command whose standard output is written to Paths[0] first.
type BackupTarget struct {
	Name  string
	Paths []string
	Dump  string
}

// NodeExporter is the data of NodeExporterOverride: Listen is host:port.
type NodeExporter struct {
	Node, Listen string
}
