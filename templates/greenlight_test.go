package templates

import (
	"encoding/xml"
	"testing"
)

// The greenlight role's samples join the shared table, so TestGolden
// pins them like every other template.
func init() {
	samples[GreenlightCompose] = Greenlight{Image: "bigbluebutton/greenlight:v3", Port: 5050}
	samples[GreenlightDotEnv] = GreenlightEnv{Endpoint: "https://bbb-1.example.org/bigbluebutton/", Secret: fakeSecret,
		SecretKeyBase: fakeSecret + "-key-base", PostgresPassword: fakeSecret + "-pg"}
	samples[GreenlightUnit] = Greenlight{Dir: "/opt/greenlight-v3"}
	samples[GreenlightNginx] = Greenlight{Port: 5050}
}

// ImageMagick reads its policy as XML: a malformed file would leave a
// 4.x node converting presentations with ImageMagick's defaults.
func TestImageMagickPolicyIsWellFormed(t *testing.T) {
	b, err := Render(ImageMagickPolicy, nil)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Policies []struct {
			Domain  string `xml:"domain,attr"`
			Rights  string `xml:"rights,attr"`
			Pattern string `xml:"pattern,attr"`
		} `xml:"policy"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("policy.xml is not well-formed: %v", err)
	}
	want := map[string]string{"delegate *": "none", "path /var/bigbluebutton/*": "read|write", "module *": "none",
		"module {BMP,GIF,JPEG,PDF,PNG,TIFF,WEBP}": "read|write", "path @*": "none"}
	for _, p := range doc.Policies {
		if r, ok := want[p.Domain+" "+p.Pattern]; ok && r == p.Rights {
			delete(want, p.Domain+" "+p.Pattern)
		}
	}
	if len(want) > 0 {
		t.Errorf("policy lacks %v", want)
	}
}
