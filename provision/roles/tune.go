package roles

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/omc-coop/omc/templates"
)

// webKey maps a settings.bbb key to a bbb-web property.
type webKey struct {
	key, prop, kind string // kind: int, bool, string, list, enum
	enum            []string
	conv            func(v any) string
}

// webKeys: the bbb-web.properties knobs users tune today (ebbba's
// vars/main.yml, the BBB docs), under names that say what they do.
var webKeys = []webKey{
	{key: "max_participants", prop: "defaultMaxUsers", kind: "int"},
	{key: "meeting_duration", prop: "defaultMeetingDuration", kind: "int"},
	{key: "welcome", prop: "defaultWelcomeMessage", kind: "string"},
	{key: "welcome_footer", prop: "defaultWelcomeMessageFooter", kind: "string"},
	{key: "mute_on_start", prop: "muteOnStart", kind: "bool"},
	{key: "webcams_only_for_moderator", prop: "webcamsOnlyForModerator", kind: "bool"},
	{key: "user_camera_cap", prop: "userCameraCap", kind: "int"},
	{key: "meeting_camera_cap", prop: "meetingCameraCap", kind: "int"},
	{key: "max_pinned_cameras", prop: "maxPinnedCameras", kind: "int"},
	{key: "disabled_features", prop: "disabledFeatures", kind: "list"},
	{key: "recording", prop: "disableRecordingDefault", kind: "bool", conv: func(v any) string { return strconv.FormatBool(!v.(bool)) }},
	{key: "guest_policy", prop: "defaultGuestPolicy", kind: "enum", enum: []string{"ALWAYS_ACCEPT", "ALWAYS_DENY", "ASK_MODERATOR"}},
	{key: "default_layout", prop: "defaultMeetingLayout", kind: "enum"}, // the line's Layouts
	{key: "max_upload_mb", prop: "maxFileSizeUpload", kind: "int", conv: func(v any) string { return strconv.Itoa(v.(int) * 1024 * 1024) }},
	{key: "logo_url", prop: "defaultLogoURL", kind: "string"},
}

// html5Keys map settings.bbb keys to paths in bbb-html5.yml.
var html5Keys = map[string][]string{
	"client_title":    {"public", "app", "clientTitle"},
	"app_name":        {"public", "app", "appName"},
	"camera_profiles": {"public", "kurento", "cameraProfiles"},
}

// rawKeys pass through as they are: escape hatches for knobs omc has no
// name for. properties: extra bbb-web properties; html5 and sfu: YAML
// merged into bbb-html5.yml and bbb-webrtc-sfu's production.yml.
var rawKeys = []string{"properties", "html5", "sfu"}

// tune is what settings.bbb turns into, per override file.
type tune struct {
	web   []templates.KV
	html5 map[string]any
	sfu   map[string]any
}

// parseTune reads settings.bbb; layouts are the line's values for
// default_layout (nil: any line's).
func parseTune(node string, m map[string]any, layouts []string) (tune, error) {
	if layouts == nil {
		for _, l := range Lines {
			layouts = appendNew(layouts, l.Layouts...)
		}
	}
	var t tune
	var errs []string
	bad := func(k, f string, a ...any) {
		errs = append(errs, fmt.Sprintf("node %s: settings.bbb.%s: %s", node, k, fmt.Sprintf(f, a...)))
	}
	known := map[string]bool{}
	for _, w := range webKeys {
		known[w.key] = true
		v, ok := m[w.key]
		if !ok || v == nil {
			continue
		}
		if w.key == "default_layout" {
			w.enum = layouts
		}
		val, err := webValue(w, v)
		if err != nil {
			bad(w.key, "%v", err)
			continue
		}
		t.web = append(t.web, templates.KV{Key: w.prop, Value: val})
		if w.key == "logo_url" {
			t.web = append(t.web, templates.KV{Key: "useDefaultLogo", Value: "true"})
		}
	}
	t.html5 = map[string]any{}
	for _, k := range sortedKeys(html5Keys) {
		known[k] = true
		if v, ok := m[k]; ok && v != nil {
			if k == "camera_profiles" {
				if _, isList := v.([]any); !isList {
					bad(k, "expected a list of camera profiles (id, name, bitrate, default)")
					continue
				}
			}
			setPath(t.html5, html5Keys[k], v)
		}
	}
	for _, k := range rawKeys {
		known[k] = true
	}
	if p, ok := m["properties"].(map[string]any); ok {
		for _, k := range sortedKeys(p) {
			switch v := p[k].(type) {
			case string, int, float64, bool:
				t.web = append(t.web, templates.KV{Key: k, Value: fmt.Sprint(v)})
			default:
				bad("properties."+k, "expected a scalar value, got %T", v)
			}
		}
	} else if m["properties"] != nil {
		bad("properties", "expected a mapping of bbb-web property names to values")
	}
	for _, k := range []string{"html5", "sfu"} {
		raw, ok := m[k].(map[string]any)
		if !ok {
			if m[k] != nil {
				bad(k, "expected a mapping (YAML merged into the override file)")
			}
			continue
		}
		if k == "html5" {
			merge(t.html5, raw)
		} else {
			t.sfu = map[string]any{}
			merge(t.sfu, raw)
		}
	}
	for _, k := range sortedKeys(m) {
		if !known[k] {
			bad(k, "unknown key (see the provision/roles package doc; use bbb.properties, bbb.html5 or bbb.sfu for others)")
		}
	}
	if len(errs) > 0 {
		return t, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return t, nil
}

func webValue(w webKey, v any) (string, error) {
	switch w.kind {
	case "int":
		i, ok := v.(int)
		if !ok || i < 0 {
			return "", fmt.Errorf("expected a whole number ≥ 0, got %v", v)
		}
	case "bool":
		if _, ok := v.(bool); !ok {
			return "", fmt.Errorf("expected true or false, got %v", v)
		}
	case "string":
		if _, ok := v.(string); !ok {
			return "", fmt.Errorf("expected text, got %T", v)
		}
	case "enum":
		s, _ := v.(string)
		if !contains(w.enum, s) {
			return "", fmt.Errorf("expected one of %s, got %v", strings.Join(w.enum, ", "), v)
		}
	case "list":
		l, ok := v.([]any)
		if !ok {
			return "", fmt.Errorf("expected a list, got %T", v)
		}
		parts := make([]string, len(l))
		for i, e := range l {
			s, ok := e.(string)
			if !ok || strings.ContainsAny(s, ", ") {
				return "", fmt.Errorf("item %d: expected a single word, got %v", i, e)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	}
	if w.conv != nil {
		return w.conv(v), nil
	}
	return fmt.Sprint(v), nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// setPath sets m[p0][p1]...= v, making the maps on the way.
func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

// merge deep-merges src into dst (mappings merge, anything else replaces),
// as BBB merges its override files.
func merge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				merge(dm, sm)
				continue
			}
			cp := map[string]any{}
			merge(cp, sm)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}

// yamlBody marshals an override (keys sorted by yaml.v3), "" when empty.
func yamlBody(m map[string]any) (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	b, err := yaml.Marshal(m)
	return string(b), err
}

// defaultSysctl: UDP buffers for FreeSWITCH and mediasoup, and no TCP
// slow-start after idle for long-lived websocket and TURN/TCP streams.
// All three are per network namespace on current kernels, so they apply
// in containers too. settings.sysctl overrides (null drops a key).
var defaultSysctl = map[string]string{
	"net.core.rmem_max":                  "16777216",
	"net.core.wmem_max":                  "16777216",
	"net.ipv4.tcp_slow_start_after_idle": "0",
}

func sortedSysctl(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
