package hcloud

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/testenv"
)

// cloudInitCheck validates cloud-config files the way `cloud-init schema
// --config-file` does: header, YAML, then the JSON schema in strict mode,
// deprecations included. It prints one line per file that fails.
const cloudInitCheck = `
import sys
from cloudinit.config.schema import SchemaValidationError, get_schema, validate_cloudconfig_file
schema = get_schema()
bad = 0
for path in sys.argv[1:]:
    try:
        validate_cloudconfig_file(path, schema)
    except SchemaValidationError as e:
        bad += 1
        print("%s: %s" % (path, str(e).replace("\n", " ")))
sys.exit(1 if bad else 0)
`

// cloudInit finds a Python that imports cloud-init's own schema module:
// Debian's python3 (where the cloud-init package puts it) or the one on
// PATH, with OMC_CLOUDINIT_PYTHONPATH added, which .ci/run sets to the
// module it unpacks from Debian's package without installing it. It
// returns the command prefix and logs cloud-init's version.
func cloudInit(t *testing.T) *exec.Cmd {
	t.Helper()
	var pythons []string
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		pythons = append(pythons, "/usr/bin/python3")
	}
	if p, err := exec.LookPath("python3"); err == nil {
		pythons = append(pythons, p)
	}
	extra := os.Getenv("OMC_CLOUDINIT_PYTHONPATH")
	env := os.Environ()
	if extra != "" {
		env = append(env, "PYTHONPATH="+extra)
	}
	var tried []string
	for _, py := range pythons {
		cmd := exec.Command(py, "-c", "import cloudinit.config.schema, cloudinit.version; print(cloudinit.version.version_string())")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Logf("cloud-init %s (%s)", strings.TrimSpace(string(out)), py)
			c := exec.Command(py, "-c", cloudInitCheck)
			c.Env = env
			return c
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		tried = append(tried, py+": "+lines[len(lines)-1])
	}
	testenv.Missing(t, "needs cloud-init's Python module to validate user data (apt-get install cloud-init, or unpack Debian's package and set OMC_CLOUDINIT_PYTHONPATH as .ci/run does); OMC_CLOUDINIT_PYTHONPATH=%q, tried: %s",
		extra, strings.Join(append(tried, "(no other python3)"), "; "))
	return nil
}

// validateCloudConfigs runs cloud-init's validator on each named user
// data and returns its complaints by name.
func validateCloudConfigs(t *testing.T, uds map[string]string) (complaints map[string]string) {
	t.Helper()
	cmd := cloudInit(t)
	dir := t.TempDir()
	byPath := map[string]string{}
	for name, ud := range uds {
		p := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(p, []byte(ud), 0o600); err != nil {
			t.Fatal(err)
		}
		byPath[p] = name
		cmd.Args = append(cmd.Args, p)
	}
	out, err := cmd.CombinedOutput()
	complaints = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if p, msg, ok := strings.Cut(line, ": "); ok && byPath[p] != "" {
			complaints[byPath[p]] = msg
		}
	}
	if _, exit := err.(*exec.ExitError); err != nil && (!exit || len(complaints) == 0) {
		t.Fatalf("cloud-init's validator: %v\n%s", err, out)
	}
	return complaints
}

// Every user data omc hands to a server, at create and at rebuild, for
// root and for another login user, is a cloud-config that cloud-init's own
// schema accepts in strict mode (warnings count as errors).
func TestUserDataPassesCloudInitSchema(t *testing.T) {
	uds := map[string]string{}
	for _, c := range []struct{ name, extra string }{
		{"root", ""},
		{"deploy", "    ssh:\n      user: deploy\n"},
	} {
		e := newEnv(t)
		inv, g := loadInv(t, "coop", 1, c.extra)
		e.create(inv, g)
		uds["create-"+c.name] = e.fake.UserData("coop-bbb-1")
		_, err := e.p.Rebuild(context.Background(), inv, g, groupNodes(inv, g))
		e.checkErr(err)
		uds["rebuild-"+c.name] = e.fake.UserData("coop-bbb-1")
	}
	if !strings.Contains(uds["create-deploy"], "name: deploy") || strings.Contains(uds["create-root"], "users:") {
		t.Fatalf("the two login users should give different user data:\n%s\n---\n%s", uds["create-root"], uds["create-deploy"])
	}
	// The validator must be able to say no: the empty key type list omc
	// once wrote is refused.
	uds["control-empty-genkeytypes"] = strings.Replace(uds["create-root"], "ssh_genkeytypes:\n    - ed25519\n", "ssh_genkeytypes: []\n", 1)
	if uds["control-empty-genkeytypes"] == uds["create-root"] {
		t.Fatalf("ssh_genkeytypes is not written as expected:\n%s", uds["create-root"])
	}

	complaints := validateCloudConfigs(t, uds)
	if msg := complaints["control-empty-genkeytypes"]; !strings.Contains(msg, "ssh_genkeytypes") {
		t.Errorf("cloud-init accepted ssh_genkeytypes: [] (%q): the validator is not strict", msg)
	}
	delete(complaints, "control-empty-genkeytypes")
	for name, msg := range complaints {
		t.Errorf("cloud-init refuses the %s user data: %s\n%s", name, msg, uds[name])
	}
}
