package redact

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"text/template"
)

func TestStringMasksEverySecret(t *testing.T) {
	r := New("hunter22", "", "  ", "hunter22-long")
	got := r.String("a=hunter22 b=hunter22-long c=hunter2")
	if strings.Contains(got, "hunter22") {
		t.Fatalf("secret left in %q", got)
	}
	if want := "a=*** b=*** c=hunter2"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestWriterCatchesSecretSplitAcrossWrites(t *testing.T) {
	var out bytes.Buffer
	w := New("s3cr3t-value").Writer(&out)
	for _, chunk := range []string{"token s3c", "r3t-val", "ue here\nnext ", "s3cr3t-value"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "token *** here\nnext ***"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestNilRedactorPassesThrough(t *testing.T) {
	var r *Redactor
	if got := r.String("x"); got != "x" {
		t.Fatalf("got %q", got)
	}
}

// A secret a template writes escaped (html, js, urlquery, XML, JSON, a
// Java property) is masked in that form too.
func TestStringMasksEveryEncoding(t *testing.T) {
	secret := `a&b<c>"d'e f/g\h+=`
	r := New(secret)
	forms := map[string]string{
		"html":     template.HTMLEscapeString(secret),
		"js":       template.JSEscapeString(secret),
		"urlquery": template.URLQueryEscaper(secret),
		"path":     url.PathEscape(secret),
		"xml":      `a&amp;b&lt;c&gt;&quot;d&apos;e f/g\h+=`,
		"prop":     `a&b<c>"d'e f/g\\h+=`,
		"json":     `a\u0026b\u003cc\u003e\"d'e f/g\\h+=`,
	}
	for name, f := range forms {
		if f == secret {
			t.Fatalf("%s: test secret does not change under this encoding", name)
		}
		if got := r.String("x=" + f + ";"); got != "x=***;" {
			t.Errorf("%s form %q: got %q", name, f, got)
		}
	}
	if n := len(Encodings("plainsecret123")); n != 1 {
		t.Errorf("a secret without special characters has %d forms, want 1", n)
	}
}

// A quoted URL of a signed call (an *url.Error from net/http quotes it
// whole) keeps everything but its checksum.
func TestStringMasksChecksums(t *testing.T) {
	sum := strings.Repeat("ab12", 16)
	got := New().String(`Get "http://h/bigbluebutton/api/getRecordings?checksum=` + sum + `": EOF; CHECKSUM=` + strings.Repeat("f", 40) + ` checksum=short`)
	if want := `Get "http://h/bigbluebutton/api/getRecordings?checksum=***": EOF; CHECKSUM=*** checksum=short`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
