package templates

// Template names of the scalelite role.
const (
	ScaleliteEnv    = "scalelite.env"
	ScaleliteUnit   = "scalelite.service"
	ScaleliteTarget = "scalelite.target"
	ScaleliteNginx  = "nginx-scalelite.conf"
	ScaleliteDB     = "scalelite-db.sql"
	DockerDaemon    = "docker-daemon.json"
)

// ScaleliteEnvData is the data of ScaleliteEnv, /etc/default/scalelite
// (SecretKeyBase, LoadBalancerSecret and DBPassword are secret).
type ScaleliteEnvData struct {
	Domain, SecretKeyBase, LoadBalancerSecret, DBPassword, Tag string
	Port, PollInterval                                         int
	Multitenancy                                               bool
}

// ScaleliteService is the data of ScaleliteUnit: one of Scalelite's
// containers (api, poller, recording-importer).
type ScaleliteService struct {
	Name, Description, Image string
	// Recordings mounts /var/bigbluebutton (the api and the importer).
	Recordings bool
}

// ScaleliteSite is the data of ScaleliteNginx. Aliases are more names it
// answers (tenants' sub-domains; Scalelite takes the tenant from the
// host's first label).
type ScaleliteSite struct {
	Domain, Cert, Key string
	Aliases           []string
	Port              int
}

// ScaleliteDBData is the data of ScaleliteDB (Password is secret).
type ScaleliteDBData struct {
	Password string
}

// Template names of the recording transfer (bbb nodes of a group with a
// scalelite node).
const (
	TransferScript = "scalelite-transfer.sh"
	TransferHook   = "omc_scalelite.rb"
	TransferUnit   = "omc-scalelite-transfer.service"
	TransferTimer  = "omc-scalelite-transfer.timer"
)

// Transfer is the data of the transfer templates.
type Transfer struct {
	// Spool is rsync's destination, USER@HOST: (the account's forced
	// command puts it in the spool).
	Spool, Key, KnownHosts, Work, Script string
	// Port is the scalelite node's SSH port.
	Port int
	// Retry is the timer's interval, a systemd time span ("10min").
	Retry string
	// Published and Status are BBB's published_dir and its
	// recording/status/published, where the sender.done marker goes.
	Published, Status string
}
