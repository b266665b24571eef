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
// # Settings
//
// Read from the node's merged settings (defaults < group < node). Errors
// name the node and the key. Keys not listed here are left to the user's
// own templates.
//
// Every node:
//
//	timezone: Europe/Berlin        # default UTC; /etc/localtime and /etc/timezone
//	ntp: [ntp1.example.org]        # systemd-timesyncd servers (default: the distribution's)
//	admins:                        # accounts with these keys and passwordless sudo
//	  - {name: alice, keys: ["ssh-ed25519 AAAA... alice"]}
//	admin_cidrs: [198.51.100.0/24] # SSH only from here (default: from anywhere)
//	swap: 4G                       # make /swapfile of this size once (default: leave swap alone)
//	journal_max_use: 1G            # journald SystemMaxUse (default 1G)
//	unattended_upgrades: true      # security updates, never BBB's packages, never a reboot (default true)
//	firewall: true                 # nftables from the role port table (default true)
//	sysctl: {net.core.somaxconn: 4096, net.core.rmem_max: null}   # over the defaults; null drops one
//	bandwidth: {egress: 500mbit, ingress: 500mbit, interface: eth0}
//	                               # tc caps; interface defaults to the default route's
//
// bbb and turn nodes (they need a domain):
//
//	acme_email: admin@example.org  # ACME account (default: none)
//	acme_directory: https://...    # ACME directory (default Let's Encrypt)
//	acme_ca_file: /path/on/node    # CA bundle certbot trusts for a private ACME server
//	public_ip: 203.0.113.10        # behind NAT: the public address (coturn external-ip,
//	private_ip: 10.0.0.10          #   FreeSWITCH external IPs, mediasoup announcedIp)
//	seed_secret: bbb_seed          # inventory secret the per-node secrets derive from (default bbb_seed)
//
// bbb nodes:
//
//	bbb_version: "4.1"             # required: 4.1 or 4.0 (Ubuntu 24.04), 3.0 (Ubuntu 22.04);
//	                               #   each line's sources, Java, Node and Docker as bbb-install's (lines.go)
//	bbb_os: debian-12              # a line omc does not know, or a build of a known line for
//	                               #   another OS (both need bbb_repo; the line's Ubuntu deps are left out)
//	bbb_repo: {url: https://..., suite: bigbluebutton-jammy, components: main, key_url: https://..., trusted: false}
//	                               # package source (default: BBB's for the line)
//	bbb_packages: [bigbluebutton]  # name or name=version; a new version is an upgrade
//	bbb_force: false               # restart or upgrade even while meetings are live
//	api_secret: bbb_1_secret       # inventory secret holding the API secret (default: derived)
//	bbb:                           # tuning; only what is set is written
//	  max_participants: 100        # bbb-web defaultMaxUsers
//	  meeting_duration: 120        # defaultMeetingDuration (minutes)
//	  welcome: "Welcome"           # defaultWelcomeMessage
//	  welcome_footer: "..."        # defaultWelcomeMessageFooter
//	  mute_on_start: true          # muteOnStart
//	  webcams_only_for_moderator: true  # webcamsOnlyForModerator
//	  user_camera_cap: 3           # userCameraCap
//	  meeting_camera_cap: 50       # meetingCameraCap
//	  max_pinned_cameras: 3        # maxPinnedCameras
//	  disabled_features: [chat]    # disabledFeatures
//	  recording: false             # disableRecordingDefault (inverted)
//	  guest_policy: ASK_MODERATOR  # defaultGuestPolicy
//	  default_layout: SMART_LAYOUT # defaultMeetingLayout
//	  max_upload_mb: 30            # maxFileSizeUpload
//	  logo_url: https://...        # defaultLogoURL (and useDefaultLogo=true)
//	  client_title: "Co-op BBB"    # bbb-html5.yml public.app.clientTitle
//	  app_name: "Co-op BBB"        # public.app.appName
//	  camera_profiles: [...]       # public.kurento.cameraProfiles (the whole list, BBB replaces lists)
//	  properties: {key: value}     # any other bbb-web property
//	  html5: {public: {...}}       # any other bbb-html5.yml setting (merged)
//	  sfu: {...}                   # any bbb-webrtc-sfu production.yml setting (merged)
//	greenlight: true               # Greenlight v3 at / in Docker, as bbb-install -g ({image: ...} replaces its image)
//	lti: {key: school-moodle}      # BBB's LTI framework in Docker (/lti, /apps/rooms), as bbb-install -t;
//	                               #   lti: KEY is the same; secret: NAME takes the consumer secret from an
//	                               #   inventory secret (default: derived); broker_image, rooms_image replace
//	                               #   the images. The LMS's key, secret and launch URL: sudo cat
//	                               #   /opt/bbb-lti/registration.env on the node
//
// Any node (optional; without them nothing is installed):
//
//	monitoring:                    # Prometheus node exporter (Debian's prometheus-node-exporter)
//	  listen: 10.0.0.10            # the only address it binds (default: private_ip, else address)
//	  sources: [192.0.2.0/24]      # the only ranges the firewall lets reach 9100/tcp
//	                               #   (none: the port stays closed)
//	backup:                        # nightly restic backups (Debian's restic)
//	  repository: sftp:backup@backup.example.org:/srv/restic/{node}
//	                               # required; {node} is the node name: a path on the node,
//	                               #   sftp: (root's SSH key and known_hosts on the node), s3:, b2:, rest:
//	  password_secret: restic_password  # inventory secret with the repository password (default restic_password)
//	  environment: {AWS_ACCESS_KEY_ID: s3_key_id, AWS_SECRET_ACCESS_KEY: s3_key}
//	                               # backend variables from inventory secrets (0600 on the node)
//	  schedule: "*-*-* 01:30:00"   # systemd OnCalendar (default 01:30), persistent
//	  random_delay: 2h             # RandomizedDelaySec (default 2h)
//	  keep: {daily: 7, weekly: 4, monthly: 6}   # restic forget --prune (these are the defaults)
//	  paths: [/etc/default/greenlight]          # more paths backed up with the configuration
//	  recordings: true             # bbb nodes (default: unless bbb.recording is false)
//	  db_dump: "runuser -u postgres -- pg_dump --format=custom scalelite_production"
//	                               # scalelite nodes: prints the database (this is the default)
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
// are derived: sha256(purpose NUL node NUL seed), as are Greenlight's and
// the LTI framework's (the consumer secret unless lti.secret names one). None is ever part of a
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
