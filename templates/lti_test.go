package templates

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The lti role's samples join the shared table, so TestGolden pins them
// like every other template.
func init() {
	lti := LTI{BrokerImage: "bigbluebutton/bbb-lti-broker:release-2.0.2", RoomsImage: "bigbluebutton/bbb-app-rooms:release-1.2.1.3",
		BrokerPort: 3030, RoomsPort: 3131, Dir: "/opt/bbb-lti"}
	samples[LTICompose] = lti
	samples[LTIUnit] = lti
	samples[LTINginx] = lti
	env := LTIEnv{Host: "bbb-1.example.org", Endpoint: "https://bbb-1.example.org/bigbluebutton/", Secret: fakeSecret,
		SecretKeyBase: fakeSecret + "-key-base", PostgresPassword: fakeSecret + "-pg", OAuthKey: fakeSecret + "-uid", OAuthSecret: fakeSecret + "-oauth"}
	samples[LTIDotEnv] = env
	samples[LTIBrokerEnv] = env
	samples[LTIRoomsEnv] = env
	samples[LTIRegister] = ltiRegistrationSample
}

var ltiRegistrationSample = LTIRegistration{App: "rooms", Callback: "https://bbb-1.example.org/apps/rooms/auth/bbbltibroker/callback",
	OAuthKey: fakeSecret + "-uid", OAuthSecret: fakeSecret + "-oauth", Key: "school-moodle", Secret: fakeSecret + " it's $(odd)",
	LaunchURL: "https://bbb-1.example.org/lti/rooms/messages/blti"}

// The registration sources its file: every value must come back from sh
// exactly as written, whatever a referenced secret holds.
func TestLTIRegistrationFileIsShellSafe(t *testing.T) {
	b, err := Render(LTIRegister, ltiRegistrationSample)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "registration.env")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", `. "$1" && printf '%s\n' "$LTI_SECRET" "$CALLBACK" "$LTI_KEY"`, "sh", p).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := ltiRegistrationSample.Secret + "\n" + ltiRegistrationSample.Callback + "\n" + ltiRegistrationSample.Key + "\n"
	if string(out) != want {
		t.Fatalf("sourced values:\n%s\nwant:\n%s", out, want)
	}
	if strings.Contains(string(b), "$(odd)\n") {
		t.Errorf("the secret is not quoted:\n%s", b)
	}
}
