package scalelite

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omc-coop/omc/pool"
)

// fuzzAnswer answers every request with one status, content type and
// body; "ECHO" in the body becomes the request's URL, checksum included,
// as a proxy's error page might echo it.
type fuzzAnswer struct {
	status      int
	ctype, body string
	sums        []string // the checksums of the calls made
}

func (a *fuzzAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	if s := r.URL.Query().Get("checksum"); s != "" {
		a.sums = append(a.sums, s)
	}
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	body := strings.ReplaceAll(a.body, "ECHO", r.URL.String())
	return &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {a.ctype}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// FuzzAPIAnswers feeds any answer to every call of the management API
// client. It must not panic, and no error may carry a call's checksum,
// even when the answer echoes the request. Seeds: every file under
// testdata/upstream/scalelite/api, and echoing pages.
func FuzzAPIAnswers(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "api", "*"))
	if len(files) == 0 {
		f.Fatal("no fixtures")
	}
	for _, p := range files {
		a := loadAPI(f, filepath.Base(p))
		f.Add(a.status, a.ctype, a.body)
	}
	f.Add(502, "text/html", "<html>Bad gateway: ECHO</html>")
	f.Add(200, "application/xml", "<response><returncode>FAILED</returncode><messageKey>ECHO</messageKey><message>ECHO</message></response>")
	f.Add(400, "application/json", `{"error":"ECHO"}`)
	f.Fuzz(func(t *testing.T, status int, ctype, body string) {
		if status < 100 || status > 999 {
			status = 200
		}
		a := &fuzzAnswer{status: status, ctype: ctype, body: body}
		c := &Client{URL: "https://sl.example.org", Secret: "fuzz-lb-secret-0123456789", HTTP: &http.Client{Transport: a}}
		ctx := context.Background()
		var errs []error
		_, err := c.List(ctx)
		errs = append(errs, err)
		_, err = c.Get(ctx, "aaaaaaaa-1111-4111-8111-000000000001")
		errs = append(errs, err)
		_, err = c.Add(ctx, pool.ServerSpec{URL: "https://bbb1.example.org/bigbluebutton/api", Secret: "node-secret", LoadMultiplier: 1.5, Tag: "eu"})
		errs = append(errs, err)
		_, err = c.Update(ctx, "aaaaaaaa-1111-4111-8111-000000000001", pool.ServerUpdate{State: pool.Cordon})
		errs = append(errs, err)
		errs = append(errs, c.Delete(ctx, "aaaaaaaa-1111-4111-8111-000000000001"), c.Panic(ctx, "aaaaaaaa-1111-4111-8111-000000000001", true))
		_, err = c.Tenants(ctx)
		errs = append(errs, err)
		_, err = c.AddTenant(ctx, "school", []string{"s1", "s2"})
		errs = append(errs, err)
		errs = append(errs, c.DeleteTenant(ctx, "dddddddd-4444-4444-8444-000000000004"))
		for _, err := range errs {
			if err == nil {
				continue
			}
			for _, sum := range a.sums {
				if strings.Contains(err.Error(), sum) {
					t.Fatalf("the error carries a checksum: %v", err)
				}
			}
		}
	})
}

// fuzzRunner answers every rake task with the same output.
type fuzzRunner struct {
	stdout, stderr []byte
	exit           int
}

func (r fuzzRunner) Run(context.Context, []string) ([]byte, []byte, int, error) {
	return r.stdout, r.stderr, r.exit, nil
}

// FuzzRakeOutput feeds any output of a rake task to the rake client's
// readers. It must not panic, and every server or tenant it reports must
// come from an "id: " line of the output. Seeds: every run under
// testdata/upstream/scalelite/rake, of every version.
func FuzzRakeOutput(f *testing.F) {
	for _, v := range rakeVersions(f) {
		files, _ := filepath.Glob(filepath.Join(fixtures, "rake", v, "*.txt"))
		for _, p := range files {
			r, _ := loadRake(f, v, filepath.Base(p))
			f.Add([]byte(r.stdout), []byte(r.stderr), r.exit)
		}
	}
	f.Fuzz(func(t *testing.T, stdout, stderr []byte, exit int) {
		r := &Rake{Runner: fuzzRunner{stdout, stderr, exit}}
		ctx := context.Background()
		ids := func(what string, got []string) {
			for _, id := range got {
				if !bytes.Contains(stdout, []byte("id: ")) || !strings.Contains(plain(string(stdout)), id) {
					t.Fatalf("%s reports id %q, which the output does not hold", what, id)
				}
			}
		}
		if l, err := r.List(ctx); err == nil {
			var got []string
			for _, s := range l {
				got = append(got, s.ID)
			}
			ids("List", got)
		}
		if l, err := r.Tenants(ctx); err == nil {
			var got []string
			for _, tn := range l {
				got = append(got, tn.ID)
			}
			ids("Tenants", got)
		}
		r.Get(ctx, "aaaaaaaa-1111-4111-8111-000000000001")
		// Writes list the tasks first (rake -T): the same output answers.
		r.Add(ctx, pool.ServerSpec{URL: "https://bbb1.example.org/bigbluebutton/api", Secret: "node-secret", LoadMultiplier: 1, Tag: "eu"})
		r.Update(ctx, "aaaaaaaa-1111-4111-8111-000000000001", pool.ServerUpdate{State: pool.Enable})
		r.DeleteTenant(ctx, "dddddddd-4444-4444-8444-000000000004")
	})
}
