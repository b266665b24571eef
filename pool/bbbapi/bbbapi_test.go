package bbbapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/omc-coop/omc/pool/bbbapi"
	"github.com/omc-coop/omc/pool/fake"
)

func TestChecksumKnownValue(t *testing.T) {
	// BBB's docs: create with name=Test+Meeting&meetingID=abc123 and
	// secret 639259d4-9dd8-4b25-bf01-95f9567eaf4b, SHA-1.
	got := bbbapi.Checksum(bbbapi.SHA1, "create", "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444", "639259d4-9dd8-4b25-bf01-95f9567eaf4b")
	if got != "1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17" {
		t.Fatalf("got %s", got)
	}
	for algo, n := range map[string]int{bbbapi.SHA1: 40, bbbapi.SHA256: 64, bbbapi.SHA384: 96, bbbapi.SHA512: 128} {
		if s := bbbapi.Checksum(algo, "x", "", "y"); len(s) != n || bbbapi.AlgorithmOf(s) != algo {
			t.Errorf("%s: %s", algo, s)
		}
	}
}

func TestClientAgainstFakeBBB(t *testing.T) {
	ctx := context.Background()
	b := fake.NewBBB(t)
	n := b.AddNode("bbb1", "s3cret", "3.0.4")
	c := &bbbapi.Client{URL: n.URL, Secret: "s3cret"}
	// BBB's default hides the version; omc's nodes reveal it.
	if v, err := c.Root(ctx); err != nil || v.BBBVersion != "" || v.APIVersion != "2.0" {
		t.Fatalf("root, hidden: %+v %v", v, err)
	}
	n.RevealVersion(true)
	if v, err := c.Root(ctx); err != nil || v.BBBVersion != "3.0.4" {
		t.Fatalf("root, revealed: %+v %v", v, err)
	}
	ms, err := c.Meetings(ctx)
	if err != nil || len(ms) != 0 {
		t.Fatalf("no meetings: %v %v", ms, err)
	}
	// Five people, one of them the moderator: participantCount is 5.
	n.CreateMeeting("m1", 5, 1)
	ms, _ = c.Meetings(ctx)
	if len(ms) != 1 || ms[0].Users() != 5 || ms[0].ModeratorCount != 1 || ms[0].ID != "m1" {
		t.Fatalf("meetings: %+v", ms)
	}
	if run, err := c.IsMeetingRunning(ctx, "m1"); err != nil || !run {
		t.Fatalf("running: %v %v", run, err)
	}
	if err := c.End(ctx, "m1", ms[0].ModeratorPW); err != nil {
		t.Fatal(err)
	}
	// BBB's end only asks: the meeting is listed once more, then gone.
	if run, _ := c.IsMeetingRunning(ctx, "m1"); !run {
		t.Fatal("ended at once; BBB ends asynchronously")
	}
	if run, _ := c.IsMeetingRunning(ctx, "m1"); run {
		t.Fatal("still running")
	}
	for _, algo := range []string{bbbapi.SHA1, bbbapi.SHA384, bbbapi.SHA512} {
		if _, err := (&bbbapi.Client{URL: n.URL, Secret: "s3cret", Algorithm: algo}).Meetings(ctx); err != nil {
			t.Errorf("%s: %v", algo, err)
		}
	}
	_, err = (&bbbapi.Client{URL: n.URL, Secret: "wrong"}).Meetings(ctx)
	if !bbbapi.IsChecksumError(err) {
		t.Fatalf("wrong secret: %v", err)
	}
	n.SetDown(true)
	if _, err := c.Root(ctx); err == nil {
		t.Fatal("down node answered")
	}
}

// A node that accepts only some algorithms (supportedChecksumAlgorithms)
// refuses the others with checksumError; the error then names the
// algorithm and the setting, not only the secret.
func TestChecksumAlgorithmRefused(t *testing.T) {
	ctx := context.Background()
	n := fake.NewBBB(t).AddNode("bbb1", "s3cret", "3.0.4")
	n.SetChecksumAlgorithms(bbbapi.SHA512)
	_, err := (&bbbapi.Client{URL: n.URL, Secret: "s3cret"}).Meetings(ctx)
	if !bbbapi.IsChecksumError(err) {
		t.Fatalf("sha256 on a sha512-only node: %v", err)
	}
	for _, want := range []string{"secret", "sha256", "supportedChecksumAlgorithms"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q: %v", want, err)
		}
	}
	if _, err := (&bbbapi.Client{URL: n.URL, Secret: "s3cret", Algorithm: bbbapi.SHA512}).Meetings(ctx); err != nil {
		t.Fatalf("sha512: %v", err)
	}
	_, err = (&bbbapi.Client{URL: n.URL, Secret: "s3cret", Algorithm: "md5"}).Meetings(ctx)
	if err == nil || !strings.Contains(err.Error(), `"md5"`) || n.Calls("getMeetings") != 2 {
		t.Fatalf("md5 must be refused before sending: %v (%d calls)", err, n.Calls("getMeetings"))
	}
}

// No error of a signed call shows its checksum or its query: they would
// let anyone who sees the message replay the call.
func TestSignedCallErrorsShowNoChecksumOrQuery(t *testing.T) {
	ctx := context.Background()
	const sec = "never-shown-secret"
	var lastQuery string
	answer := func(status int, body string) string {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			lastQuery = r.URL.RawQuery
			w.WriteHeader(status)
			io.WriteString(w, strings.ReplaceAll(body, "URI", r.URL.RequestURI()))
		}))
		t.Cleanup(ts.Close)
		return ts.URL + "/bigbluebutton/api"
	}
	refused := httptest.NewServer(http.NotFoundHandler())
	refusedURL := refused.URL + "/bigbluebutton/api"
	refused.Close()
	cases := map[string]string{
		"HTTP 500 echoing the request": answer(500, "<html>Internal error serving URI</html>"),
		"bad XML":                      answer(200, "<response><returncode>SUCC"),
		"checksumError":                answer(200, "<response><returncode>FAILED</returncode><messageKey>checksumError</messageKey><message>Checksums do not match</message></response>"),
		"connection refused":           refusedURL,
	}
	for name, u := range cases {
		lastQuery = ""
		c := &bbbapi.Client{URL: u, Secret: sec}
		for _, call := range []func() error{
			func() error { _, err := c.Meetings(ctx); return err },
			func() error { return c.End(ctx, "room-42", "mp-secret") },
		} {
			err := call()
			if err == nil {
				t.Fatalf("%s: no error", name)
			}
			msg := err.Error()
			sum := ""
			if q, err := url.ParseQuery(lastQuery); err == nil {
				sum = q.Get("checksum")
			}
			if strings.Contains(msg, "?") || strings.Contains(msg, "checksum=") || (sum != "" && strings.Contains(msg, sum)) ||
				strings.Contains(msg, sec) || strings.Contains(msg, "mp-secret") {
				t.Errorf("%s: %s", name, msg)
			}
			if !strings.Contains(msg, "bigbluebutton/api") {
				t.Errorf("%s: does not name the API: %s", name, msg)
			}
		}
	}
}

func TestNotBBB(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>welcome to nginx</html>")) }))
	defer ts.Close()
	_, err := (&bbbapi.Client{URL: ts.URL + "/bigbluebutton/api"}).Root(context.Background())
	if err == nil {
		t.Fatal("nginx page taken for BBB")
	}
}
