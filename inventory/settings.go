package inventory

import (
	"fmt"
	"net/netip"
	"strings"
)

// Settings is settings: at the defaults, a group or a node: what omc's
// roles read, one typed field per key. The decoder reads it with the same
// tags as the rest of the file, so an unknown key is an error at its line
// with a did-you-mean; Schema and SettingsHelp describe every field from
// the same tags (desc, default), and settingRules holds the patterns and
// ranges the validator and the schema share. Values only the user's own
// templates read go under vars, the one free-form key.
//
// A Node's Settings are merged (defaults < group < node: nested mappings
// merge, anything else is replaced, null resets to the default) and have
// their defaults filled in; the levels as written have neither.
type Settings struct {
	Timezone      string             `yaml:"timezone" default:"UTC" desc:"Time zone of /etc/localtime and /etc/timezone, e.g. Europe/Berlin."`
	NTP           []string           `yaml:"ntp" desc:"systemd-timesyncd servers (default: the distribution's)."`
	Admins        []Admin            `yaml:"admins" desc:"Operator accounts: SSH key logins and passwordless sudo."`
	AdminCIDRs    []CIDR             `yaml:"admin_cidrs" desc:"SSH only from these ranges, e.g. [198.51.100.0/24] (default: from anywhere)."`
	Swap          string             `yaml:"swap" desc:"Make /swapfile of this size once, e.g. 4G (default: leave swap alone)."`
	JournalMaxUse string             `yaml:"journal_max_use" default:"1G" desc:"journald SystemMaxUse."`
	Unattended    bool               `yaml:"unattended_upgrades" default:"true" desc:"Security updates; never BBB's packages, never a reboot."`
	Firewall      bool               `yaml:"firewall" default:"true" desc:"nftables rules from the roles' port table."`
	Sysctl        map[string]*string `yaml:"sysctl" desc:"Kernel parameters over omc's defaults, e.g. {net.core.somaxconn: 4096}; null drops one."`
	Bandwidth     *Bandwidth         `yaml:"bandwidth" desc:"tc caps on the public interface."`

	ACMEEmail     string `yaml:"acme_email" desc:"bbb and turn nodes: ACME account e-mail (default: none)."`
	ACMEDirectory string `yaml:"acme_directory" default:"https://acme-v02.api.letsencrypt.org/directory" desc:"bbb and turn nodes: ACME directory (default Let's Encrypt)."`
	ACMECAFile    string `yaml:"acme_ca_file" desc:"bbb and turn nodes: CA bundle on the node that certbot trusts, for a private ACME server."`
	PublicIP      string `yaml:"public_ip" desc:"Behind NAT: the public address (coturn external-ip, FreeSWITCH external IPs, mediasoup announcedIp)."`
	PrivateIP     string `yaml:"private_ip" desc:"Behind NAT: the node's own address."`
	SeedSecret    string `yaml:"seed_secret" default:"bbb_seed" desc:"Inventory secret the per-node secrets derive from."`
	APISecret     string `yaml:"api_secret" desc:"bbb nodes: inventory secret holding the API secret (default: derived from the seed)."`

	BBBVersion  string     `yaml:"bbb_version" desc:"bbb nodes, required: the BBB line, 4.1 or 4.0 (Ubuntu 24.04) or 3.0 (Ubuntu 22.04)."`
	BBBOS       string     `yaml:"bbb_os" desc:"bbb nodes: a line omc does not know, or a build of a known line for another OS, e.g. debian-12 (both need bbb_repo)."`
	BBBRepo     *BBBRepo   `yaml:"bbb_repo" desc:"bbb nodes: BBB's package source (default: BBB's own for the line)."`
	BBBPackages []string   `yaml:"bbb_packages" desc:"bbb nodes: BBB's packages, name or name=version; a new version is an upgrade."`
	BBBForce    bool       `yaml:"bbb_force" desc:"bbb nodes: restart or upgrade BBB even while meetings are live (every run; omc up --force for one)."`
	BBB         *BBBTuning `yaml:"bbb" desc:"bbb nodes: BBB's tuning; only what is set is written."`

	Monitoring *MonitoringSettings `yaml:"monitoring" desc:"Prometheus's node exporter (Debian's prometheus-node-exporter)."`
	Backup     *BackupSettings     `yaml:"backup" desc:"Nightly restic backups of what a node cannot rebuild (Debian's restic)."`
	Greenlight *GreenlightSettings `yaml:"greenlight" omc:"orbool" desc:"bbb nodes: Greenlight v3 at / (true, or a mapping), as bbb-install's -g."`
	Scalelite  *ScaleliteSettings  `yaml:"scalelite" desc:"scalelite nodes: the Scalelite release and options omc installs."`
	LTI        *LTISettings        `yaml:"lti" desc:"bbb nodes: BBB's LTI framework in Docker (/lti, /apps/rooms), as bbb-install's -t; the LMS's key, secret and launch URL are in /opt/bbb-lti/registration.env on the node (root only)."`

	Vars map[string]any `yaml:"vars" desc:"Free-form values for your own templates: {{ .Settings.vars.KEY }}; omc's roles never read them."`

	// at is where each key of the settings was written (see settingsAt).
	at map[string]setAt
}

