package cmd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/atomicfile"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/providers"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/provision/roles"
	"github.com/omc-coop/omc/remote"
)

// installOptions: the school's one-off install on one claimed server.
type installOptions struct {
	Host, Domain, Email string
	User                string
	Port                int
	Key                 string
	Version             string
	Name                string
	Settings            string   // YAML file of extra node settings
	Out                 string   // the inventory to write
	IgnoreChecks        []string // check names that may fail
	Timeout             time.Duration
	Greenlight          bool   // Greenlight v3 at / (settings.greenlight)
	LTI                 string // the LTI framework's consumer key (settings.lti)

	lookup resolver // DNS, replaceable in tests
}

// installMarker starts every inventory omc install writes, so a second
// install may update it and never overwrites a file someone else wrote.
const installMarker = "# Written by omc install"

func newInstallCmd(s *ui.Streams, g *globalOptions) *cobra.Command {
	o := &installOptions{lookup: lookupHost}
	c := &cobra.Command{
		Use:   "install --host ADDRESS --domain DOMAIN --email EMAIL",
		Short: "Install BigBlueButton on one server, without an inventory",
		Long: `Make one claimed server a BigBlueButton server, with the same roles as a
fleet node (firewall, TLS, TURN, BBB, tuning). omc first checks the server
(OS for the BBB line, CPU, memory, disk, ports in use, the domain's DNS)
and says plainly what is wrong, changing nothing; --ignore-checks names
checks you accept failing. Then it writes the inventory it used (omc.yaml,
or -i FILE) and the secrets it made (omc-secrets/ beside it, mode 0600),
converges the server, and prints the URL and where the API secret is.
Run it again, or "omc up" with the written inventory, to repair or update.

--greenlight adds Greenlight v3 at / (bbb-install's -g). --lti KEY adds
BBB's LTI framework (bbb-install's -t) with the consumer key KEY; its
secret is made like the others and kept in omc-secrets/, never a flag.

On a terminal omc asks for missing values; in CI (CI=true, or no
terminal) give them as flags. Secrets are never flags.`,
		Example: `  omc install --host 203.0.113.10 --domain bbb.school.example --email admin@school.example
  CI=true omc install --host 203.0.113.10 --domain bbb.school.example --email admin@school.example -o json`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runInstall(c.Context(), s, g, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.Host, "host", "", "the server's address (IP or name) omc connects to")
	f.StringVar(&o.Domain, "domain", "", "the domain BBB serves, e.g. bbb.school.example (its A record must point at the server)")
	f.StringVar(&o.Email, "email", "", "the admin's email, for the Let's Encrypt account")
	f.StringVar(&o.User, "user", "root", "SSH user (not root: steps run through sudo -n)")
	f.IntVar(&o.Port, "port", 22, "SSH port")
	f.StringVar(&o.Key, "key", "", "SSH private key (default: ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
	f.StringVar(&o.Version, "version", roles.NewestLine().Version, "BBB line, with the Ubuntu release it needs: "+roles.KnownLines())
	f.StringVar(&o.Name, "name", "", "node name in the inventory (default: from the domain)")
	f.StringVar(&o.Settings, "settings", "", "YAML file of more node settings (see omc help settings), e.g. bbb tuning or public_ip behind NAT")
	f.StringSliceVar(&o.IgnoreChecks, "ignore-checks", nil, "checks that may fail: "+strings.Join(installChecks, ", "))
	f.DurationVar(&o.Timeout, "timeout", 0, "give up after this long (default: no limit)")
	f.BoolVar(&o.Greenlight, "greenlight", false, "also run Greenlight v3 at / (rooms and sign-in, in Docker), as bbb-install's -g")
	f.StringVar(&o.LTI, "lti", "", "also run BBB's LTI framework at /lti (rooms for an LMS, in Docker) with this consumer key, as bbb-install's -t (the secret is made for you)")
	return c
}

var (
	reInstallDomain = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	reInstallEmail  = regexp.MustCompile(`^[^\s'"@]+@[^\s'"@]+\.[^\s'"@]+$`)
	reInstallHost   = regexp.MustCompile(`^[A-Za-z0-9.:_-]+$`)
)

func runInstall(ctx context.Context, s *ui.Streams, g *globalOptions, o *installOptions) error {
	if err := askMissing(s, o); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx, o.Timeout)
	defer cancel()
	out := g.Inventory
	if out == "" || out == "-" {
		out = "omc.yaml"
	}
	if err := mayWrite(out, o.Domain); err != nil {
		return err
	}
	extra, err := readSettings(o.Settings)
	if err != nil {
		return err
	}
	secretDir := filepath.Join(filepath.Dir(out), "omc-secrets")
	text, err := installInventory(o, extra, secretDir)
	if err != nil {
		return err
	}
	// Loaded from memory first: the secrets need not exist yet (their
	// users report them), so a bad value stops here with nothing written.
	inv, err := inventory.LoadReader(out, bytes.NewReader(text))
	if err != nil {
		return fmt.Errorf("the values given do not make a valid inventory: %w", err)
	}
	node := inv.Nodes()[0]

	results, err := preflight(ctx, s, g, o, node)
	if err != nil {
		return err
	}
	var failed []string
	for _, r := range results {
		if r.failed() {
			failed = append(failed, r.Name)
		}
	}
	if len(failed) > 0 {
		return &exitError{Code: ExitError, Err: fmt.Errorf("%s is not ready for BBB %s (%s): nothing was changed; fix the server, or pass --ignore-checks %s to go ahead anyway",
			o.Host, o.Version, strings.Join(failed, ", "), strings.Join(failed, ","))}
	}

	apiFile, ltiFile, err := writeInstallFiles(out, text, secretDir, node.Name, o.LTI != "")
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Err, "wrote %s and the secrets in %s\n", out, secretDir)
	if inv, err = inventory.Load(out); err != nil {
		return err
	}
	if err := inv.MissingSecrets(); err != nil {
		return err
	}
	info := installInfo{V: provision.EventVersion, Type: "install", Host: o.Host, Domain: o.Domain,
		URL: "https://" + o.Domain + "/", APIURL: "https://" + o.Domain + "/bigbluebutton/api/",
		SecretFile: apiFile, Inventory: out, Greenlight: o.Greenlight}
	if o.LTI != "" {
		info.LTI = &installLTIInfo{Key: o.LTI, SecretFile: ltiFile, LaunchURL: roles.LTILaunchURL(o.Domain)}
	}
	if g.json() {
		// Before the run's events, so that the summary stays the last line.
		if err := g.jsonOut(s).Write(info); err != nil {
			return err
		}
	}
	co := &convergeOptions{Parallel: 1, AcceptNew: true}
	if err := convergeNodes(ctx, s, g, co, provision.Apply, inv, inv.Nodes()); err != nil {
		return err
	}
	if !g.json() {
		writeInstallInfo(s.Out, info)
	}
	return nil
}

