package bbbapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omc-coop/omc/pool/bbbapi"
)

// answer is an http.RoundTripper that answers every request with status
// and body, where each "ECHO" in the body becomes the request's URL (as
// a proxy's error page or a hostile node might echo it).
type answer struct {
	status int
	body   []byte
	last   *http.Request
}

func (a *answer) RoundTrip(r *http.Request) (*http.Response, error) {
	a.last = r
	body := bytes.ReplaceAll(a.body, []byte("ECHO"), []byte(r.URL.String()))
	return &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {"text/xml"}},
		Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
}

// FuzzAnswers feeds any answer to the calls omc makes. Whatever comes
// back, the client must not panic, and an error must not carry the
// checksum of the signed call even when the answer echoes the request.
// Seeds: every fixture under testdata/upstream/bbb, and echoing pages.
func FuzzAnswers(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "*.xml"))
	if len(files) == 0 {
		f.Fatal("no fixtures")
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(200, b)
	}
	f.Add(502, []byte("<html><body>Bad gateway for ECHO</body></html>"))
	f.Add(200, []byte("<response><returncode>FAILED</returncode><messageKey>x</messageKey><message>ECHO</message></response>"))
	f.Add(200, []byte("<response><returncode>SUCCESS</returncode><meetings><meeting><participantCount>ECHO</participantCount></meeting></meetings></response>"))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			status = 200
		}
		a := &answer{status: status, body: body}
		c := &bbbapi.Client{URL: "https://bbb.example.org/bigbluebutton/api", Secret: "fuzz-secret-0123456789", HTTP: &http.Client{Transport: a}}
		ctx := context.Background()
		check := func(err error) {
			t.Helper()
			if err == nil || a.last == nil {
				return
			}
			if sum := a.last.URL.Query().Get("checksum"); sum != "" && strings.Contains(err.Error(), sum) {
				t.Fatalf("the error carries the checksum %s: %v", sum, err)
			}
		}
		_, err := c.Root(ctx)
		check(err)
		_, err = c.Meetings(ctx)
		check(err)
		_, err = c.IsMeetingRunning(ctx, "m-1")
		check(err)
		check(c.End(ctx, "m-1", "mp-1"))
	})
}
