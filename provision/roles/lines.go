package roles

import (
	"sort"
	"strings"
)

// Line is a BigBlueButton release line as bbb-install.sh sets it up:
// the Ubuntu release it runs on, BBB's package source for it, and what
// the script installs before the bigbluebutton package (apt sources,
// Java, Node, Docker). The table below is the one place these live; the
// OS-specific steps are built from it (linesteps.go) and pinned by the
// golden files testdata/line-*.golden. docs/bbb-install-parity.md says
// where each value comes from.
type Line struct {
	Version  string // settings.bbb_version
	Install  string // bbb-install's -v for the line
	Branch   string // bbb-install's branch that installs it
	OS       string // os-release ID-VERSION_ID
	Codename string // the Ubuntu codename, for third-party sources
	Repo     Repo   // BBB's own package source
	// Java is the JRE package bbb-web runs on, selected with
	// update-java-alternatives -s JavaAlt (its name there).
	Java, JavaAlt string
	// Sources are the third-party apt sources (NodeSource, Docker, and
	// per line MongoDB and Launchpad PPAs), keyed and signed-by.
	Sources []AptSource
	// Deps are installed from them (and Ubuntu) before BBB.
	Deps []string
	// Packages are BBB's own, installed when bbb_packages is not set.
	Packages []string
	// Layouts are the values bbb-web's defaultMeetingLayout accepts.
	Layouts []string
	// ImageMagickPolicy: bbb-install (4.x) replaces ImageMagick's policy
	// with a web-safe one that still lets BBB convert presentations.
	ImageMagickPolicy bool
}

// AptSource is one third-party apt source: a one-line .list file under
// the name bbb-install gives it (so a server bbb-install set up gets
// the file replaced, not a second entry with another key), signed by
// the armoured key omc downloads to /etc/apt/keyrings/omc-NAME.asc.
type AptSource struct {
	Name       string // file name in sources.list.d, without .list
	URL        string
	Suite      string
	Components string
	KeyURL     string
}

var bbbKey = "https://ubuntu.bigbluebutton.org/repo/bigbluebutton.asc"

func nodeSource(major string) AptSource {
	return AptSource{Name: "nodesource", URL: "https://deb.nodesource.com/node_" + major + ".x", Suite: "nodistro", Components: "main",
		KeyURL: "https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key"}
}

func docker(codename string) AptSource {
	return AptSource{Name: "docker", URL: "https://download.docker.com/linux/ubuntu", Suite: codename, Components: "stable",
		KeyURL: "https://download.docker.com/linux/ubuntu/gpg"}
}

// ppa is a Launchpad PPA as add-apt-repository names it; its key comes
// from Ubuntu's keyserver by the id bbb-install gives.
func ppa(owner, name, codename, keyID string) AptSource {
	return AptSource{Name: owner + "-ubuntu-" + name + "-" + codename, URL: "https://ppa.launchpadcontent.net/" + owner + "/" + name + "/ubuntu",
		Suite: codename, Components: "main", KeyURL: "https://keyserver.ubuntu.com/pks/lookup?op=get&options=mr&search=0x" + keyID}
}

// dockerPkgs: Docker from Docker's repository, for bbb-libreoffice-docker.
var dockerPkgs = []string{"docker-ce", "docker-ce-cli", "containerd.io"}