// Admin is an operator account: key logins and passwordless sudo.
type Admin struct {
	Name string   `yaml:"name" omc:"required" desc:"Login name."`
	Keys []string `yaml:"keys" desc:"SSH public keys in authorized_keys form."`
}

// BBBRepo is an apt source for BBB's packages.
type BBBRepo struct {
	URL        string `yaml:"url" desc:"Repository URL."`
	Suite      string `yaml:"suite" desc:"Suite, e.g. bigbluebutton-jammy."`
	Components string `yaml:"components" default:"main" desc:"Components, space-separated."`
	KeyURL     string `yaml:"key_url" desc:"URL of the repository's signing key."`
	// Trusted marks an unsigned repository (a local test repository).
	Trusted bool `yaml:"trusted" desc:"An unsigned repository (a local test repository)."`
}

// Bandwidth caps a node's public interface (tc rates such as 500mbit).
type Bandwidth struct {
	Egress    string `yaml:"egress" desc:"Outgoing rate, a tc rate such as 500mbit."`
	Ingress   string `yaml:"ingress" desc:"Incoming rate, a tc rate such as 500mbit."`
	Interface string `yaml:"interface" desc:"Interface (default: the default route's)."`
}

// BBBTuning is settings.bbb: named knobs of BBB's override files, and
// three escape hatches (properties, html5, sfu) for the ones omc has no
// name for. Nil fields are left as BBB ships them.
type BBBTuning struct {
	MaxParticipants         *int     `yaml:"max_participants" desc:"bbb-web defaultMaxUsers."`
	MeetingDuration         *int     `yaml:"meeting_duration" desc:"bbb-web defaultMeetingDuration (minutes)."`
	Welcome                 *string  `yaml:"welcome" desc:"bbb-web defaultWelcomeMessage."`
	WelcomeFooter           *string  `yaml:"welcome_footer" desc:"bbb-web defaultWelcomeMessageFooter."`
	MuteOnStart             *bool    `yaml:"mute_on_start" desc:"bbb-web muteOnStart."`
	WebcamsOnlyForModerator *bool    `yaml:"webcams_only_for_moderator" desc:"bbb-web webcamsOnlyForModerator."`
	UserCameraCap           *int     `yaml:"user_camera_cap" desc:"bbb-web userCameraCap."`
	MeetingCameraCap        *int     `yaml:"meeting_camera_cap" desc:"bbb-web meetingCameraCap."`
	MaxPinnedCameras        *int     `yaml:"max_pinned_cameras" desc:"bbb-web maxPinnedCameras."`
	DisabledFeatures        []string `yaml:"disabled_features" desc:"bbb-web disabledFeatures, e.g. [chat]."`
	Recording               *bool    `yaml:"recording" desc:"Record meetings (bbb-web disableRecordingDefault, inverted)."`
	GuestPolicy             *string  `yaml:"guest_policy" desc:"bbb-web defaultGuestPolicy."`
	DefaultLayout           *string  `yaml:"default_layout" desc:"bbb-web defaultMeetingLayout, one of the line's layouts, e.g. SMART_LAYOUT."`
	MaxUploadMB             *int     `yaml:"max_upload_mb" desc:"bbb-web maxFileSizeUpload, in MB."`
	LogoURL                 *string  `yaml:"logo_url" desc:"bbb-web defaultLogoURL (and useDefaultLogo=true)."`
	ClientTitle             *string  `yaml:"client_title" desc:"bbb-html5.yml public.app.clientTitle."`
	AppName                 *string  `yaml:"app_name" desc:"bbb-html5.yml public.app.appName."`
	CameraProfiles          []any    `yaml:"camera_profiles" desc:"bbb-html5.yml public.kurento.cameraProfiles (the whole list: BBB replaces lists)."`
	// Properties, HTML5 and SFU pass through as written.
	Properties map[string]Scalar `yaml:"properties" desc:"Any other bbb-web property: {name: value}."`
	HTML5      map[string]any    `yaml:"html5" desc:"Any other bbb-html5.yml setting, merged into the override file."`
	SFU        map[string]any    `yaml:"sfu" desc:"Any bbb-webrtc-sfu production.yml setting, merged into the override file."`
}