// installInfo is what the admin needs afterwards (-o json: one line of
// type "install", before the run's events).
type installInfo struct {
	V          int    `json:"v"`
	Type       string `json:"type"`
	Host       string `json:"host"`
	Domain     string `json:"domain"`
	URL        string `json:"url"`
	APIURL     string `json:"api_url"`
	SecretFile string `json:"api_secret_file"`
	Inventory  string `json:"inventory"`
	Greenlight bool   `json:"greenlight"`
	// LTI is set with --lti: what an LMS needs, the secret by its file.
	LTI *installLTIInfo `json:"lti,omitempty"`
}

type installLTIInfo struct {
	Key        string `json:"consumer_key"`
	SecretFile string `json:"consumer_secret_file"`
	LaunchURL  string `json:"launch_url"`
}

func writeInstallInfo(w io.Writer, i installInfo) {
	fmt.Fprintf(w, `
BigBlueButton is installed on %s (%s).

  URL         %s
  API URL     %s
  API secret  in %s (mode 0600; on the server: sudo bbb-conf --secret)
  Inventory   %s: "omc plan -i %s" shows drift, "omc up -i %s" repairs or updates
`, i.Domain, i.Host, i.URL, i.APIURL, i.SecretFile, i.Inventory, i.Inventory, i.Inventory)
	if i.LTI != nil {
		fmt.Fprintf(w, `
BBB's LTI framework answers at %slti/. Add it to your LMS as an external
tool (LTI 1.0/1.1) with:

  Launch URL       %s
  Consumer key     %s
  Consumer secret  in %s (mode 0600; on the server: sudo cat %s)
`, i.URL, i.LTI.LaunchURL, i.LTI.Key, i.LTI.SecretFile, roles.LTIRegistrationFile)
	}
	if i.Greenlight {
		fmt.Fprintf(w, `
Greenlight v3 answers at %s. Create its administrator on the server
(sudo docker exec -it greenlight-v3 bundle exec rake admin:create[...]), see
https://docs.bigbluebutton.org/greenlight/v3/install#creating-an-admin-account
`, i.URL)
		return
	}
	fmt.Fprint(w, `
BBB has no front end of its own for rooms and users. Add one:
  - Greenlight, BBB's own front end: https://docs.bigbluebutton.org/greenlight/v3/install
  - or your learning platform's BBB plugin (Moodle, ILIAS, Nextcloud, ...),
    given the API URL and the API secret above.
`)
}