// Lines are the lines bbb-install supports today (read 2026-12: branch
// v3.0.x-release at 26ce2d1, v4.0.x-release and main as stored in the
// code index; see docs/bbb-install-parity.md). 2.7 is not among them:
// it runs on Ubuntu 20.04, whose standard support ended in May 2025, and
// bbb-install's current README offers 3.0 and later; a 2.7 node can
// still be run with bbb_os and bbb_repo.
var Lines = []Line{
	{
		Version: "3.0", Install: "jammy-300", Branch: "v3.0.x-release", OS: "ubuntu-22.04", Codename: "jammy",
		Repo: Repo{URL: "https://ubuntu.bigbluebutton.org/jammy-300", Suite: "bigbluebutton-jammy", Components: "main", KeyURL: bbbKey},
		Java: "openjdk-17-jre", JavaAlt: "java-1.17.0-openjdk-amd64",
		Sources: []AptSource{
			ppa("rmescandon", "yq", "jammy", "CC86BB64"),
			ppa("bigbluebutton", "support", "jammy", "2E1B01D0E95B94BC"),
			ppa("martin-uni-mainz", "coturn", "jammy", "4B77C2225D3BBDB3"),
			nodeSource("18"),
			{Name: "mongodb-org-6.0", URL: "https://repo.mongodb.org/apt/ubuntu", Suite: "jammy/mongodb-org/6.0", Components: "multiverse",
				KeyURL: "https://pgp.mongodb.com/server-6.0.asc"},
			docker("jammy"),
		},
		Deps: append([]string{"wget", "curl", "gpg-agent", "dirmngr", "apparmor-utils", "ca-certificates", "yq", "ruby",
			"openjdk-17-jre", "nodejs", "mongodb-org", "apt-transport-https", "haveged"}, dockerPkgs...),
		Packages: []string{"bigbluebutton", "bbb-html5"},
		Layouts:  []string{"CUSTOM_LAYOUT", "SMART_LAYOUT", "PRESENTATION_FOCUS", "VIDEO_FOCUS"},
	},
	{
		Version: "4.0", Install: "noble-400", Branch: "v4.0.x-release", OS: "ubuntu-24.04", Codename: "noble",
		Repo: Repo{URL: "https://ubuntu.bigbluebutton.org/noble-400", Suite: "bigbluebutton-noble", Components: "main", KeyURL: bbbKey},
		// bbb-install 4.0 installs openjdk-17-jre yet selects Java 21;
		// omc installs the Java it selects (parity table, row Java).
		Java: "openjdk-21-jre", JavaAlt: "java-1.21.0-openjdk-amd64",
		Sources: []AptSource{nodeSource("22"), docker("noble")},
		Deps: append([]string{"wget", "curl", "gpg-agent", "dirmngr", "apparmor-utils", "ca-certificates", "ruby", "apt-transport-https",
			"haveged", "openjdk-21-jre", "dnsutils", "bbb-yq-go", "nodejs"}, dockerPkgs...),
		Packages:          []string{"bigbluebutton"},
		Layouts:           layouts4,
		ImageMagickPolicy: true,
	},
	{
		Version: "4.1", Install: "noble-410", Branch: "main (v4.1.x-release)", OS: "ubuntu-24.04", Codename: "noble",
		Repo: Repo{URL: "https://ubuntu.bigbluebutton.org/noble-410", Suite: "bigbluebutton-noble", Components: "main", KeyURL: bbbKey},
		Java: "openjdk-21-jre", JavaAlt: "java-1.21.0-openjdk-amd64",
		Sources: []AptSource{nodeSource("22"), docker("noble")},
		Deps: append([]string{"wget", "curl", "gpg-agent", "dirmngr", "apparmor-utils", "ca-certificates", "ruby", "apt-transport-https",
			"haveged", "openjdk-21-jre", "dnsutils", "bbb-yq-go", "nodejs"}, dockerPkgs...),
		Packages:          []string{"bigbluebutton"},
		Layouts:           layouts4,
		ImageMagickPolicy: true,
	},
}

// layouts4: BBB 4.0 dropped the old layouts for one unified layout
// (docs: What's new in 4.0, bbb-web properties changes).
var layouts4 = []string{"UNIFIED_LAYOUT", "CAMERAS_ONLY", "PARTICIPANTS_AND_CHAT_ONLY", "PRESENTATION_ONLY", "MEDIA_ONLY"}

// NewestLine is the line omc install and the example inventory default to.
func NewestLine() Line { return Lines[len(Lines)-1] }

// LookupLine returns the line with that version.
func LookupLine(version string) (Line, bool) {
	for _, l := range Lines {
		if l.Version == version {
			return l, true
		}
	}
	return Line{}, false
}

// KnownLines says which lines omc knows, for error messages and help.
func KnownLines() string {
	l := make([]string, len(Lines))
	for i, line := range Lines {
		l[i] = line.Version + " (" + strings.TrimPrefix(line.OS, "ubuntu-") + ")"
	}
	sort.Strings(l)
	return strings.Join(l, ", ")
}
