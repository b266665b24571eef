// Package fake holds FAKES for tests, following the published APIs:
//
//   - BBB is a FAKE of BigBlueButton's API (the real one needs an Ubuntu
//     VM with the whole BBB stack), modelled on bbb-web 3.0 (the
//     templates api-version.ftlx and get-meetings.ftlx, ApiController's
//     answers, ParamsProcessorUtil's checksum rule; see
//     testdata/upstream/bbb, whose fixtures the fake's answers are
//     checked against). It serves many nodes from one httptest server,
//     each under /NAME/bigbluebutton/api: the unsigned root, and the
//     signed getMeetings, isMeetingRunning, end and getRecordings. Like
//     BBB it hides bbbVersion unless the node reveals it
//     (allowRevealOfBBBVersion, default false), accepts only the checksum
//     algorithms a node supports (supportedChecksumAlgorithms, default
//     sha1, sha256, sha384, sha512), counts moderators inside
//     participantCount, ends a meeting asynchronously (end only asks; the
//     meeting is listed until EndDelay more getMeetings or
//     isMeetingRunning answers, or Step), and lists recordings without a
//     size (BBB's getRecordings has none). It leaves out create, join,
//     getMeetingInfo, the recording calls but getRecordings, POST,
//     attendees' media state and voice/video counts (always 0), and the
//     password check of end on BBB before 2.6. For fleet-scale tests a
//     node can have a listener of its own (AddNodeAlone: a host of its
//     own to an HTTP client, as a real node is) and a delay before each
//     answer (SetDelay: a slow or far node); the fake counts the
//     connections it accepted and the most requests it held at once.
//   - Scalelite is a FAKE of Scalelite's JSON management API (the real
//     one needs Redis and Rails). It copies the quirks omc must cope
//     with: XML errors with HTTP 200, 404 for an empty server list, new
//     servers disabled, duplicate adds making duplicates, keep_state read
//     at the top level, and a poller you step that asks each server's BBB
//     API for getMeetings and computes online and load as Scalelite does,
//     turning a cordoned server disabled once its load is 0. Its panic
//     (API and rake) ends only the meetings of its own meeting table
//     (those made through CreateMeeting), as Scalelite's does.
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
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omc-coop/omc/pool/bbbapi"
)

// BBB is a FAKE of BigBlueButton's API serving many nodes.
type BBB struct {
	Server *httptest.Server
	// Now is the fake's clock for meeting create times (default time.Now).
	Now func() time.Time
	// EndDelay is how many more getMeetings or isMeetingRunning answers
	// still list a meeting after its end was asked (default 1): BBB's end
	// only sends the request, the meeting goes some seconds later.
	EndDelay int

	mu    sync.Mutex
	nodes map[string]*Node

	conns            atomic.Int64 // connections accepted, every listener
	inFlight, peakIn atomic.Int64 // requests being answered now, and the most at once
	t                testing.TB
}

// Node is one fake BBB server.
type Node struct {
	Name string
	// URL is the node's API base, as registered in Scalelite.
	URL string

	b       *BBB
	secret  string
	version string // the installed release (bigbluebutton-release)
	reveal  bool   // allowRevealOfBBBVersion
	algos   []string
	sizes   bool // getRecordings adds <size> (ServeSizes)
	down    bool
	delay   time.Duration // before each answer (SetDelay)
	// meetings by ID, and how many listings an ending one has left.
	meetings map[string]*meeting
	calls    map[string]int
	// recordings held on the node, by record ID (getRecordings).
	recordings map[string]*Recording
}

// meeting is one meeting on a node: the fields omc reads, the counts BBB
// keeps, and the end in progress.
type meeting struct {
	bbbapi.Meeting
	parent string // a breakout room's parent meeting ID
	ending bool
	left   int // listings left once ending
}

// Recording is a recording the node holds, as getRecordings lists it:
// the fields omc reads (IDs, state, metadata with Scalelite's tenant-id).
// Size is its bytes on disk: kept for the Scalelite fake's import, never
// served (BBB's getRecordings has no size).
type Recording struct {
	RecordID  string
	MeetingID string
	State     string
	Metadata  bbbapi.Metadata
	Size      int64
}

// NewBBB starts a fake BBB on 127.0.0.1, stopped when the test ends.
func NewBBB(t testing.TB) *BBB {
	b := &BBB{Now: time.Now, EndDelay: 1, nodes: map[string]*Node{}, t: t}
	b.Server = b.listen()
	return b
}

// listen starts a server of the fake on 127.0.0.1 that counts its
// connections, stopped when the test ends.
func (b *BBB) listen() *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(b.serve))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			b.conns.Add(1)
		}
	}
	srv.Start()
	b.t.Cleanup(srv.Close)
	return srv
}

