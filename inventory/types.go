// Package inventory reads omc's YAML inventory (apiVersion omc/v1): the
// defaults, the groups (a region, pool or dev set) and their nodes, and
// resolves them into one flat, merged view per node.
//
// Parsing is strict and positional: every error names FILE:LINE:COL, and all
// errors of a file are reported together. Nothing in this package contacts a
// host or a provider.
package inventory

// APIVersion is the only inventory format version this build reads.
const APIVersion = "omc/v1"

// Pos is a position in the inventory file, 1-based.
type Pos struct {
	Line int
	Col  int
}

// Inventory is a parsed and validated inventory file.
type Inventory struct {
	// Path is the file it was read from: the name given to LoadReader,
	// "<stdin>" when Load read "-".
	Path string
	// APIVersion is always APIVersion after a successful Load.
	APIVersion string `yaml:"apiVersion" omc:"required" desc:"Format version; must be omc/v1."`
	// Name identifies this inventory to providers: every resource omc
	// creates is labelled with it, and only resources carrying it are
	// ever listed, changed or deleted.
	Name     string            `yaml:"name" omc:"required" desc:"Inventory name, used in provider labels (lowercase letters, digits, '-')."`
	Defaults Defaults          `yaml:"defaults" desc:"Settings every group and node inherits."`
	Secrets  map[string]Secret `yaml:"secrets" desc:"Named secrets, each env:NAME or file:PATH; never clear text."`
	// Groups in file order.
	Groups []*Group `yaml:"groups" omc:"required,keyed" desc:"Groups (regions, pools, dev sets) by name."`
	// Billing is usage metering and invoicing (see billing.go); nil: none.
	Billing *Billing `yaml:"billing" desc:"Usage metering and invoices: the usage database and the price list."`
	// StatusPage is how omc status --html shows the fleet; nil: defaults.
	StatusPage *StatusPage `yaml:"status_page" desc:"The public status page (omc status --html): display name and reload interval."`

	nodes   []*Node
	missing []*Error             // secrets that could not be read (see MissingSecrets)
	texts   map[*FileStep]textAt // where inline templates are (TemplatePos)
}

// Defaults apply to every group and node unless overridden.
type Defaults struct {
	SSH      SSH      `yaml:"ssh" desc:"How to reach every node."`
	Settings Settings `yaml:"settings" desc:"Settings of every node's roles (omc help settings lists them); vars: holds your templates' own values."`
	Steps    []*Step  `yaml:"steps" desc:"Extra steps run on every node."`
}

// SSH says how to reach a node. Zero fields inherit from the level above.
type SSH struct {
	User string `yaml:"user" desc:"Login user (default root). A non-root user runs steps through sudo -n."`
	Port int    `yaml:"port" desc:"SSH port (default 22)."`
	// Key is a private key file; ssh-agent is used as well when SSH_AUTH_SOCK is set.
	Key string `yaml:"key" desc:"Private key file (~ expanded). ssh-agent is also used when available."`
	// Bastion is a jump host, "user@host:port" (user and port optional).
	Bastion string `yaml:"bastion" desc:"Jump host as [user@]host[:port]."`
	// Sudo forces or forbids sudo; nil means "when User is not root".
	Sudo *bool `yaml:"sudo" desc:"Run steps through sudo -n (default: when user is not root)."`
	// DefaultUser, DefaultPort and DefaultSudo say that no level of the
	// inventory set user, port or sudo and they are the defaults (root,
	// 22, sudo when not root), so that ~/.ssh/config may set the user and
	// port of a node omc did not make (and sudo follows that user).
	DefaultUser bool `yaml:"-"`
	DefaultPort bool `yaml:"-"`
	DefaultSudo bool `yaml:"-"`
}