// MonitoringSettings is settings.monitoring: Prometheus's node exporter,
// listening only on Listen and reachable only from Sources.
type MonitoringSettings struct {
	// Listen is the address the exporter binds (zero: the node's
	// private_ip, else its address).
	Listen IP `yaml:"listen" desc:"The only address the exporter binds (default: private_ip, else the node's address)."`
	// Sources are the ranges (the Prometheus servers) the firewall lets
	// reach the exporter; none keeps it closed.
	Sources []CIDR `yaml:"sources" desc:"The only ranges the firewall lets reach 9100/tcp (none: the port stays closed)."`
}

// BackupSettings is settings.backup: nightly restic backups of what a
// node cannot rebuild.
type BackupSettings struct {
	Repository     string            `yaml:"repository" desc:"Required: restic's repository; {node} is the node name. A path on the node, sftp: (root's SSH key on the node), s3:, b2:, rest:."`
	PasswordSecret string            `yaml:"password_secret" default:"restic_password" desc:"Inventory secret with the repository password."`
	Environment    map[string]string `yaml:"environment" desc:"Backend variables from inventory secrets, e.g. {AWS_ACCESS_KEY_ID: s3_key_id} (0600 on the node)."`
	Schedule       string            `yaml:"schedule" default:"*-*-* 01:30:00" desc:"systemd OnCalendar of the nightly run (persistent)."`
	RandomDelay    string            `yaml:"random_delay" default:"2h" desc:"systemd RandomizedDelaySec."`
	Keep           BackupKeep        `yaml:"keep" desc:"Retention: restic forget --prune."`
	Paths          []string          `yaml:"paths" desc:"More paths backed up with the node's configuration."`
	// Recordings overrides whether a bbb node backs up its recordings.
	Recordings *bool  `yaml:"recordings" desc:"bbb nodes: back up recordings (default: unless bbb.recording is false)."`
	DBDump     string `yaml:"db_dump" default:"runuser -u postgres -- pg_dump --format=custom scalelite_production" desc:"scalelite nodes: the command that prints Scalelite's database."`
}

