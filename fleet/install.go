package fleet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/omc-coop/omc/internal/atomicfile"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision/roles"
	"github.com/omc-coop/omc/remote"
)

// InstallOptions are the school's one-off install on one claimed server:
// the values of omc install's flags. Lookup resolves the domain for the
// DNS check (default: the system's resolver).
type InstallOptions struct {
	Host, Domain, Email string
	User                string
	Port                int
	Key                 string
	Version             string
	Name                string
	Settings            string   // YAML file of extra node settings
	Inventory           string   // the inventory to write
	IgnoreChecks        []string // check names that may fail
	Greenlight          bool     // Greenlight v3 at / (settings.greenlight)
	LTI                 string   // the LTI framework's consumer key (settings.lti)
	Lookup              Resolver
	// Transport reaches the server.
	Transport Transport
}

// installMarker starts every inventory omc install writes, so a second
// install may update it and never overwrites a file someone else wrote.
const installMarker = "# Written by omc install"

var (
	reInstallDomain = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	reInstallEmail  = regexp.MustCompile(`^[^\s'"@]+@[^\s'"@]+\.[^\s'"@]+$`)
	reInstallHost   = regexp.MustCompile(`^[A-Za-z0-9.:_-]+$`)
)

// Check validates the options before anything is contacted, lower-cases
// the domain and names the node after it when Name is unset. Every
// problem is named, by flag, in one *UsageError.
func (o *InstallOptions) Check() error {
	o.Domain = strings.ToLower(strings.TrimSuffix(o.Domain, "."))
	var bad []string
	if !reInstallHost.MatchString(o.Host) {
		bad = append(bad, fmt.Sprintf("--host %q is not an address or host name", o.Host))
	}
	if !reInstallDomain.MatchString(o.Domain) {
		bad = append(bad, fmt.Sprintf("--domain %q is not a domain name (BBB needs one for its certificate)", o.Domain))
	}
	if !reInstallEmail.MatchString(o.Email) {
		bad = append(bad, fmt.Sprintf("--email %q is not an email address", o.Email))
	}
	if o.LTI != "" {
		if err := roles.CheckLTIKey(o.LTI); err != nil {
			bad = append(bad, "--lti "+err.Error())
		}
	}
	if o.Port < 1 || o.Port > 65535 {
		bad = append(bad, fmt.Sprintf("--port %d is not a port", o.Port))
	}
	for _, c := range o.IgnoreChecks {
		if !slices.Contains(InstallChecks, c) {
			bad = append(bad, fmt.Sprintf("--ignore-checks: no check %q (have %s)", c, strings.Join(InstallChecks, ", ")))
		}
	}
	if o.Name == "" {
		o.Name = strings.ReplaceAll(o.Domain, ".", "-")
		if len(o.Name) > 63 {
			o.Name = strings.Trim(o.Name[:63], "-")
		}
	}
	if len(bad) > 0 {
		return usageErrorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

// Install is a planned one-off install: the inventory it will write
// (Text, loaded as Node) and how omc reaches the server (User).
type Install struct {
	Text      []byte
	Node      *inventory.Node
	SecretDir string // omc-secrets/ beside the inventory
	User      string // the SSH user the checks log in as

	o      InstallOptions
	wantOS string
	cfg    remote.Config
}

// InstallResult is what the admin needs afterwards (omc install -o json:
// the fields of the "install" line).
type InstallResult struct {
	Host       string `json:"host"`
	Domain     string `json:"domain"`
	URL        string `json:"url"`
	APIURL     string `json:"api_url"`
	SecretFile string `json:"api_secret_file"`
	Inventory  string `json:"inventory"`
	Greenlight bool   `json:"greenlight"`
	// LTI is set with an LTI key: what an LMS needs, the secret by its file.
	LTI *InstallLTI `json:"lti,omitempty"`
}

// InstallLTI is what an LMS needs to reach BBB's LTI framework.
type InstallLTI struct {
	Key        string `json:"consumer_key"`
	SecretFile string `json:"consumer_secret_file"`
	LaunchURL  string `json:"launch_url"`
}

// PlanInstall renders the inventory the install will write, changing
// nothing: it refuses to replace an inventory omc install did not write
// for this domain, and loads the text from memory, so a bad value stops
// here with nothing written (the secrets it names need not exist yet).
// Call o.Check first.
func PlanInstall(o InstallOptions) (*Install, error) {
	if err := mayWrite(o.Inventory, o.Domain); err != nil {
		return nil, err
	}
	extra, err := readSettings(o.Settings)
	if err != nil {
		return nil, err
	}
	secretDir := filepath.Join(filepath.Dir(o.Inventory), "omc-secrets")
	text, err := installInventory(&o, extra, secretDir)
	if err != nil {
		return nil, err
	}
	inv, err := inventory.LoadReader(o.Inventory, bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("the values given do not make a valid inventory: %w", err)
	}
	n := inv.Nodes()[0]
	wantOS, err := roles.LineOS(n)
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	cfg, err := o.Transport.Config(n, providers.Machine{Name: n.Name, Address: n.Address}, &remote.KnownHosts{Path: KnownHostsPath()})
	if err != nil {
		return nil, err
	}
	return &Install{Text: text, Node: n, SecretDir: secretDir, User: cfg.User, o: o, wantOS: wantOS, cfg: cfg}, nil
}

// Preflight connects once and checks the server, changing nothing: its
// OS for the BBB line, CPU, memory, disk, the ports BBB needs, and the
// domain's DNS (an ignored DNS check makes no lookup). It returns every
// verdict and, when a check not ignored failed, an error naming them.
func (in *Install) Preflight(ctx context.Context) ([]CheckResult, error) {
	o := in.o
	c, err := remote.Dial(ctx, in.cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Host, err)
	}
	defer c.Close()
	sh, err := c.Shell(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Host, err)
	}
	r, err := sh.Run(ctx, factsScript)
	if err != nil {
		return nil, fmt.Errorf("%s: reading the server's facts: %w", o.Host, err)
	}
	facts, err := parseFacts(string(r.Stdout))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Host, err)
	}
	var resolved []string
	lerr := errors.New("not checked (--ignore-checks dns)")
	if !slices.Contains(o.IgnoreChecks, "dns") {
		lookup := o.Lookup
		if lookup == nil {
			lookup = systemResolver
		}
		resolved, lerr = lookup(ctx, o.Domain)
	}
	// Behind NAT the domain points at the public address.
	if ip := in.Node.Settings.PublicIP; ip != "" {
		facts.Addrs = append(facts.Addrs, ip)
	}
	results := evaluate(facts, in.wantOS, o.Version, o.Domain, resolved, lerr, o.Host, o.IgnoreChecks)
	var failed []string
	for _, r := range results {
		if r.failed() {
			failed = append(failed, r.Name)
		}
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("%s is not ready for BBB %s (%s): nothing was changed; fix the server, or pass --ignore-checks %s to go ahead anyway",
			o.Host, o.Version, strings.Join(failed, ", "), strings.Join(failed, ","))
	}
	return results, nil
}

