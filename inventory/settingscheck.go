package inventory

import (
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// settingRule is what a setting's value must be, beyond its type: the
// validator checks it and Schema publishes it, so the two agree.
type settingRule struct {
	re   *regexp.Regexp // strings, and each item of a list of strings
	what string         // "%q is not WHAT" when re refuses a value
	enum []string
}

// settingRules by "Type.key". Integers in settings are never negative.
var settingRules = map[string]settingRule{
	"Settings.timezone":           {re: regexp.MustCompile(`^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$`), what: "a time zone name such as Europe/Berlin"},
	"Settings.ntp":                {re: regexp.MustCompile(`^[A-Za-z0-9.-]+$`), what: "a host name or address"},
	"Settings.swap":               {re: reSize, what: "a size such as 4G (K, M, G or T)"},
	"Settings.journal_max_use":    {re: reSize, what: "a size such as 1G (K, M, G or T)"},
	"Settings.acme_email":         {re: regexp.MustCompile(`^[^\s'"@]+@[^\s'"@]+$`), what: "an e-mail address"},
	"Settings.acme_directory":     {re: reURL, what: "an http(s) or file URL"},
	"Settings.acme_ca_file":       {re: regexp.MustCompile(`^/[^\s'"]+$`), what: "an absolute path"},
	"Settings.bbb_version":        {re: reWord, what: "a BBB line such as 4.1"},
	"Settings.bbb_os":             {re: regexp.MustCompile(`^[a-z]+-[0-9.]+$`), what: "an OS as ID-VERSION, e.g. debian-12"},
	"Settings.bbb_packages":       {re: regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+:~-]+)?$`), what: "a package, name or name=version"},
	"Admin.name":                  {re: unixName, what: "a user name"},
	"Admin.keys":                  {re: regexp.MustCompile(`^(ssh-|ecdsa-|sk-)[^\n]+$`), what: "an SSH public key in authorized_keys form"},
	"BBBRepo.url":                 {re: reURL, what: "an http(s) or file URL"},
	"BBBRepo.suite":               {re: reWord, what: "a suite name"},
	"BBBRepo.components":          {re: regexp.MustCompile(`^[A-Za-z0-9._-]+( [A-Za-z0-9._-]+)*$`), what: "components separated by spaces"},
	"BBBRepo.key_url":             {re: reURL, what: "an http(s) or file URL"},
	"Bandwidth.egress":            {re: reRate, what: "a tc rate such as 500mbit"},
	"Bandwidth.ingress":           {re: reRate, what: "a tc rate such as 500mbit"},
	"Bandwidth.interface":         {re: regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`), what: "an interface name"},
	"BBBTuning.disabled_features": {re: regexp.MustCompile(`^[^, ]+$`), what: "a single word"},
	"BBBTuning.guest_policy":      {enum: []string{"ALWAYS_ACCEPT", "ALWAYS_DENY", "ASK_MODERATOR"}},
	"BackupSettings.repository":   {re: regexp.MustCompile(`^[A-Za-z0-9_.:/@{}+=,~%-]+$`), what: "a restic repository"},
	"BackupSettings.schedule":     {re: regexp.MustCompile(`^[A-Za-z0-9*:/,. ~-]+$`), what: "a systemd OnCalendar time"},
	"BackupSettings.random_delay": {re: regexp.MustCompile(`^[0-9]+(s|min|h|d)?$`), what: "a delay such as 2h (s, min, h or d)"},
	"BackupSettings.paths":        {re: regexp.MustCompile(`^/[A-Za-z0-9._/@+-]*$`), what: "an absolute path"},
	"BackupSettings.db_dump":      {re: regexp.MustCompile(`^[^\n]*$`), what: "one command line"},
	"GreenlightSettings.image":    {re: regexp.MustCompile(`^[a-z0-9][a-z0-9._/:@-]*$`), what: "a Docker image"},
	"ScaleliteSettings.version":   {re: regexp.MustCompile(`^v1\.([6-9]|[1-9][0-9])\.[0-9]+(\.[0-9]+)?$`), what: "a Scalelite release tag from v1.6.0 on, e.g. v1.6.0"},
	"ScaleliteSettings.image":     {re: regexp.MustCompile(`^[a-z0-9][a-z0-9._/-]*$`), what: "a Docker image repository (the tag comes from version)"},
	"LTISettings.key":             {re: regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`), what: "a consumer key: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"},
	"LTISettings.secret":          {re: regexp.MustCompile(`^[A-Za-z0-9_.-]+$`), what: "the name of an inventory secret"},
	"LTISettings.broker_image":    {re: regexp.MustCompile(`^[a-z0-9][a-z0-9._/:@-]*$`), what: "a Docker image"},
	"LTISettings.rooms_image":     {re: regexp.MustCompile(`^[a-z0-9][a-z0-9._/:@-]*$`), what: "a Docker image"},
}

var (
	reSize = regexp.MustCompile(`^[0-9]+[KMGT]$`)
	reRate = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)$`)
	reWord = regexp.MustCompile(`^[A-Za-z0-9._~+-]+$`)
	reURL  = regexp.MustCompile(`^(https?|file):/[^\s'"]*$`)
	reSys  = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_-]+)+$`)
	reEnv  = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
)

// settingTypes are the struct types under settings, each with the hint
// an unknown key of it gets when no known key is close.
var settingTypes = map[reflect.Type]string{
	reflect.TypeOf(Settings{}):           "values for your own templates go under vars",
	reflect.TypeOf(BBBTuning{}):          "bbb.properties, bbb.html5 and bbb.sfu take the ones omc has no name for",
	reflect.TypeOf(Admin{}):              "",
	reflect.TypeOf(BBBRepo{}):            "",
	reflect.TypeOf(Bandwidth{}):          "",
	reflect.TypeOf(MonitoringSettings{}): "",
	reflect.TypeOf(BackupSettings{}):     "",
	reflect.TypeOf(BackupKeep{}):         "",
	reflect.TypeOf(GreenlightSettings{}): "",
	reflect.TypeOf(ScaleliteSettings{}):  "",
	reflect.TypeOf(LTISettings{}):        "",
}

func isSettingType(t reflect.Type) bool {
	_, ok := settingTypes[t]
	return ok
}

// suggestSetting is the tail of "unknown setting": the closest key, or
// where the list is.
func suggestSetting(fs []field, name, hint string) string {
	// Close means at most a third of the key's letters wrong (and
	// fewer than three), so that short keys do not get far guesses.
	best, bestD := "", min(3, max(2, len(name)/3+1))
	for _, f := range fs {
		if dist := editDistance(strings.ToLower(name), f.name); dist < bestD {
			best, bestD = f.name, dist
		}
	}
	if best != "" {
		return "; did you mean " + best + "?"
	}
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	if len(names) > 8 {
		msg := " (omc help settings lists them"
		if hint != "" {
			msg += "; " + hint
		}
		return msg + ")"
	}
	msg := " (expected one of " + strings.Join(names, ", ")
	if hint != "" {
		msg += "; " + hint
	}
	return msg + ")"
}

// settings checks one level's settings as written: each value against
// its rule, where it was written. Rules that need the merged settings
// are checkMerged's.
func (v *validator) settings(s *Settings) {
	v.settingValues(reflect.ValueOf(s).Elem())
	for _, k := range sortedKeys(s.Sysctl) {
		if !reSys.MatchString(k) {
			v.errf(join(v.at(&s.Sysctl).path, k), "not a sysctl name")
		}
	}
	for _, ip := range []*string{&s.PublicIP, &s.PrivateIP} {
		if *ip != "" {
			if _, err := netip.ParseAddr(*ip); err != nil {
				v.errf(ip, "%q is not an IP address", *ip)
			}
		}
	}
	if b := s.Backup; b != nil {
		for _, k := range sortedKeys(b.Environment) {
			at := join(v.at(&b.Environment).path, k)
			switch {
			case !reEnv.MatchString(k):
				v.errf(at, "not an environment variable name")
			case strings.HasPrefix(k, "RESTIC_"):
				v.errf(at, "omc sets restic's own variables (repository, password file, cache)")
			case b.Environment[k] == "":
				v.errf(at, "expected the name of an inventory secret (the value is never written in the inventory)")
			}
		}
	}
}

// settingValues applies settingRules to the struct sv and what it holds.
func (v *validator) settingValues(sv reflect.Value) {
	t := sv.Type()
	for _, f := range fieldsOf(t) {
		fv := sv.Field(f.index)
		rule := settingRules[t.Name()+"."+f.name]
		if w := v.at(fv.Addr().Interface()); !w.set || w.bad {
			continue
		}
		switch {
		case fv.Kind() == reflect.Pointer && !fv.IsNil():
			switch fv.Elem().Kind() {
			case reflect.Struct:
				v.settingValues(fv.Elem())
			case reflect.String:
				v.settingString(fv.Elem(), rule)
			case reflect.Int:
				v.settingInt(fv.Elem())
			}
		case fv.Kind() == reflect.Struct && isSettingType(fv.Type()):
			v.settingValues(fv)
		case fv.Kind() == reflect.Slice:
			for i := 0; i < fv.Len(); i++ {
				switch e := fv.Index(i); e.Kind() {
				case reflect.String:
					v.settingString(e, rule)
				case reflect.Struct:
					if isSettingType(e.Type()) {
						v.settingValues(e)
					}
				}
			}
		case fv.Kind() == reflect.String:
			v.settingString(fv, rule)
		case fv.Kind() == reflect.Int:
			v.settingInt(fv)
		}
	}
}

func (v *validator) settingString(sv reflect.Value, r settingRule) {
	s := sv.String()
	p := sv.Addr().Interface()
	if w := v.at(p); !w.set || w.bad || s == "" {
		return
	}
	if r.re != nil && !r.re.MatchString(s) {
		v.errf(p, "%q is not %s", s, r.what)
	}
	if r.enum != nil && !slices.Contains(r.enum, s) {
		v.errf(p, "expected one of %s, got %q", strings.Join(r.enum, ", "), s)
	}
}

func (v *validator) settingInt(iv reflect.Value) {
	if w := v.at(iv.Addr().Interface()); w.set && !w.bad && iv.Int() < 0 {
		v.errf(iv.Addr().Interface(), "must not be negative")
	}
}

// checkMerged checks what only a node's merged settings show (a key at
// one level may complete a mapping begun at another), at the position
// of the mapping that is incomplete.
func checkMerged(l *errList, n *Node) {
	s := &n.Settings
	if b := s.Bandwidth; b != nil && b.Egress == "" && b.Ingress == "" {
		w := s.at["bandwidth"]
		l.add(w.Pos, w.Path, "set egress, ingress or both (a tc rate such as 500mbit)")
	}
	if b := s.Backup; b != nil {
		if b.Repository == "" {
			w := s.at["backup"]
			l.add(w.Pos, w.Path, "repository is required: a restic repository (a path such as /srv/restic/{node}, or sftp:user@host:/path/{node}, s3:…)")
		}
		if b.Keep.Daily+b.Keep.Weekly+b.Keep.Monthly == 0 {
			w, ok := s.at["backup.keep"]
			if !ok {
				w = s.at["backup"]
			}
			l.add(w.Pos, w.Path, "would keep no snapshot at all")
		}
	}
}
