package bbbapi_test

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/pool/bbbapi"
	"github.com/omc-coop/omc/pool/fake"
)

// The contract: omc's client reads every fixture of
// testdata/upstream/bbb (what bbb-web answers, written from its source)
// as asserted here, and the FAKE BBB's answer for the same state passes
// the same check and has the fixture's elements, so neither can drift
// from upstream unnoticed.

const fixtures = "../../testdata/upstream/bbb"

const secret = "contract-secret"

type contractCase struct {
	fixture string
	call    string // "" for the root
	// state puts the fake node in the fixture's state (nil: no fake
	// counterpart).
	state func(n *fake.Node)
	check func(ctx context.Context, c *bbbapi.Client) error
}

var contractCases = []contractCase{
	{"api-root-3.0-hidden.xml", "", func(n *fake.Node) {}, func(ctx context.Context, c *bbbapi.Client) error {
		v, err := c.Root(ctx)
		if err != nil || v.BBBVersion != "" || v.APIVersion != "2.0" || v.Version != "2.0" {
			return fmt.Errorf("%+v %v", v, err)
		}
		return nil
	}},
	{"api-root-3.0-revealed.xml", "", func(n *fake.Node) { n.RevealVersion(true) }, func(ctx context.Context, c *bbbapi.Client) error {
		v, err := c.Root(ctx)
		if err != nil || v.BBBVersion != "3.0.4" || v.APIVersion != "2.0" {
			return fmt.Errorf("%+v %v", v, err)
		}
		return nil
	}},
	{"api-root-apiurl-hidden.xml", "", nil, func(ctx context.Context, c *bbbapi.Client) error {
		v, err := c.Root(ctx)
		if err != nil || v.BBBVersion != "" || v.APIVersion != "2.0" {
			return fmt.Errorf("%+v %v", v, err)
		}
		return nil
	}},
	{"get-meetings-empty.xml", "getMeetings", func(n *fake.Node) {}, func(ctx context.Context, c *bbbapi.Client) error {
		ms, err := c.Meetings(ctx)
		if err != nil || len(ms) != 0 {
			return fmt.Errorf("%+v %v", ms, err)
		}
		return nil
	}},
	{"get-meetings-busy.xml", "getMeetings", func(n *fake.Node) {
		n.CreateMeeting("maths-7b", 3, 1)
		n.SetMetadata("maths-7b", map[string]string{"tenant-id": "0f0e1d2c-3b4a-4596-8778-695a4b3c2d1e"})
	}, func(ctx context.Context, c *bbbapi.Client) error {
		ms, err := c.Meetings(ctx)
		if err != nil || len(ms) != 1 {
			return fmt.Errorf("%+v %v", ms, err)
		}
		m := ms[0]
		if m.ID != "maths-7b" || m.ParticipantCount != 3 || m.ModeratorCount != 1 || m.Users() != 3 || !m.Running || m.IsBreakout ||
			m.Metadata["tenant-id"] != "0f0e1d2c-3b4a-4596-8778-695a4b3c2d1e" || m.ModeratorPW == "" || m.CreateTime == 0 || m.InternalID == "" {
			return fmt.Errorf("%+v", m)
		}
		return nil
	}},
	{"get-meetings-breakout.xml", "getMeetings", func(n *fake.Node) {
		n.CreateMeeting("maths-7b", 1, 1)
		n.CreateMeeting("room-1", 1, 0)
		n.SetBreakoutOf("room-1", "maths-7b")
	}, func(ctx context.Context, c *bbbapi.Client) error {
		ms, err := c.Meetings(ctx)
		if err != nil || len(ms) != 2 {
			return fmt.Errorf("%+v %v", ms, err)
		}
		var rooms, parents int
		for _, m := range ms {
			if m.IsBreakout {
				rooms++
			} else {
				parents++
			}
		}
		if rooms != 1 || parents != 1 {
			return fmt.Errorf("breakouts %d, parents %d", rooms, parents)
		}
		return nil
	}},
	{"get-recordings.xml", "getRecordings", func(n *fake.Node) {
		n.AddRecording(fake.Recording{RecordID: "ffbfc4cc24428694e8b53a4e144f414052431693-1530718721124", MeetingID: "c637ba21adcd0191f48f5c4bf23fab0f96ed5c18",
			Metadata: map[string]string{"tenant-id": "0f0e1d2c-3b4a-4596-8778-695a4b3c2d1e"}, Size: 123})
	}, func(ctx context.Context, c *bbbapi.Client) error {
		var r struct {
			Recordings []struct {
				RecordID string          `xml:"recordID"`
				State    string          `xml:"state"`
				Metadata bbbapi.Metadata `xml:"metadata"`
				Formats  []struct {
					Type string  `xml:"type"`
					Size *string `xml:"size"`
				} `xml:"playback>format"`
				Size *string `xml:"size"`
			} `xml:"recordings>recording"`
		}
		if err := c.Get(ctx, "getRecordings", nil, &r); err != nil || len(r.Recordings) != 1 {
			return fmt.Errorf("%+v %v", r, err)
		}
		rec := r.Recordings[0]
		if rec.RecordID != "ffbfc4cc24428694e8b53a4e144f414052431693-1530718721124" || rec.State != "published" ||
			rec.Metadata["tenant-id"] == "" || len(rec.Formats) != 1 || rec.Formats[0].Type != "presentation" {
			return fmt.Errorf("%+v", rec)
		}
		if rec.Size != nil || rec.Formats[0].Size != nil {
			return fmt.Errorf("a size where BBB has none: %+v", rec)
		}
		return nil
	}},
	{"get-recordings-empty.xml", "getRecordings", func(n *fake.Node) {}, func(ctx context.Context, c *bbbapi.Client) error {
		var r struct {
			Recordings []struct{} `xml:"recordings>recording"`
		}
		if err := c.Get(ctx, "getRecordings", nil, &r); err != nil || len(r.Recordings) != 0 {
			return fmt.Errorf("%+v %v", r, err)
		}
		return nil
	}},
	{"error-checksum.xml", "getMeetings", func(n *fake.Node) { n.SetSecret("another") }, func(ctx context.Context, c *bbbapi.Client) error {
		_, err := c.Meetings(ctx)
		if !bbbapi.IsChecksumError(err) {
			return fmt.Errorf("not a checksum error: %v", err)
		}
		return nil
	}},
	{"end-not-found.xml", "end", func(n *fake.Node) {}, func(ctx context.Context, c *bbbapi.Client) error {
		err := c.End(ctx, "nope", "")
		var be *bbbapi.Error
		if !errors.As(err, &be) || be.Key != "notFound" {
			return fmt.Errorf("%v", err)
		}
		return nil
	}},
	{"end-sent.xml", "end", func(n *fake.Node) { n.CreateMeeting("nope", 1, 1) }, func(ctx context.Context, c *bbbapi.Client) error {
		return c.End(ctx, "nope", "")
	}},
	{"is-meeting-running.xml", "isMeetingRunning", func(n *fake.Node) { n.CreateMeeting("nope", 1, 0) }, func(ctx context.Context, c *bbbapi.Client) error {
		run, err := c.IsMeetingRunning(ctx, "nope")
		if err != nil || !run {
			return fmt.Errorf("%v %v", run, err)
		}
		return nil
	}},
}

