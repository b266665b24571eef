// Package fake holds FAKES for tests, following the published APIs:
//
//   - BBB is a FAKE of BigBlueButton's API (the real one needs an Ubuntu
//     VM with the whole BBB stack). It serves many nodes from one
//     httptest server, each under /NAME/bigbluebutton/api, checks
//     checksums like BBB, holds scripted meetings (with their metadata,
//     e.g. Scalelite's tenant-id, and breakout flag) and recordings
//     (getRecordings), and reports a bbbVersion.
//   - Scalelite is a FAKE of Scalelite's JSON management API (the real
//     one needs Redis and Rails). It copies the quirks omc must cope
//     with: XML errors with HTTP 200, 404 for an empty server list, new
//     servers disabled, duplicate adds making duplicates, keep_state read
//     at the top level, and a poller you step that asks each server's BBB
//     API for getMeetings and computes online and load as Scalelite does,
//     turning a cordoned server disabled once its load is 0.
//   - Scalelite also serves getRecordings of the BBB API under
//     /bigbluebutton/api (its recording importer's store) in Scalelite's
//     shape (get_recordings.xml.builder: no size), checking checksums as
//     Scalelite's api_helper.rb does: SHA1, SHA256 or SHA512 by length;
//     with multitenancy against the secrets of the tenant named by the
//     first label of the request's host (none: checksumError), listing
//     that tenant's recordings only; without it against the load-balancer
//     secret.
//   - Scalelite.Rake is a FAKE of Scalelite's rake tasks (servers,
//     tenants) on the same state, for api: rake: in process
//     (RakeRunner), or over a real sshd through an executable docker
//     stand-in (StandInDocker, RakeStandIn).
//
// Both listen on 127.0.0.1 only. Neither is a reimplementation: they
// hold only what omc's clients and tests use.
package fake

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omc-coop/omc/pool/bbbapi"
)

// BBB is a FAKE of BigBlueButton's API serving many nodes.
type BBB struct {
	Server *httptest.Server
	// Now is the fake's clock for meeting create times (default time.Now).
	Now func() time.Time

	mu    sync.Mutex
	nodes map[string]*Node
}

// Node is one fake BBB server.
type Node struct {
	Name string
	// URL is the node's API base, as registered in Scalelite.
	URL string

	b        *BBB
	secret   string
	version  string
	down     bool
	meetings map[string]*bbbapi.Meeting
	calls    map[string]int
	// recordings held on the node, by record ID (getRecordings).
	recordings map[string]*Recording
}

// Recording is a recording the node holds, as getRecordings lists it:
// the fields omc reads (IDs, metadata with Scalelite's tenant-id, size in
// bytes); the XML carries them in BBB's element names.
type Recording struct {
	XMLName   xml.Name        `xml:"recording"`
	RecordID  string          `xml:"recordID"`
	MeetingID string          `xml:"meetingID"`
	State     string          `xml:"state"`
	Metadata  bbbapi.Metadata `xml:"metadata"`
	Size      int64           `xml:"size"`
}

// NewBBB starts a fake BBB on 127.0.0.1, stopped when the test ends.
func NewBBB(t testing.TB) *BBB {
	b := &BBB{Now: time.Now, nodes: map[string]*Node{}}
	b.Server = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.Server.Close)
	return b
}

// AddNode adds a node answering under /name/bigbluebutton/api with this
// secret and bbbVersion.
func (b *BBB) AddNode(name, secret, version string) *Node {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := &Node{Name: name, URL: b.Server.URL + "/" + name + "/bigbluebutton/api", b: b, secret: secret, version: version,
		meetings: map[string]*bbbapi.Meeting{}, calls: map[string]int{}}
	b.nodes[name] = n
	return n
}

// Node returns the named node, or nil.
func (b *BBB) Node(name string) *Node {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nodes[name]
}

// RemoveNode makes the node vanish (its machine was deleted): every call
// gets 404 from then on.
func (b *BBB) RemoveNode(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.nodes, name)
}