// BackupKeep is the retention: restic forget --keep-daily/weekly/monthly.
type BackupKeep struct {
	Daily   int `yaml:"daily" default:"7" desc:"Daily snapshots kept."`
	Weekly  int `yaml:"weekly" default:"4" desc:"Weekly snapshots kept."`
	Monthly int `yaml:"monthly" default:"6" desc:"Monthly snapshots kept."`
}

// GreenlightSettings is settings.greenlight: true, or a mapping.
type GreenlightSettings struct {
	Image string `yaml:"image" default:"bigbluebutton/greenlight:v3" desc:"Greenlight's Docker image."`
}

// ScaleliteSettings is settings.scalelite: what a scalelite node runs.
// Its containers come from Image at Version (Scalelite's own images,
// TAG-api, TAG-poller, TAG-recording-importer and TAG-nginx).
type ScaleliteSettings struct {
	Managed      bool   `yaml:"managed" default:"true" desc:"false: Scalelite is installed by other means; the node gets only base, firewall, TLS and backup."`
	Version      string `yaml:"version" default:"v1.6.0" desc:"Scalelite release, an image tag such as v1.6.0 (omc supports 1.6.0 to 1.8.5)."`
	Image        string `yaml:"image" default:"blindsidenetwks/scalelite" desc:"Scalelite's Docker image repository."`
	Multitenancy bool   `yaml:"multitenancy" desc:"MULTITENANCY_ENABLED: each tenant (omc tenant) has its own secret and sub-domain."`
	PollInterval int    `yaml:"poll_interval" default:"60" desc:"Seconds between the poller's checks of the BBB servers (POLL_INTERVAL)."`
}

// LTISettings is settings.lti: the LTI broker and its rooms app.
type LTISettings struct {
	Key         string `yaml:"key" omc:"required" desc:"The consumer key an LMS launches with: 1 to 64 letters, digits, '.', '_' or '-'."`
	Secret      string `yaml:"secret" desc:"Inventory secret holding the consumer secret (default: derived from the seed, one per key)."`
	BrokerImage string `yaml:"broker_image" default:"bigbluebutton/bbb-lti-broker:release-2.0.2" desc:"The LTI broker's image (its rake tasks must be 2.x's: key:*, apps:*)."`
	RoomsImage  string `yaml:"rooms_image" default:"bigbluebutton/bbb-app-rooms:release-1.2.1.3" desc:"The rooms app's image."`
}

// CIDR is an address range; a bare address stands for itself alone.
type CIDR struct{ netip.Prefix }

// UnmarshalText reads a CIDR or an address, masked.
func (c *CIDR) UnmarshalText(b []byte) error {
	p, err := netip.ParsePrefix(string(b))
	if err != nil {
		a, aerr := netip.ParseAddr(string(b))
		if aerr != nil {
			return fmt.Errorf("%q is not an address range (CIDR)", b)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	c.Prefix = p.Masked()
	return nil
}

// MarshalText writes the range as CIDR.
func (c CIDR) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// IP is an IP address.
type IP struct{ netip.Addr }

// UnmarshalText reads an IPv4 or IPv6 address.
func (a *IP) UnmarshalText(b []byte) error {
	x, err := netip.ParseAddr(string(b))
	if err != nil {
		return fmt.Errorf("%q is not an IP address", b)
	}
	a.Addr = x
	return nil
}

// MarshalText writes the address.
func (a IP) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Scalar is a value as written: a string, number or boolean's text.
type Scalar string

// UnmarshalText keeps the text.
func (s *Scalar) UnmarshalText(b []byte) error { *s = Scalar(b); return nil }

// Where is where key (a dotted path under settings, such as "lti.secret")
// got its value for this node: the position and path of the level that
// wrote it, or of the nearest mapping above it that was written. ok is
// false when no level wrote any of it (the key has its default), so an
// error about it belongs at the node.
func (s *Settings) Where(key string) (pos Pos, path string, ok bool) {
	for k := key; k != ""; {
		if w, found := s.at[k]; found {
			return w.Pos, w.Path, true
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return Pos{}, "", false
}