// AddNodeAlone is AddNode with a listener of the node's own: to an HTTP
// client it is a host of its own, as a real node is (connections to one
// host are pooled together; net/http keeps 2 idle per host by default).
func (b *BBB) AddNodeAlone(name, secret, version string) *Node {
	srv := b.listen()
	n := b.AddNode(name, secret, version)
	b.mu.Lock()
	n.URL = srv.URL + "/" + name + "/bigbluebutton/api"
	b.mu.Unlock()
	return n
}

// Conns is the number of connections the fake has accepted, on every
// listener.
func (b *BBB) Conns() int { return int(b.conns.Load()) }

// PeakInFlight is the most requests the fake was answering at once.
func (b *BBB) PeakInFlight() int { return int(b.peakIn.Load()) }

// SetDelay makes every answer of the node wait d first (a slow or far
// node), without holding up the other nodes' answers.
func (n *Node) SetDelay(d time.Duration) { n.b.mu.Lock(); n.delay = d; n.b.mu.Unlock() }

// DefaultChecksumAlgorithms is bbb-web's supportedChecksumAlgorithms.
var DefaultChecksumAlgorithms = []string{bbbapi.SHA1, bbbapi.SHA256, bbbapi.SHA384, bbbapi.SHA512}

// AddNode adds a node answering under /name/bigbluebutton/api with this
// secret and installed BBB release (version). Its API root hides the
// version, as BBB's default allowRevealOfBBBVersion=false does; see
// RevealVersion.
func (b *BBB) AddNode(name, secret, version string) *Node {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := &Node{Name: name, URL: b.Server.URL + "/" + name + "/bigbluebutton/api", b: b, secret: secret, version: version,
		algos: DefaultChecksumAlgorithms, meetings: map[string]*meeting{}, calls: map[string]int{}}
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

// SetVersion changes the installed release (an upgrade).
func (n *Node) SetVersion(v string) { n.b.mu.Lock(); n.version = v; n.b.mu.Unlock() }

// Version is the installed release, what /etc/bigbluebutton/
// bigbluebutton-release says whether or not the root reveals it.
func (n *Node) Version() string { n.b.mu.Lock(); defer n.b.mu.Unlock(); return n.version }

// RevealVersion sets allowRevealOfBBBVersion: with it the root's
// bbbVersion is the installed release, without it empty.
func (n *Node) RevealVersion(on bool) *Node { n.b.mu.Lock(); n.reveal = on; n.b.mu.Unlock(); return n }

// ServeSizes makes getRecordings add each recording's Size as <size>
// in its playback format, as Mconf's BBB build does; stock bbb-web sends
// no size (default).
func (n *Node) ServeSizes(on bool) { n.b.mu.Lock(); n.sizes = on; n.b.mu.Unlock() }

// SetChecksumAlgorithms sets supportedChecksumAlgorithms (lowercase
// names, as in bbb-web.properties).
func (n *Node) SetChecksumAlgorithms(algos ...string) {
	n.b.mu.Lock()
	n.algos = append([]string(nil), algos...)
	n.b.mu.Unlock()
}

// SetDown makes every call fail with HTTP 502 (BBB stopped), or answer again.
func (n *Node) SetDown(down bool) { n.b.mu.Lock(); n.down = down; n.b.mu.Unlock() }

// CreateMeeting starts a meeting created now with participants people
// in it, moderators of them moderators: BBB's participantCount counts
// everyone, so moderators must not exceed participants.
func (n *Node) CreateMeeting(id string, participants, moderators int) {
	n.CreateMeetingAt(id, participants, moderators, n.b.Now())
}

// CreateMeetingAt starts a meeting created at t (Scalelite counts young
// meetings at 15 users at least).
func (n *Node) CreateMeetingAt(id string, participants, moderators int, t time.Time) {
	checkCounts(id, participants, moderators)
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	n.meetings[id] = &meeting{Meeting: bbbapi.Meeting{Name: id, ID: id, InternalID: fmt.Sprintf("%x-%d", id, t.UnixMilli()), CreateTime: t.UnixMilli(),
		Running: true, ParticipantCount: participants, ModeratorCount: moderators, ModeratorPW: "mp-" + id}}
}

func checkCounts(id string, participants, moderators int) {
	if participants < 0 || moderators < 0 || moderators > participants {
		panic(fmt.Sprintf("fake BBB: meeting %s with %d participants and %d moderators: participantCount counts everyone, moderators included", id, participants, moderators))
	}
}

// SetUsers changes how many people a meeting has (participants in all,
// moderators of them).
func (n *Node) SetUsers(id string, participants, moderators int) {
	checkCounts(id, participants, moderators)
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

// SetBreakoutOf makes room a breakout room of parent (both meeting
// IDs): the room lists its parent, the parent its rooms.
func (n *Node) SetBreakoutOf(room, parent string) {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	if m := n.meetings[room]; m != nil {
		m.IsBreakout, m.parent = true, parent
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

// EndMeeting ends a meeting as if its people left: it is gone at once.
func (n *Node) EndMeeting(id string) { n.b.mu.Lock(); delete(n.meetings, id); n.b.mu.Unlock() }

// Step finishes every end in progress: the meetings are gone.
func (n *Node) Step() {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	for id, m := range n.meetings {
		if m.ending {
			delete(n.meetings, id)
		}
	}
}

// Meetings lists the node's meetings (those ending too), by ID.
func (n *Node) Meetings() []bbbapi.Meeting {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	return n.sorted()
}

// Ending reports whether an end of the meeting is in progress.
func (n *Node) Ending(id string) bool {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	m := n.meetings[id]
	return m != nil && m.ending
}

func (n *Node) sortedMeetings() []*meeting {
	out := make([]*meeting, 0, len(n.meetings))
	for _, m := range n.meetings {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (n *Node) sorted() []bbbapi.Meeting {
	out := make([]bbbapi.Meeting, 0, len(n.meetings))
	for _, m := range n.meetings {
		out = append(out, m.Meeting)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// tick is one listing of the meetings: an ending meeting with no
// listings left is gone first.
func (n *Node) tick() {
	for id, m := range n.meetings {
		if !m.ending {
			continue
		}
		if m.left <= 0 {
			delete(n.meetings, id)
			continue
		}
		m.left--
	}
}

// Calls counts the calls of one kind ("" for the root) the node answered,
// whatever their outcome.
func (n *Node) Calls(call string) int { n.b.mu.Lock(); defer n.b.mu.Unlock(); return n.calls[call] }

var nodePath = regexp.MustCompile(`^/([^/]+)/bigbluebutton/api/?([A-Za-z]*)$`)

// checksumOK checks a signed call like BBB: the query string as sent,
// with the checksum parameter cut out, hashed after the call name and
// before the secret, with the algorithm the checksum's length names.
func checksumOK(call, rawQuery, secret string) bool {
	return checksumOKWith(call, rawQuery, secret, nil)
}

// checksumOKWith is checksumOK accepting only the algorithms allowed
// (nil: any of the four), as ParamsProcessorUtil checks against
// supportedChecksumAlgorithms.
func checksumOKWith(call, rawQuery, secret string, allowed []string) bool {
	sum := ""
	for _, p := range strings.Split(rawQuery, "&") {
		if v, ok := strings.CutPrefix(p, "checksum="); ok {
			sum = v
		}
	}
	algo := bbbapi.AlgorithmOf(sum)
	if algo == "" || (allowed != nil && !slices.Contains(allowed, algo)) {
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
	in := b.inFlight.Add(1)
	defer b.inFlight.Add(-1)
	for p := b.peakIn.Load(); in > p && !b.peakIn.CompareAndSwap(p, in); p = b.peakIn.Load() {
	}
	b.mu.Lock()
	var delay time.Duration
	if n := b.nodes[m[1]]; n != nil {
		delay = n.delay
	}
	b.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay) // outside the lock: the other nodes answer meanwhile
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
		writeXML(w, n.rootXML(r))
		return
	}
	if !checksumOKWith(call, r.URL.RawQuery, n.secret, n.algos) {
		writeXML(w, failed("checksumError", "Checksums do not match"))
		return
	}
	q := r.URL.Query()
	switch call {
	case "getMeetings":
		n.tick()
		writeXML(w, n.meetingsXML())
	case "getRecordings":
		writeXML(w, n.recordingsXML())
	case "isMeetingRunning":
		n.tick()
		running := n.meetings[q.Get("meetingID")] != nil
		writeXML(w, xmlResponse{ReturnCode: "SUCCESS", Running: &running})
	case "end":
		mt := n.meetings[q.Get("meetingID")]
		if mt == nil {
			writeXML(w, failed("notFound", "We could not find a meeting with that meeting ID - perhaps the meeting is not yet running?"))
			return
		}
		if !mt.ending {
			mt.ending, mt.left = true, b.EndDelay
		}
		writeXML(w, xmlResponse{ReturnCode: "SUCCESS", MessageKey: "sentEndMeetingRequest",
			Message: "A request to end the meeting was sent.  Please wait a few seconds, and then use the getMeetingInfo or isMeetingRunning API calls to verify that it was ended."})
	default:
		writeXML(w, failed("unsupportedRequest", "This request is not supported by the fake."))
	}
}
