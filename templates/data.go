package templates

// Firewall is the data of Nftables: omc's own table, input chain only.
type Firewall struct {
	Node    string
	SSHPort int
	// AdminV4 and AdminV6 are the ranges SSH is open to. Both empty means
	// SSH from anywhere (no admin_cidrs set).
	AdminV4, AdminV6 []string
	Rules            []Rule
	// Limited rules open a port only to their source ranges (the
	// monitoring sources for exporters).
	Limited []LimitedRule
}

// LimitedRule opens Ports for Proto only to the V4 and V6 ranges.
type LimitedRule struct {
	Proto, Ports, Comment string
	V4, V6                []string
}

// Rule opens Ports ("443" or "16384-32768") for Proto (tcp or udp).
type Rule struct {
	Proto, Ports, Comment string
}

// Turn is the data of Turnserver (coturn).
type Turn struct {
	Node, Realm, Secret string
	ListenIPs, RelayIPs []string
	// ExternalIP is "public/private" or just "public" when behind NAT.
	ExternalIP string
	// TLS adds a TLS/DTLS listener on TLSPort with the certificate the
	// certbot deploy hook copies into /etc/turnserver.
	TLS              bool
	TLSPort          int
	Cert, Key        string
	MinPort, MaxPort int
	DeniedPeers      []string
	AllowedPeers     []string
}

// TurnStun is the data of TurnStunServers (read by bbb-web).
type TurnStun struct {
	Stun []string
	Turn []TurnServer
}

// TurnServer is one TURN URL and the shared secret of its server.
type TurnServer struct {
	URL, Secret string
	TTL         int
}

// Properties is the data of BBBWeb: key=value lines, in order.
type Properties struct {
	Node    string
	Entries []KV
}

// KV is one property.
type KV struct{ Key, Value string }

// YAMLOverride is the data of BBBHTML5 and WebRTCSFU: Body is YAML the
// role marshalled from the settings (so quoting is yaml.v3's, not ours).
type YAMLOverride struct {
	Node, Body string
}

// FreeSWITCH is the data of FreeSWITCHVars: the vars.xml lines omc sets.
type FreeSWITCH struct {
	ExternalRTPIP, ExternalSIPIP, DefaultPassword string
}

// SSHD is the data of Sshd.
type SSHD struct {
	// PermitRootLogin is "prohibit-password" or "no".
	PermitRootLogin string
}

// Journal is the data of Journald.
type Journal struct {
	SystemMaxUse, MaxRetention string
}

// UnattendedUpgrades is the data of Unattended.
type UnattendedUpgrades struct {
	Enabled bool
	// Hold are package name patterns never upgraded unattended (BBB's own
	// packages: their upgrades restart meetings and go through omc).
	Hold []string
}

// Admins is the data of Sudoers.
type Admins struct {
	Names []string
}

// NTP is the data of Timesyncd.
type NTP struct {
	Servers []string
}

// Nginx is the data of NginxACME and NginxBBB.
type Nginx struct {
	Domain, Webroot string
	// Aliases are more names the ACME site answers (a scalelite node's
	// tenants' sub-domains, on its certificate too).
	Aliases []string
	// Redirect sends everything but ACME challenges to https (BBB nodes).
	Redirect  bool
	Cert, Key string
	// Behind is the local address nginx listens on when haproxy owns 443
	// (a BBB node with its own TURN); "" means nginx serves TLS on 443.
	Behind string
	// Frontend is a file with a location @bbb-fe that serves / (the
	// front end, e.g. Greenlight); "" leaves / to BBB's default page.
	Frontend string
	// Apps is a file of more locations beside BBB's (the LTI framework's
	// /lti and /apps/rooms); "" adds none.
	Apps string
}

// HAProxy is the data of HAProxyCfg: TLS on 443 for BBB and TURN.
type HAProxy struct {
	Node   string
	Bundle string // certificate and key, one PEM file
	TURN   string // coturn's plain listener, address:port
	Nginx  string // nginx's PROXY-protocol listener, address:port
}

// CertHook is the data of CertbotHook.
type CertHook struct {
	Domain string
}

// Bandwidth is the data of BandwidthScript. Interface "" means the
// interface of the default route, found when the unit starts.
type Bandwidth struct {
	Interface, Egress, Ingress string
}