// SetSecret changes the secret the node checks checksums with.
func (n *Node) SetSecret(s string) { n.b.mu.Lock(); n.secret = s; n.b.mu.Unlock() }

// SetVersion changes the bbbVersion the root reports (an upgrade).
func (n *Node) SetVersion(v string) { n.b.mu.Lock(); n.version = v; n.b.mu.Unlock() }

// Version is the bbbVersion the root reports.
func (n *Node) Version() string { n.b.mu.Lock(); defer n.b.mu.Unlock(); return n.version }

// SetDown makes every call fail with HTTP 503 (BBB stopped), or answer again.
func (n *Node) SetDown(down bool) { n.b.mu.Lock(); n.down = down; n.b.mu.Unlock() }

// CreateMeeting starts a meeting with people in it, created now.
func (n *Node) CreateMeeting(id string, participants, moderators int) {
	n.CreateMeetingAt(id, participants, moderators, n.b.Now())
}

// CreateMeetingAt starts a meeting created at t (Scalelite counts young
// meetings at 15 users at least).
func (n *Node) CreateMeetingAt(id string, participants, moderators int, t time.Time) {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	n.meetings[id] = &bbbapi.Meeting{Name: id, ID: id, InternalID: fmt.Sprintf("%x-%d", id, t.UnixMilli()), CreateTime: t.UnixMilli(),
		Running: true, ParticipantCount: participants, ModeratorCount: moderators}
}

// SetUsers changes how many people a meeting has.
func (n *Node) SetUsers(id string, participants, moderators int) {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	if m := n.meetings[id]; m != nil {
		m.ParticipantCount, m.ModeratorCount = participants, moderators
	}
}

// SetMetadata sets a meeting's metadata, the meta_ parameters its create
// carried: Scalelite with multitenancy passes meta_tenant-id, which BBB
// lists as <metadata><tenant-id>ID</tenant-id></metadata>.
func (n *Node) SetMetadata(id string, meta map[string]string) {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	if m := n.meetings[id]; m != nil {
		m.Metadata = bbbapi.Metadata{}
		for k, v := range meta {
			m.Metadata[strings.ToLower(k)] = v
		}
	}
}

// SetBreakout marks a meeting as a breakout room (isBreakout).
func (n *Node) SetBreakout(id string, breakout bool) {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	if m := n.meetings[id]; m != nil {
		m.IsBreakout = breakout
	}
}

// AddRecording puts a recording on the node (state published unless set).
func (n *Node) AddRecording(r Recording) {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	if r.State == "" {
		r.State = "published"
	}
	if n.recordings == nil {
		n.recordings = map[string]*Recording{}
	}
	n.recordings[r.RecordID] = &r
}

// DeleteRecording removes a recording from the node.
func (n *Node) DeleteRecording(id string) { n.b.mu.Lock(); delete(n.recordings, id); n.b.mu.Unlock() }

// EndMeeting ends a meeting as if its people left.
func (n *Node) EndMeeting(id string) { n.b.mu.Lock(); delete(n.meetings, id); n.b.mu.Unlock() }

// Meetings lists the node's meetings, by ID.
func (n *Node) Meetings() []bbbapi.Meeting {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	return n.sorted()
}

