package roles

import (
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/templates"
)

const bandwidthUnit = "omc-bandwidth.service"

// bandwidth: tc caps from settings.bandwidth. Without the setting, a unit
// left from an earlier run is stopped (which removes the caps) and
// disabled, so dropping the setting really uncaps the host.
func (b *builder) bandwidth() {
	bw := b.s.Bandwidth
	if bw == nil {
		b.add(&provision.ServiceStep{Name: bandwidthUnit, Enabled: false, Running: false})
		return
	}
	b.add(&provision.PackagesStep{Names: []string{"iproute2"}})
	b.addFile("/usr/local/sbin/omc-bandwidth", templates.BandwidthScript,
		templates.Bandwidth{Interface: bw.Interface, Egress: bw.Egress, Ingress: bw.Ingress}, 0o755, "root", "root", bandwidthUnit)
	b.addFile("/etc/systemd/system/"+bandwidthUnit, templates.BandwidthUnit, nil, 0o644, "root", "root", bandwidthUnit)
	b.add(daemonReload(bandwidthUnit), &provision.ServiceStep{Name: bandwidthUnit, Enabled: true, Running: true})
}
