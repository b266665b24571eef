package roles

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/templates"
)

// webKey maps a settings.bbb key to a bigbluebutton.properties key.
type webKey struct {
	key, prop string
	// get is the property's value, false when the setting is not set.
	get func(t *inventory.BBBTuning) (string, bool)
}

func intProp(p *int, scale int) (string, bool) {
	if p == nil {
		return "", false
	}
	return strconv.Itoa(*p * scale), true
}

func boolProp(p *bool, invert bool) (string, bool) {
	if p == nil {
		return "", false
	}
	return strconv.FormatBool(*p != invert), true
}

func strProp(p *string) (string, bool) {
	if p == nil {
		return "", false
	}
	return *p, true
}

// webKeys: the bbb-web.properties knobs users tune today (ebbba's
// vars/main.yml, the BBB docs), under names that say what they do. The
// inventory checks their types and ranges (inventory.BBBTuning).
var webKeys = []webKey{
	{"max_participants", "defaultMaxUsers", func(t *inventory.BBBTuning) (string, bool) { return intProp(t.MaxParticipants, 1) }},
	{"meeting_duration", "defaultMeetingDuration", func(t *inventory.BBBTuning) (string, bool) { return intProp(t.MeetingDuration, 1) }},
	{"welcome", "defaultWelcomeMessage", func(t *inventory.BBBTuning) (string, bool) { return strProp(t.Welcome) }},
	{"welcome_footer", "defaultWelcomeMessageFooter", func(t *inventory.BBBTuning) (string, bool) { return strProp(t.WelcomeFooter) }},
	{"mute_on_start", "muteOnStart", func(t *inventory.BBBTuning) (string, bool) { return boolProp(t.MuteOnStart, false) }},
	{"webcams_only_for_moderator", "webcamsOnlyForModerator", func(t *inventory.BBBTuning) (string, bool) { return boolProp(t.WebcamsOnlyForModerator, false) }},
	{"user_camera_cap", "userCameraCap", func(t *inventory.BBBTuning) (string, bool) { return intProp(t.UserCameraCap, 1) }},
	{"meeting_camera_cap", "meetingCameraCap", func(t *inventory.BBBTuning) (string, bool) { return intProp(t.MeetingCameraCap, 1) }},
	{"max_pinned_cameras", "maxPinnedCameras", func(t *inventory.BBBTuning) (string, bool) { return intProp(t.MaxPinnedCameras, 1) }},
	{"disabled_features", "disabledFeatures", func(t *inventory.BBBTuning) (string, bool) {
		return strings.Join(t.DisabledFeatures, ","), t.DisabledFeatures != nil
	}},
	{"recording", "disableRecordingDefault", func(t *inventory.BBBTuning) (string, bool) { return boolProp(t.Recording, true) }},
	{"guest_policy", "defaultGuestPolicy", func(t *inventory.BBBTuning) (string, bool) { return strProp(t.GuestPolicy) }},
	{"default_layout", "defaultMeetingLayout", func(t *inventory.BBBTuning) (string, bool) { return strProp(t.DefaultLayout) }}, // the line's Layouts
	{"max_upload_mb", "maxFileSizeUpload", func(t *inventory.BBBTuning) (string, bool) { return intProp(t.MaxUploadMB, 1024*1024) }},
	{"logo_url", "defaultLogoURL", func(t *inventory.BBBTuning) (string, bool) { return strProp(t.LogoURL) }},
}

// tune is what settings.bbb turns into, per override file.
type tune struct {
	web   []templates.KV
	html5 map[string]any
	sfu   map[string]any
}

// parseTune turns settings.bbb into override files' entries; layouts are
// the line's values for default_layout (nil: any line's), the one check
// that needs the node's line.
func parseTune(node string, bt *inventory.BBBTuning, layouts []string) (tune, error) {
	if layouts == nil {
		for _, l := range Lines {
			layouts = appendNew(layouts, l.Layouts...)
		}
	}
	t := tune{html5: map[string]any{}}
	if bt == nil {
		return t, nil
	}
	if bt.DefaultLayout != nil && !contains(layouts, *bt.DefaultLayout) {
		return t, fmt.Errorf("node %s: settings.bbb.default_layout: expected one of %s, got %s", node, strings.Join(layouts, ", "), *bt.DefaultLayout)
	}
	for _, w := range webKeys {
		if v, ok := w.get(bt); ok {
			t.web = append(t.web, templates.KV{Key: w.prop, Value: v})
			if w.key == "logo_url" {
				t.web = append(t.web, templates.KV{Key: "useDefaultLogo", Value: "true"})
			}
		}
	}
	// In the order of the keys' names, as the settings map was read.
	if bt.AppName != nil {
		setPath(t.html5, []string{"public", "app", "appName"}, *bt.AppName)
	}
	if bt.CameraProfiles != nil {
		setPath(t.html5, []string{"public", "kurento", "cameraProfiles"}, bt.CameraProfiles)
	}
	if bt.ClientTitle != nil {
		setPath(t.html5, []string{"public", "app", "clientTitle"}, *bt.ClientTitle)
	}
	for _, k := range slices.Sorted(maps.Keys(bt.Properties)) {
		t.web = append(t.web, templates.KV{Key: k, Value: string(bt.Properties[k])})
	}
	if bt.HTML5 != nil {
		merge(t.html5, bt.HTML5)
	}
	if bt.SFU != nil {
		t.sfu = map[string]any{}
		merge(t.sfu, bt.SFU)
	}
	return t, nil
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