func (n *Node) sorted() []bbbapi.Meeting {
	out := make([]bbbapi.Meeting, 0, len(n.meetings))
	for _, m := range n.meetings {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Calls counts the calls of one kind ("" for the root) the node answered,
// whatever their outcome.
func (n *Node) Calls(call string) int { n.b.mu.Lock(); defer n.b.mu.Unlock(); return n.calls[call] }

var nodePath = regexp.MustCompile(`^/([^/]+)/bigbluebutton/api/?([A-Za-z]*)$`)

type xmlResponse struct {
	XMLName    xml.Name `xml:"response"`
	ReturnCode string   `xml:"returncode"`
	MessageKey string   `xml:"messageKey,omitempty"`
	Message    string   `xml:"message,omitempty"`
	Version    string   `xml:"version,omitempty"`
	APIVersion string   `xml:"apiVersion,omitempty"`
	BBBVersion string   `xml:"bbbVersion,omitempty"`
	Running    *bool    `xml:"running,omitempty"`
	Meetings   *struct {
		Meeting []bbbapi.Meeting `xml:"meeting"`
	} `xml:"meetings,omitempty"`
	Recordings *struct {
		Recording []Recording `xml:"recording"`
	} `xml:"recordings,omitempty"`
}

func writeXML(w http.ResponseWriter, r xmlResponse) {
	w.Header().Set("Content-Type", "text/xml;charset=utf-8")
	b, _ := xml.Marshal(r)
	w.Write(append([]byte(xml.Header), b...))
}

func failed(key, msg string) xmlResponse {
	return xmlResponse{ReturnCode: "FAILED", MessageKey: key, Message: msg}
}

// checksumOK checks a signed call like BBB: the query string as sent,
// with the checksum parameter cut out, hashed after the call name and
// before the secret, with the algorithm the checksum's length names.
func checksumOK(call, rawQuery, secret string) bool {
	sum := ""
	for _, p := range strings.Split(rawQuery, "&") {
		if v, ok := strings.CutPrefix(p, "checksum="); ok {
			sum = v
		}
	}
	algo := bbbapi.AlgorithmOf(sum)
	if algo == "" {
		return false
	}
	q := rawQuery
	for _, cut := range []string{"&checksum=" + sum, "checksum=" + sum + "&", "checksum=" + sum} {
		if strings.Contains(q, cut) {
			q = strings.Replace(q, cut, "", 1)
			break
		}
	}
	return bbbapi.Checksum(algo, call, q, secret) == sum
}

func (b *BBB) serve(w http.ResponseWriter, r *http.Request) {
	m := nodePath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		http.NotFound(w, r)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.nodes[m[1]]
	if n == nil {
		http.NotFound(w, r)
		return
	}
	call := m[2]
	n.calls[call]++
	if n.down {
		http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
		return
	}
	if call == "" { // the root needs no checksum
		writeXML(w, xmlResponse{ReturnCode: "SUCCESS", Version: "2.0", APIVersion: "2.0", BBBVersion: n.version})
		return
	}
	if !checksumOK(call, r.URL.RawQuery, n.secret) {
		writeXML(w, failed("checksumError", "You did not pass the checksum security check"))
		return
	}
	q := r.URL.Query()
	switch call {
	case "getMeetings":
		ms := n.sorted()
		resp := xmlResponse{ReturnCode: "SUCCESS", Meetings: &struct {
			Meeting []bbbapi.Meeting `xml:"meeting"`
		}{ms}}
		if len(ms) == 0 {
			resp.MessageKey, resp.Message = "noMeetings", "no meetings were found on this server"
		}
		writeXML(w, resp)
	case "getRecordings":
		var rs []Recording
		for _, rec := range n.recordings {
			rs = append(rs, *rec)
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].RecordID < rs[j].RecordID })
		resp := xmlResponse{ReturnCode: "SUCCESS", Recordings: &struct {
			Recording []Recording `xml:"recording"`
		}{rs}}
		if len(rs) == 0 {
			resp.MessageKey, resp.Message = "noRecordings", "There are no recordings for the meeting(s)."
		}
		writeXML(w, resp)
	case "isMeetingRunning":
		running := n.meetings[q.Get("meetingID")] != nil
		writeXML(w, xmlResponse{ReturnCode: "SUCCESS", Running: &running})
	case "end":
		id := q.Get("meetingID")
		if n.meetings[id] == nil {
			writeXML(w, failed("notFound", "We could not find a meeting with that meeting ID - perhaps the meeting is not yet running?"))
			return
		}
		delete(n.meetings, id)
		writeXML(w, xmlResponse{ReturnCode: "SUCCESS", MessageKey: "sentEndMeetingRequest", Message: "A request to end the meeting was sent."})
	default:
		writeXML(w, failed("unsupportedRequest", "This request is not supported by the fake."))
	}
}