// Group is a named set of nodes sharing a provider, roles and settings.
type Group struct {
	Pos  Pos    `yaml:"-"`
	Name string `yaml:"-"`

	Provider string `yaml:"provider" omc:"required" desc:"static (claimed servers by address), local, hcloud or robot."`
	// Count and NamePattern make provider-created nodes: NamePattern with
	// {n} replaced by 1..Count.
	Count       int    `yaml:"count" desc:"Number of provider-made nodes named by name."`
	NamePattern string `yaml:"name" desc:"Name pattern for counted nodes, containing {n}, e.g. bbb-eu-1-{n}."`

	Roles []string `yaml:"roles" desc:"Roles of the group's nodes: bbb, turn, scalelite."`
	// Domain may contain {name}, replaced by the node name.
	Domain string `yaml:"domain" desc:"Node domain; {name} is replaced by the node name."`

	// Provider options (validated against Provider).
	Image      string `yaml:"image" desc:"OS image (local: debian-12; hcloud: ubuntu-22.04)."`
	Location   string `yaml:"location" desc:"hcloud location, e.g. fsn1."`
	ServerType string `yaml:"server_type" desc:"hcloud server type, e.g. ccx33."`
	// Token is the hcloud API token; without it the provider reads
	// HCLOUD_TOKEN from its own configuration.
	Token *Secret `yaml:"token" desc:"hcloud API token as env:NAME or file:PATH."`

	SSH      SSH         `yaml:"ssh" desc:"Overrides defaults.ssh for this group."`
	Settings Settings    `yaml:"settings" desc:"Over defaults.settings: nested mappings merge, anything else replaces."`
	Steps    []*Step     `yaml:"steps" desc:"Steps run after defaults.steps."`
	Nodes    []*NodeSpec `yaml:"nodes" desc:"Named nodes of this group."`

	// hcloud options (read by providers/hcloud only).
	DNSZone string `yaml:"dns_zone" desc:"hcloud DNS zone (e.g. example.org) where omc keeps each node's A/AAAA records for its domain."`
	Spread  bool   `yaml:"spread" desc:"hcloud: put the group's servers in a spread placement group (different physical hosts)."`

	// robot options (read by providers/robot only; see robot.go).
	Order         *RobotOrder `yaml:"order" desc:"robot: what to order for nodes without a server number; placed only by omc up --allow-order."`
	RobotUser     *Secret     `yaml:"robot_user" desc:"robot: webservice user as env:NAME or file:PATH (default $ROBOT_USER)."`
	RobotPassword *Secret     `yaml:"robot_password" desc:"robot: webservice password as env:NAME or file:PATH (default $ROBOT_PASSWORD)."`

	// Pool is the group's Scalelite pool (see pool.go); nil: none.
	Pool *Pool `yaml:"pool" desc:"The Scalelite pool the group's bbb nodes serve in."`
}

// NodeSpec is a node as written in the file, before merging.
type NodeSpec struct {
	Pos     Pos      `yaml:"-"`
	Name    string   `yaml:"name" omc:"required" desc:"Unique node name (DNS label)."`
	Roles   []string `yaml:"roles" desc:"Overrides the group's roles."`
	Address string   `yaml:"address" desc:"IP address or host name (static nodes)."`
	Domain  string   `yaml:"domain" desc:"Overrides the group's domain; {name} is replaced by the node name."`
	// HostKey pins the node's SSH host key ("ssh-ed25519 AAAA...").
	HostKey  string   `yaml:"host_key" desc:"Pinned SSH host key in authorized_keys form."`
	SSH      SSH      `yaml:"ssh" desc:"Overrides the group's ssh."`
	Settings Settings `yaml:"settings" desc:"Over the group's settings: nested mappings merge, anything else replaces."`
	Steps    []*Step  `yaml:"steps" desc:"Steps run after the group's steps."`
	// Pool membership (groups with a pool only).
	LoadMultiplier float64 `yaml:"load_multiplier" desc:"Scalelite load multiplier of this node (default the pool's, else 1)."`
	Tag            string  `yaml:"tag" desc:"Scalelite tag of this node (default the pool's)."`

	// Server and Order: a robot node is a claimed server or an order.
	Server int         `yaml:"server" desc:"robot: number of a claimed dedicated server of the Robot account."`
	Order  *RobotOrder `yaml:"order" desc:"robot: what to order for this node (overrides the group's order)."`
}

// Node is the merged view of one node: defaults < group < node.
type Node struct {
	Name     string
	Group    string
	Provider string
	Roles    []string
	Address  string // may be empty until a provider assigns one
	Domain   string
	HostKey  string
	SSH      SSH // fully resolved: User, Port set; Sudo non-nil
	// Settings are merged and have their defaults filled in.
	Settings Settings
	// Steps: defaults, then group, then node.
	Steps []*Step
	// Pos is where the node (or its group, for counted nodes) is declared.
	Pos Pos
	// Run is what the running command asks of the node beyond what the
	// file says; no inventory can set it.
	Run Run
}

// Run: options one command gives a node's roles for this run only.
type Run struct {
	// UpgradeBBB lets BBB's packages move to the repository's latest
	// (versions pinned in settings.bbb_packages stay pinned). omc upgrade
	// sets it on the node it has drained: the one deliberate way BBB
	// changes version in a pool.
	UpgradeBBB bool
	// BBBVersion is the line an upgrade moves the node to, in place of
	// settings.bbb_version for this run ("" keeps the setting's).
	BBBVersion string
	// Force lets BBB restart or upgrade while meetings are live
	// (--force), as settings.bbb_force does for every run.
	Force bool
}

// Secret is a reference to a secret value: env:NAME or file:PATH. Load
// resolves it; the value stays unexported so that printing, marshalling or
// logging a Secret shows the reference, never the value. No encrypted file
// format (sops, age, vault) is supported yet: keep values in the
// environment or in files outside the repository.
type Secret struct {
	Pos  Pos
	Ref  string // as written
	Kind string // "env" or "file"
	Arg  string // variable name or path

	value string
	set   bool
}

