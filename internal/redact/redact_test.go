package redact

import (
	"bytes"
	"strings"
	"testing"
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

// A quoted URL of a signed call (an *url.Error from net/http quotes it
// whole) keeps everything but its checksum.
func TestStringMasksChecksums(t *testing.T) {
	sum := strings.Repeat("ab12", 16)
	got := New().String(`Get "http://h/bigbluebutton/api/getRecordings?checksum=` + sum + `": EOF; CHECKSUM=` + strings.Repeat("f", 40) + ` checksum=short`)
	if want := `Get "http://h/bigbluebutton/api/getRecordings?checksum=***": EOF; CHECKSUM=*** checksum=short`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
