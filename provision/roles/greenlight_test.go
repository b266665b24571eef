package roles

import (
	"slices"
	"strings"
	"testing"

	"github.com/omc-coop/omc/provision"
)

// settings.greenlight: true or {image}; Greenlight's secrets are derived,
// masked like the others, and only its node gets them; the site sends /
// to it only then.
func TestGreenlightSettingsSecretsAndSite(t *testing.T) {
	inv, fleet := loadFleet(t)
	school := node(t, fleet, "school-bbb")
	s := settingsOf(school)
	if s.Greenlight == nil || s.Greenlight.Image != "bigbluebutton/greenlight:v3" {
		t.Fatalf("greenlight: true: %+v", s.Greenlight)
	}
	key, pg, err := secrets{inv}.greenlight(school, s)
	if err != nil || len(key) != 128 || len(pg) != 48 {
		t.Fatalf("derived: %d %d %v", len(key), len(pg), err)
	}
	vals := SecretValues(inv, fleet)
	if !slices.Contains(vals, key) || !slices.Contains(vals, pg) {
		t.Error("Greenlight's secrets are not masked in output")
	}
	steps, err := Steps(inv, school, fleet)
	if err != nil {
		t.Fatal(err)
	}
	var env, site string
	for _, st := range steps {
		if f, ok := st.(*provision.FileStep); ok && f.Path == glDir+"/.env" {
			env = string(f.Content)
			if f.Mode != 0o600 {
				t.Errorf(".env mode %o", f.Mode)
			}
		}
		if f, ok := st.(*checkedFile); ok && f.Path == bbbNginxSite {
			site = string(f.Content)
		}
	}
	for _, want := range []string{"SECRET_KEY_BASE=" + key + "\n", "DATABASE_URL=postgres://postgres:" + pg + "@postgres:5432/greenlight-v3-production\n", "BIGBLUEBUTTON_ENDPOINT=https://bbb.school.example/bigbluebutton/\n"} {
		if !strings.Contains(env, want) {
			t.Errorf(".env lacks %q", want)
		}
	}
	if !strings.Contains(site, "include "+glNginx+";") || !strings.Contains(site, "try_files $uri @bbb-fe;") {
		t.Errorf("the site does not hand / to Greenlight:\n%s", site)
	}
	other, _ := Steps(inv, node(t, fleet, "bbb-1"), fleet)
	for _, st := range other {
		if strings.Contains(st.ID(), "greenlight") {
			t.Errorf("bbb-1 has no greenlight setting, yet got %s", st.ID())
		}
	}
}