// Step is one extra step as written. Exactly one kind field is set.
type Step struct {
	Pos  Pos    `yaml:"-"`
	Name string `yaml:"name" desc:"Optional label shown in output."`

	// The kinds: the omc:"kind" tag lets the decoder, the validator and the
	// schema agree on the list.
	File     *FileStep    `yaml:"file" omc:"kind" desc:"A file with this content, mode and owner."`
	Dir      *DirStep     `yaml:"dir" omc:"kind" desc:"A directory with this mode and owner."`
	Packages []string     `yaml:"packages" omc:"kind" desc:"Debian packages present; name or name=version."`
	Line     *LineStep    `yaml:"line" omc:"kind" desc:"A line present in a file."`
	Service  *ServiceStep `yaml:"service" omc:"kind" desc:"A systemd unit enabled and running (or not)."`
	Sysctl   *SysctlStep  `yaml:"sysctl" omc:"kind" desc:"A kernel parameter, set now and persisted."`
	User     *UserStep    `yaml:"user" omc:"kind" desc:"A local user account."`
	Command  *CommandStep `yaml:"command" omc:"kind" desc:"A command run only when its guard says so."`
}

// FileStep: a file with this content, mode and owner.
type FileStep struct {
	Path string `yaml:"path" omc:"required" desc:"Absolute path on the node."`
	// Exactly one of Content or Template. Both are Go text/template text
	// rendered with the node (see provision.TemplateData); Template is a
	// path relative to the inventory file.
	Content  *string  `yaml:"content" desc:"Inline Go template text (.Node, .Settings, .Settings.vars, secret \"name\")."`
	Template string   `yaml:"template" desc:"Template file, relative to the inventory file."`
	Mode     string   `yaml:"mode" desc:"Octal mode, default 0644."`
	Owner    string   `yaml:"owner" desc:"Default root."`
	Group    string   `yaml:"group" desc:"Default root."`
	Notify   []string `yaml:"notify" desc:"Services restarted once at the end if this file changed."`
}

// DirStep: a directory with this mode and owner.
type DirStep struct {
	Path  string `yaml:"path" omc:"required" desc:"Absolute path on the node."`
	Mode  string `yaml:"mode" desc:"Octal mode, default 0755."`
	Owner string `yaml:"owner" desc:"Default root."`
	Group string `yaml:"group" desc:"Default root."`
}

// LineStep: a line present in a file, replacing the last line that
// matches Match (a regular expression) or appended when none does.
type LineStep struct {
	Path   string   `yaml:"path" omc:"required" desc:"Absolute path on the node."`
	Line   string   `yaml:"line" omc:"required" desc:"The whole line, without newline; a Go template as a file's content is."`
	Match  string   `yaml:"match" desc:"Go regular expression; the last matching line is replaced."`
	Notify []string `yaml:"notify" desc:"Services restarted once at the end if the file changed."`
}

// ServiceStep: a systemd unit's enabled and running state.
type ServiceStep struct {
	Name    string `yaml:"name" omc:"required" desc:"systemd unit, e.g. nginx or coturn.service."`
	Enabled *bool  `yaml:"enabled" desc:"Default true."`
	Running *bool  `yaml:"running" desc:"Default true."`
}

// SysctlStep: a kernel parameter, set now and persisted.
type SysctlStep struct {
	Name  string `yaml:"name" omc:"required" desc:"Parameter, e.g. net.core.somaxconn."`
	Value string `yaml:"value" omc:"required"`
}

// UserStep: a local user account.
type UserStep struct {
	Name           string   `yaml:"name" omc:"required"`
	Groups         []string `yaml:"groups" desc:"Supplementary groups."`
	Shell          string   `yaml:"shell" desc:"Absolute path of the login shell."`
	System         bool     `yaml:"system" desc:"A system account (no aging, low uid)."`
	AuthorizedKeys []string `yaml:"authorized_keys" desc:"SSH public keys in authorized_keys form."`
}

// CommandStep: a command run only when its guard says so.
type CommandStep struct {
	Run string `yaml:"run" omc:"required" desc:"Shell command."`
	// Unless: a check command; Run runs only when it exits non-zero.
	Unless string `yaml:"unless" desc:"Check command; run only when it exits non-zero."`
	// Creates: Run runs only when this path does not exist.
	Creates string `yaml:"creates" desc:"Run only when this path does not exist."`
	// Timeout bounds one run of Run (a Go duration; default 1h).
	Timeout string `yaml:"timeout" desc:"Longest one run may take, e.g. 90m or 3h (default 1h); then it is ended and the step fails."`
}
