package roles

import "github.com/omc-coop/omc/provision"

// sysctl: the media set on bbb and turn nodes, then settings.sysctl over
// it (null drops a key), one persisted SysctlStep per key.
func (b *builder) sysctl() {
	want := map[string]string{}
	if has(b.n, RoleBBB) || has(b.n, RoleTURN) {
		for k, v := range defaultSysctl {
			want[k] = v
		}
	}
	for k, v := range b.s.Sysctl {
		if v == nil {
			delete(want, k)
		} else {
			want[k] = *v
		}
	}
	for _, k := range sortedSysctl(want) {
		b.add(&provision.SysctlStep{Name: k, Value: want[k]})
	}
}
