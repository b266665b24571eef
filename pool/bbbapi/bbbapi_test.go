package bbbapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
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
	v, err := c.Root(ctx)
	if err != nil || v.BBBVersion != "3.0.4" || v.APIVersion != "2.0" {
		t.Fatalf("root: %+v %v", v, err)
	}
	ms, err := c.Meetings(ctx)
	if err != nil || len(ms) != 0 {
		t.Fatalf("no meetings: %v %v", ms, err)
	}
	n.CreateMeeting("m1", 4, 1)
	ms, _ = c.Meetings(ctx)
	if len(ms) != 1 || ms[0].Users() != 5 || ms[0].ID != "m1" {
		t.Fatalf("meetings: %+v", ms)
	}
	if run, err := c.IsMeetingRunning(ctx, "m1"); err != nil || !run {
		t.Fatalf("running: %v %v", run, err)
	}
	if err := c.End(ctx, "m1", ""); err != nil {
		t.Fatal(err)
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

func TestNotBBB(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>welcome to nginx</html>")) }))
	defer ts.Close()
	_, err := (&bbbapi.Client{URL: ts.URL + "/bigbluebutton/api"}).Root(context.Background())
	if err == nil {
		t.Fatal("nginx page taken for BBB")
	}
}