// Write makes the secrets once (kept on later installs) and writes the
// inventory atomically.
func (in *Install) Write() (*InstallResult, error) {
	o := in.o
	apiFile, ltiFile, err := writeInstallFiles(o.Inventory, in.Text, in.SecretDir, in.Node.Name, o.LTI != "")
	if err != nil {
		return nil, err
	}
	res := &InstallResult{Host: o.Host, Domain: o.Domain,
		URL: "https://" + o.Domain + "/", APIURL: "https://" + o.Domain + "/bigbluebutton/api/",
		SecretFile: apiFile, Inventory: o.Inventory, Greenlight: o.Greenlight}
	if o.LTI != "" {
		res.LTI = &InstallLTI{Key: o.LTI, SecretFile: ltiFile, LaunchURL: roles.LTILaunchURL(o.Domain)}
	}
	return res, nil
}

// Load reads the written inventory back, with its secrets: what omc up
// then converges.
func (in *Install) Load() (*inventory.Inventory, error) {
	inv, err := inventory.Load(in.o.Inventory)
	if err != nil {
		return nil, err
	}
	if err := inv.MissingSecrets(); err != nil {
		return nil, err
	}
	return inv, nil
}

// mayWrite refuses to replace an inventory that omc install did not
// write for this same domain.
func mayWrite(path, domain string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(b, []byte(installMarker+" for "+domain+"\n")) {
		return usageErrorf("%s exists and is not omc install's inventory for %s: use it with \"omc up -i %s\", or name another file with -i", path, domain, path)
	}
	return nil
}