// askMissing prompts for the values a one-off install cannot do without,
// on a terminal only; in CI it names the missing flags.
func askMissing(s *ui.Streams, o *installOptions) error {
	type ask struct {
		flag, question string
		v              *string
	}
	asks := []ask{{"host", "Server address (IP or name)", &o.Host}, {"domain", "Domain BBB will serve (e.g. bbb.school.example)", &o.Domain},
		{"email", "Admin email (for Let's Encrypt)", &o.Email}}
	var missing []string
	for _, a := range asks {
		if *a.v == "" {
			missing = append(missing, "--"+a.flag)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if !s.Interactive() {
		return usageError("omc install needs %s (it asks for them only on a terminal, never in CI)", strings.Join(missing, ", "))
	}
	in := bufio.NewReader(s.In)
	for _, a := range asks {
		for i := 0; *a.v == "" && i < 3; i++ {
			fmt.Fprintf(s.Err, "%s: ", a.question)
			line, err := in.ReadString('\n')
			*a.v = strings.TrimSpace(line)
			if err != nil && *a.v == "" {
				return usageError("no value for --%s", a.flag)
			}
		}
		if *a.v == "" {
			return usageError("no value for --%s", a.flag)
		}
	}
	return nil
}

// check validates the flags before anything is contacted.
func (o *installOptions) check() error {
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
		if !slices.Contains(installChecks, c) {
			bad = append(bad, fmt.Sprintf("--ignore-checks: no check %q (have %s)", c, strings.Join(installChecks, ", ")))
		}
	}
	if o.Name == "" {
		o.Name = strings.ReplaceAll(o.Domain, ".", "-")
		if len(o.Name) > 63 {
			o.Name = strings.Trim(o.Name[:63], "-")
		}
	}
	if len(bad) > 0 {
		return usageError("%s", strings.Join(bad, "; "))
	}
	return nil
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
		return usageError("%s exists and is not omc install's inventory for %s: use it with \"omc up -i %s\", or name another file with -i", path, domain, path)
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
		return nil, usageError("--settings: %v", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, usageError("--settings %s: not a YAML mapping: %v", path, err)
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
func installInventory(o *installOptions, extra map[string]any, secretDir string) ([]byte, error) {
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

// preflight connects once and checks the server; it changes nothing.
// Every verdict is reported (stderr, or JSON lines on stdout).
func preflight(ctx context.Context, s *ui.Streams, g *globalOptions, o *installOptions, n *inventory.Node) ([]checkResult, error) {
	wantOS, err := roles.LineOS(n)
	if err != nil {
		return nil, &exitError{Code: ExitUsage, Err: err}
	}
	cfg, err := fleet.SSHConfig(n, providers.Machine{Name: n.Name, Address: n.Address}, &remote.KnownHosts{Path: fleet.KnownHostsPath()})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(s.Err, "checking %s (%s@%s) for BBB %s\n", n.Name, cfg.User, o.Host, o.Version)
	c, err := remote.Dial(ctx, cfg)
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
	// An ignored DNS check is not made at all: no lookup leaves omc.
	var resolved []string
	lerr := errors.New("not checked (--ignore-checks dns)")
	if !slices.Contains(o.IgnoreChecks, "dns") {
		resolved, lerr = o.lookup(ctx, o.Domain)
	}
	// Behind NAT the domain points at the public address.
	if ip := n.Settings.PublicIP; ip != "" {
		facts.Addrs = append(facts.Addrs, ip)
	}
	results := evaluate(facts, wantOS, o.Version, o.Domain, resolved, lerr, o.Host, o.IgnoreChecks)
	styles := ui.NewStyles(s.Err, s.ErrColor)
	for _, r := range results {
		if g.json() {
			if err := g.jsonOut(s).Write(struct {
				V    int    `json:"v"`
				Type string `json:"type"`
				Host string `json:"host"`
				checkResult
			}{provision.EventVersion, "check", n.Name, r}); err != nil {
				return nil, err
			}
			continue
		}
		fmt.Fprintf(s.Err, "  %-8s %-7s %s\n", r.Name, styles.Status(r.Status), r.Detail)
	}
	return results, nil
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
