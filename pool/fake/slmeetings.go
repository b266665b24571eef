package fake

import (
	"context"
	"fmt"
	"sort"

	"github.com/omc-coop/omc/pool/bbbapi"
)

// The FAKE Scalelite's Meeting table: the meetings its create made on a
// server. Scalelite's panic (panicServer, rake servers:panic) and its
// poller taking a server offline end these only
// (servers_controller.rb panic_server, servers.rake servers:panic,
// poll.rake): a meeting made on the node directly, or whose record is
// gone, runs on.

// slMeeting is one row: the meeting, its server, and the moderator
// password Scalelite passes to end.
type slMeeting struct {
	id, serverID, moderatorPW string
}

// CreateMeeting is a create through Scalelite on the server registered
// for node n: the meeting starts on the node (participants in all,
// moderators of them) and Scalelite records it. The node must be
// registered.
func (s *Scalelite) CreateMeeting(n *Node, id string, participants, moderators int) {
	sv, ok := s.ServerByURL(n.URL)
	if !ok {
		panic(fmt.Sprintf("fake Scalelite: create %s: no server registered for %s", id, n.URL))
	}
	n.CreateMeeting(id, participants, moderators)
	pw := ""
	for _, m := range n.Meetings() {
		if m.ID == id {
			pw = m.ModeratorPW
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.meetings == nil {
		s.meetings = map[string]slMeeting{}
	}
	s.meetings[id] = slMeeting{id: id, serverID: sv.ID, moderatorPW: pw}
}

// TrackedMeetings lists the meeting IDs Scalelite's table holds for a
// server.
func (s *Scalelite) TrackedMeetings(serverID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.meetings {
		if m.serverID == serverID {
			out = append(out, m.id)
		}
	}
	sort.Strings(out)
	return out
}

// endTracked is the panic's loop: each meeting of the table on the
// server is deleted from it and ended on the node (with its moderator
// password), errors ignored as Scalelite logs and goes on. Called
// without s.mu.
func (s *Scalelite) endTracked(ctx context.Context, c *bbbapi.Client, serverID string) {
	s.mu.Lock()
	var ms []slMeeting
	for id, m := range s.meetings {
		if m.serverID == serverID {
			ms = append(ms, m)
			delete(s.meetings, id)
		}
	}
	s.mu.Unlock()
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	for _, m := range ms {
		_ = c.End(ctx, m.id, m.moderatorPW)
	}
}