// serveFixture answers every call under /bigbluebutton/api with the
// fixture, with HTTP 200, as bbb-web does for errors too.
func serveFixture(t *testing.T, name string) string {
	body, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml;charset=utf-8")
		w.Write(body)
	}))
	t.Cleanup(ts.Close)
	return ts.URL + "/bigbluebutton/api"
}

func TestEveryFixtureHasAContract(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "*.xml"))
	known := map[string]bool{}
	for _, c := range contractCases {
		known[c.fixture] = true
	}
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !strings.HasPrefix(string(b), "<!-- Written from bigbluebutton/bigbluebutton") {
			t.Errorf("%s: not headed by the comment naming its upstream source", f)
		}
		if !known[filepath.Base(f)] {
			t.Errorf("%s has no contract case", f)
		}
	}
}

func TestClientReadsUpstreamFixtures(t *testing.T) {
	for _, cc := range contractCases {
		t.Run(cc.fixture, func(t *testing.T) {
			c := &bbbapi.Client{URL: serveFixture(t, cc.fixture), Secret: secret}
			if err := cc.check(context.Background(), c); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFakeBBBMatchesUpstreamFixtures(t *testing.T) {
	for _, cc := range contractCases {
		if cc.state == nil {
			continue
		}
		t.Run(cc.fixture, func(t *testing.T) {
			b := fake.NewBBB(t)
			n := b.AddNode("bbb1", secret, "3.0.4")
			cc.state(n)
			raw := fakeAnswer(t, n, cc.call)
			want, err := os.ReadFile(filepath.Join(fixtures, cc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := shape(t, raw), shape(t, want); got != want {
				t.Errorf("the fake's elements differ from upstream's\nfake:\n%s\nupstream:\n%s\nfake's answer: %s", got, want, raw)
			}
			n.SetSecret(secret)
			if err := cc.check(context.Background(), &bbbapi.Client{URL: n.URL, Secret: secret}); err != nil && !strings.Contains(cc.fixture, "error-checksum") {
				t.Fatal(err)
			}
		})
	}
}

// fakeAnswer is the fake's raw answer to a call, signed with secret
// (the query is the one the check sends).
func fakeAnswer(t *testing.T, n *fake.Node, call string) []byte {
	t.Helper()
	u := n.URL
	if call != "" {
		q := ""
		switch call {
		case "end", "isMeetingRunning":
			q = "meetingID=nope"
		}
		sum := bbbapi.Checksum(bbbapi.SHA256, call, q, secret)
		if q != "" {
			q += "&"
		}
		u += "/" + call + "?" + q + "checksum=" + sum
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// shape is the set of element paths of an answer, each once, sorted;
// the children of metadata (keys chosen by whoever created the meeting)
// are left out.
func shape(t *testing.T, b []byte) string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(b)))
	var stack []string
	seen := map[string]bool{}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, b)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			stack = append(stack, e.Name.Local)
			if len(stack) >= 2 && stack[len(stack)-2] == "metadata" {
				continue
			}
			seen[strings.Join(stack, "/")] = true
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	paths := make([]string, 0, len(seen))
	for p := range seen {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return strings.Join(paths, "\n")
}
