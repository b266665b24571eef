package roles

import (
	"github.com/omc-coop/omc/internal/shell"
	"github.com/omc-coop/omc/provision"
)

// keyStep downloads an armoured apt key once (apt reads .asc keys named
// in signed-by as they are, so no gpg is needed on the node).
func keyStep(label, url, path string) *provision.CommandStep {
	q := shell.Quote(path)
	return &provision.CommandStep{Label: label,
		Run:     "mkdir -p /etc/apt/keyrings && curl -fsSL " + shell.Quote(url) + " -o " + q + ".tmp && mv " + q + ".tmp " + q,
		Creates: path}
}

// lineDeps: what bbb-install sets up for the line before BBB itself:
// the third-party sources, the packages from them (Java, Node, Docker,
// per line MongoDB and yq), and Java selected for bbb-web.
func (b *builder) lineDeps(l Line) {
	for _, src := range l.Sources {
		key := "/etc/apt/keyrings/omc-" + src.Name + ".asc"
		b.add(keyStep("apt key "+src.Name, src.KeyURL, key))
		b.add(&provision.FileStep{Path: "/etc/apt/sources.list.d/" + src.Name + ".list", Mode: 0o644, Owner: "root", Group: "root",
			Content: []byte("# Managed by omc: for BigBlueButton " + l.Version + " (as bbb-install " + l.Install + ")\n" +
				"deb [arch=amd64 signed-by=" + key + "] " + src.URL + " " + src.Suite + " " + src.Components + "\n")})
	}
	b.add(&freshPackages{PackagesStep: &provision.PackagesStep{Names: l.Deps}})
	jvm := "/usr/lib/jvm/" + l.JavaAlt + "/bin/java"
	b.add(&provision.CommandStep{Label: "java " + l.JavaAlt,
		Run:    "update-java-alternatives --jre -s " + shell.Quote(l.JavaAlt),
		Unless: `[ "$(readlink -f /etc/alternatives/java)" = "$(readlink -f ` + shell.Quote(jvm) + `)" ]`})
}

// freshPackages refreshes apt's lists before installing: the sources
// written just before may be newer than lists PackagesStep would trust.
type freshPackages struct {
	*provision.PackagesStep
}

func (s *freshPackages) Plan(obs []string) (*provision.Change, error) {
	c, err := s.PackagesStep.Plan(obs)
	if c == nil || err != nil {
		return c, err
	}
	c.Step = s
	c.Script = "DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update || exit $?\n" + c.Script
	return c, nil
}
