package roles

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
)

const fakeLB = "FAKE-loadbalancer-secret"

func loadScaleliteFleet(t *testing.T, yaml, seed string) (*inventory.Inventory, []*inventory.Node) {
	t.Helper()
	t.Setenv("OMC_TEST_SEED", seed)
	t.Setenv("OMC_TEST_LB", fakeLB)
	inv, err := inventory.LoadReader("testdata/scalelite-fleet.yaml", strings.NewReader(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return inv, inv.Nodes()
}

// A scalelite node gets Scalelite, pinned, with PostgreSQL and Redis and
// TLS. The golden pins the whole listing; the checks below say what
// carries the behaviour, so a golden regenerated over a bug still fails.
func TestScaleliteStepsGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/scalelite-fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	inv, fleet := loadScaleliteFleet(t, string(b), fakeSeed)
	sl := node(t, fleet, "sl-1")
	steps, err := Steps(inv, sl, fleet)
	if err != nil {
		t.Fatal(err)
	}
	secretVals := append(inv.SecretValues(), SecretValues(inv, fleet)...)
	got := describe(steps, secretVals)
	for _, v := range append(secretVals, fakeLB) {
		if strings.Contains(got, v) {
			t.Fatal("a secret is left unmasked in the listing")
		}
	}
	golden(t, "steps-scalelite-sl-1", got)

	at := map[string]int{}
	files := map[string]*provision.FileStep{}
	for i, s := range steps {
		at[s.ID()] = i
		if f, ok := s.(*provision.FileStep); ok {
			files[f.Path] = f
		}
		if c, ok := s.(*checkedFile); ok {
			files[c.Path] = c.FileStep
			at["file "+c.Path] = i
		}
	}
	before := func(a, b string) {
		t.Helper()
		i, ok1 := at[a]
		j, ok2 := at[b]
		if !ok1 || !ok2 || i >= j {
			t.Errorf("want %q (%d, %v) before %q (%d, %v)", a, i, ok1, b, j, ok2)
		}
	}
	// Docker must never start with its own iptables rules.
	before("file /etc/docker/daemon.json", "packages docker.io postgresql redis-server")
	before("packages docker.io postgresql redis-server", "command scalelite's database role")
	before("command scalelite's database role", "service scalelite-api")
	before("certificate sl-1.example.org", "file "+slSite) // nginx -t needs the certificate
	for _, c := range slContainers {
		before("command pull blindsidenetwks/scalelite:v1.6.0-"+c.Suffix, "service "+c.Name)
		unit := files["/etc/systemd/system/"+c.Name+".service"]
		if unit == nil || !strings.Contains(string(unit.Content), " blindsidenetwks/scalelite:v1.6.0-"+c.Suffix+"\n") ||
			!strings.Contains(string(unit.Content), "--env-file /etc/default/scalelite --network host") {
			t.Errorf("%s: not Scalelite's pinned image on the host's network", c.Name)
		}
		if f := files[slEnvFile]; f == nil || !slices.Contains(f.Notify, c.Name) {
			t.Errorf("a new environment does not restart %s", c.Name)
		}
	}

	// The environment: the pool's secret, derived secrets that match the
	// database role's password, loopback only.
	env := map[string]string{}
	f := files[slEnvFile]
	if f == nil || f.Mode != 0o600 || f.Owner != "root" {
		t.Fatalf("%s missing or readable by others", slEnvFile)
	}
	for _, l := range strings.Split(string(f.Content), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			env[k] = v
		}
	}
	pw := regexp.MustCompile(`^postgresql://scalelite:([0-9a-f]{48})@127\.0\.0\.1:5432/scalelite_production$`).FindStringSubmatch(env["DATABASE_URL"])
	sql := files[slDBFile]
	switch {
	case env["LOADBALANCER_SECRET"] != fakeLB:
		t.Error("LOADBALANCER_SECRET is not the pool's secret")
	case !regexp.MustCompile(`^[0-9a-f]{128}$`).MatchString(env["SECRET_KEY_BASE"]):
		t.Errorf("SECRET_KEY_BASE is not 128 hex digits")
	case pw == nil || sql == nil || !strings.Contains(string(sql.Content), "PASSWORD '"+pw[1]+"'") || sql.Mode != 0o600:
		t.Errorf("the database URL's password is not the role's (or the role file is readable by others)")
	case env["URL_HOST"] != "sl-1.example.org" || env["BIND"] != "tcp://127.0.0.1:3000" || env["MULTITENANCY_ENABLED"] != "true":
		t.Errorf("env: %v", env)
	}
	// Another seed, another password and key; the pool's secret stays.
	inv2, fleet2 := loadScaleliteFleet(t, string(b), fakeSeed+"-2")
	steps2, err := Steps(inv2, node(t, fleet2, "sl-1"), fleet2)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps2 {
		if f2, ok := s.(*provision.FileStep); ok && f2.Path == slEnvFile {
			if string(f2.Content) == string(f.Content) || !strings.Contains(string(f2.Content), "LOADBALANCER_SECRET="+fakeLB+"\n") {
				t.Error("a new seed did not rotate the derived secrets (or changed the pool's)")
			}
		}
	}
	// The BBB node of the group gets no Scalelite.
	bbbSteps, err := Steps(inv, node(t, fleet, "bbb-1"), fleet)
	if err != nil {
		t.Fatal(err)
	}
	if d := describe(bbbSteps, secretVals); strings.Contains(d, "PRIVATE KEY-----\nb3Blbn") || !strings.Contains(d, "PRIVATE KEY") {
		t.Error("bbb-1's transfer key is shown in its listing")
	}
	hook := false
	for _, s := range bbbSteps {
		if id := s.ID(); strings.Contains(id, "pull ") || strings.Contains(id, slEnvFile) || strings.Contains(id, "scalelite-api") {
			t.Errorf("bbb-1 got %s", id)
		}
		hook = hook || s.ID() == "file "+transferHook
	}
	if !hook {
		t.Error("bbb-1 does not send its recordings to the group's Scalelite")
	}
}