// readSettings reads the --settings file: a YAML mapping of node settings.
func readSettings(path string) (map[string]any, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("--settings: %v", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, usageErrorf("--settings %s: not a YAML mapping: %v", path, err)
	}
	return m, nil
}

// The inventory omc install writes, in the order a reader expects.
type installInv struct {
	APIVersion string                  `yaml:"apiVersion"`
	Name       string                  `yaml:"name"`
	Secrets    map[string]string       `yaml:"secrets"`
	Groups     map[string]installGroup `yaml:"groups"`
}

type installGroup struct {
	Provider string        `yaml:"provider"`
	Nodes    []installNode `yaml:"nodes"`
}

type installNode struct {
	Name     string         `yaml:"name"`
	Roles    []string       `yaml:"roles"`
	Address  string         `yaml:"address"`
	Domain   string         `yaml:"domain"`
	SSH      installSSH     `yaml:"ssh"`
	Settings map[string]any `yaml:"settings"`
}

type installSSH struct {
	User string `yaml:"user"`
	Port int    `yaml:"port"`
	Key  string `yaml:"key,omitempty"`
}

const (
	installSeed = "bbb_seed"
	installAPI  = "bbb_api_secret"
	installLTI  = "bbb_lti_secret"
)

// installInventory renders the inventory for this install. The seed (for
// the TURN and FreeSWITCH secrets) and the API secret are files in
// secretDir, referenced, never inlined.
func installInventory(o *InstallOptions, extra map[string]any, secretDir string) ([]byte, error) {
	settings := map[string]any{}
	for k, v := range extra {
		settings[k] = v
	}
	settings["bbb_version"] = o.Version
	settings["acme_email"] = o.Email
	if o.Greenlight {
		settings["greenlight"] = true
	}
	secrets := map[string]string{installSeed: "file:" + filepath.Join(secretDir, installSeed), installAPI: "file:" + filepath.Join(secretDir, o.Name+"-api-secret")}
	if o.LTI != "" {
		settings["lti"] = map[string]any{"key": o.LTI, "secret": installLTI}
		secrets[installLTI] = "file:" + filepath.Join(secretDir, o.Name+"-lti-secret")
	}
	settings["api_secret"] = installAPI
	inv := installInv{APIVersion: inventory.APIVersion, Name: "school",
		Secrets: secrets,
		Groups: map[string]installGroup{"school": {Provider: "static", Nodes: []installNode{{
			Name: o.Name, Roles: []string{roles.RoleBBB}, Address: o.Host, Domain: o.Domain,
			SSH: installSSH{User: o.User, Port: o.Port, Key: o.Key}, Settings: settings}}}}}
	var body bytes.Buffer
	enc := yaml.NewEncoder(&body)
	enc.SetIndent(2)
	if err := enc.Encode(inv); err != nil {
		return nil, err
	}
	head := installMarker + " for " + o.Domain + "\n# Run \"omc plan -i FILE\" to see drift, \"omc up -i FILE\" to repair or update.\n" +
		"# The secrets it names live in " + secretDir + " (mode 0600): back them up, keep them out of git.\n"
	return append([]byte(head), body.Bytes()...), nil
}

// writeInstallFiles makes the secrets once (kept on later installs) and
// writes the inventory atomically. It returns the API secret's file and,
// with lti, the LTI consumer secret's.
func writeInstallFiles(out string, text []byte, secretDir, node string, lti bool) (apiFile, ltiFile string, err error) {
	if err := os.MkdirAll(secretDir, 0o700); err != nil {
		return "", "", err
	}
	apiFile = filepath.Join(secretDir, node+"-api-secret")
	files := []string{filepath.Join(secretDir, installSeed), apiFile}
	if lti {
		ltiFile = filepath.Join(secretDir, node+"-lti-secret")
		files = append(files, ltiFile)
	}
	for _, p := range files {
		if _, err := os.Stat(p); err == nil {
			continue
		}
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return "", "", err
		}
		if err := atomicfile.Write(p, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
			return "", "", err
		}
	}
	return apiFile, ltiFile, atomicfile.Write(out, text, 0o644)
}
