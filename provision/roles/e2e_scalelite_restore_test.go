package roles

import (
	"net/netip"
	"strings"
	"testing"
)

const scaleliteRestoreGroup = `    pool:
      url: https://rs1.omc.test
      secret: env:OMC_E2E_LB
    nodes:
      - name: rs1
        roles: [scalelite]
        domain: rs1.omc.test
        settings:
          scalelite: {multitenancy: true}
          backup: {repository: %q, keep: {daily: 3}}
`

// TestE2EScaleliteRestore: a scalelite node omc runs backs up to a restic
// repository off the node; what Scalelite keeps (its servers and tenants
// in Redis, its recordings index in PostgreSQL; here a key and a row the
// test writes beside the stand-in's own) is backed up by the nightly
// job; the host is rebuilt from the image; omc restore and omc up bring
// both stores back, and a second omc up changes nothing.
func TestE2EScaleliteRestore(t *testing.T) {
	e := baseE2E(t, dockerNspawnEnv, dockerNspawnArgs...)
	t.Setenv("OMC_E2E_LB", "e2e-loadbalancer-secret-0123456789")
	inventory := func(repo string) string {
		text := dockerInventory("omc-scalelite-restore-e2e", e.keyPath, strings.ReplaceAll(scaleliteRestoreGroup, "%q", `"`+repo+`"`))
		return strings.Replace(text, "secrets:\n", "secrets:\n  restic_password: env:OMC_E2E_RESTIC_PASSWORD\n", 1)
	}
	// The repository's address is the host's link, known once it exists.
	e.writeInventory(inventory("/var/backups/omc-e2e-restic/{node}"))
	e.boot("rs1")
	machineEnd := netip.MustParseAddr(e.machines["rs1"].Address).Prev()
	e.writeInventory(inventory(serveResticREST(t, machineEnd.String(), t.TempDir()) + "{node}"))
	ready := func() {
		e.prepareHosts()
		e.scaleliteStandins("rs1")
	}
	ready()
	e.up("first omc up")

	const (
		row   = "kept-by-omc-restore"
		query = "cd /tmp && runuser -u postgres -- psql -tAc 'SELECT v FROM omc_e2e' scalelite_production; redis-cli GET omc:e2e"
	)
	e.mustSh("rs1", `set -e
cd /tmp
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -c "CREATE TABLE omc_e2e (v text); INSERT INTO omc_e2e VALUES ('`+row+`')" scalelite_production
redis-cli SET omc:e2e `+row+` >/dev/null
systemctl start omc-backup.service`)
	if out := e.mustSh("rs1", "systemctl show -p Result --value omc-backup.service"); out != "success\n" {
		t.Fatalf("backup run: %q\n%s", out, e.mustSh("rs1", "journalctl -u omc-backup.service --no-pager | tail -n 30"))
	}
	want := row + "\n" + row + "\n"
	if got := e.mustSh("rs1", query); got != want {
		t.Fatalf("before the rebuild: %q", got)
	}

	e.rebuild()
	if out := e.mustSh("rs1", "for p in /etc/default/scalelite /var/backups/omc/scalelite.pgdump /var/backups/omc/scalelite.rdb; do [ ! -e $p ] || echo left: $p; done"); out != "" {
		t.Fatalf("the rebuilt host is not fresh:\n%s", out)
	}
	ready()
	out, errs, code := e.omc("restore", "rs1", "--yes")
	if code != 0 || !strings.Contains(errs+out, "which loads Scalelite's database and Redis") {
		t.Fatalf("omc restore: exit %d\n%s\n%s", code, out, errs)
	}
	e.up("omc up after the restore")
	if got := e.mustSh("rs1", query); got != want {
		t.Errorf("after the restore: %q, want the row and the key back", got)
	}
	if got := e.mustSh("rs1", "cd /tmp && runuser -u postgres -- psql -tAc 'SELECT version FROM schema_migrations' scalelite_production; ls /var/backups/omc/"); !strings.HasPrefix(got, "standin\n") || strings.Contains(got, ".load") {
		t.Errorf("after the restore: Scalelite's own table and the markers: %q", got)
	}
	e.mustSh("rs1", "systemctl is-active scalelite-api scalelite-poller scalelite-recording-importer redis-server")
	if n := e.up("second omc up after the restore"); n != 0 {
		t.Fatalf("the second omc up after the restore changed %d steps", n)
	}
}