// Scalelite answers on the pool's URL with the pool's secret: an
// inventory where they cannot be is refused, naming where.
func TestScaleliteNeedsItsPool(t *testing.T) {
	b, err := os.ReadFile("testdata/scalelite-fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ from, to, want string }{
		"url elsewhere": {"url: https://sl-1.example.org", "url: https://lb.example.org", "testdata/scalelite-fleet.yaml:10:7: groups.eu.pool.url https://lb.example.org must be https://sl-1.example.org"},
		"no pool":       {"    pool:\n      url: https://sl-1.example.org\n      secret: env:OMC_TEST_LB\n", "", "groups.eu.pool needs the url and secret"},
		"unmanaged":     {"scalelite: {multitenancy: true}", "scalelite: {managed: false}", ""},
	} {
		t.Run(name, func(t *testing.T) {
			y := strings.Replace(string(b), c.from, c.to, 1)
			inv, fleet := loadScaleliteFleet(t, y, fakeSeed)
			steps, err := Steps(inv, node(t, fleet, "sl-1"), fleet)
			if c.want == "" {
				for _, s := range steps {
					if strings.Contains(s.ID(), "scalelite") || strings.Contains(s.ID(), "certificate") {
						t.Errorf("an unmanaged Scalelite got %s", s.ID())
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}

// A Scalelite omc runs is backed up whole: its database, its Redis (where
// Scalelite keeps servers and tenants) and the recordings it serves; one
// set up by hand keeps what omc can know of it, the database dump.
func TestScaleliteBackupTargets(t *testing.T) {
	b, err := os.ReadFile("testdata/scalelite-fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		settings string
		want     []string
	}{
		{"{scalelite: {multitenancy: true}, backup: {repository: /srv/restic}}", []string{"config", "scalelite-db", "scalelite-redis", "recordings"}},
		{"{scalelite: {managed: false}, backup: {repository: /srv/restic}}", []string{"config", "scalelite-db"}},
	} {
		y := strings.Replace(string(b), "settings:\n          scalelite: {multitenancy: true}", "settings: "+c.settings, 1)
		y = strings.Replace(y, "secrets:\n", "secrets:\n  restic_password: env:OMC_TEST_SEED\n", 1)
		inv, fleet := loadScaleliteFleet(t, y, fakeSeed)
		sl := node(t, fleet, "sl-1")
		targets, err := BackupTargets(sl, fleet)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tg := range targets {
			names = append(names, tg.Name)
		}
		if !slices.Equal(names, c.want) {
			t.Errorf("%s: targets %v, want %v", c.settings, names, c.want)
		}
		steps, err := Steps(inv, sl, fleet)
		if err != nil {
			t.Fatal(err)
		}
		script := ""
		for _, s := range steps {
			if f, ok := s.(*provision.FileStep); ok && f.Path == backupScript {
				script = string(f.Content)
			}
		}
		if has := strings.Contains(script, "exec > '"+scaleliteRDB+".tmp'; "+redisDump+")"); has != (len(c.want) == 4) {
			t.Errorf("%s: the nightly script dumps Redis: %v\n%s", c.settings, has, script)
		}
		// omc restore marks the dumps the next omc up loads: both on a
		// managed node, none on a Scalelite the operator runs.
		managed := len(c.want) == 4
		for _, snap := range []string{"", "0123abcd"} {
			ch, err := (&RestoreStep{Node: "sl-1", Targets: targets, Snapshot: snap}).Plan([]string{"meetings=none"})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []string{scaleliteDump + ".load", scaleliteRDB + ".load"} {
				if has := strings.Contains(ch.Script, "touch "+m); has != managed {
					t.Errorf("%s, snapshot %q: the restore marks %s: %v", c.settings, snap, m, has)
				}
			}
			if loads := strings.Contains(ch.Summary, "which loads Scalelite's database and Redis"); loads != managed {
				t.Errorf("%s: summary %q", c.settings, ch.Summary)
			}
		}
		// The load steps run only when a marker is there, before the units.
		var ids []string
		for _, s := range steps {
			ids = append(ids, s.ID())
		}
		dbLoad, unit := slices.Index(ids, "command load Scalelite's restored database"), slices.Index(ids, "service "+slTarget)
		if managed && (dbLoad < 0 || unit < 0 || dbLoad > unit || slices.Index(ids, "command scalelite's database role") > dbLoad) {
			t.Errorf("%s: the database load is not between the role and the units: %v", c.settings, ids)
		}
	}
}
