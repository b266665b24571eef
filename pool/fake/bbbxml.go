package fake

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/omc-coop/omc/pool/bbbapi"
)

// The fake BBB's answers, element by element as bbb-web 3.0 renders them
// (api-version.ftlx, get-meetings.ftlx, RecMetaXmlHelper's
// getRecordings); TestFakeBBBMatchesFixtures holds them to the fixtures
// in testdata/upstream/bbb.

// xmlResponse is the envelope of the short answers (errors, end,
// isMeetingRunning, Scalelite's root).
type xmlResponse struct {
	XMLName    xml.Name `xml:"response"`
	ReturnCode string   `xml:"returncode"`
	MessageKey string   `xml:"messageKey,omitempty"`
	Message    string   `xml:"message,omitempty"`
	Version    string   `xml:"version,omitempty"`
	Running    *bool    `xml:"running,omitempty"`
}

func writeXML(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "text/xml;charset=utf-8")
	b, err := xml.Marshal(v)
	if err != nil {
		panic("fake BBB: " + err.Error())
	}
	w.Write(append([]byte(xml.Header), b...))
}

func failed(key, msg string) xmlResponse {
	return xmlResponse{ReturnCode: "FAILED", MessageKey: key, Message: msg}
}

// rootXML is api-version.ftlx: bbbVersion is there, empty unless the
// node reveals it.
type rootXML struct {
	XMLName             xml.Name `xml:"response"`
	ReturnCode          string   `xml:"returncode"`
	Version             string   `xml:"version"`
	APIVersion          string   `xml:"apiVersion"`
	BBBVersion          string   `xml:"bbbVersion"`
	GraphqlWebsocketURL string   `xml:"graphqlWebsocketUrl"`
	GraphqlAPIURL       string   `xml:"graphqlApiUrl"`
}

func (n *Node) rootXML(r *http.Request) rootXML {
	v := ""
	if n.reveal {
		v = n.version
	}
	return rootXML{ReturnCode: "SUCCESS", Version: "2.0", APIVersion: "2.0", BBBVersion: v,
		GraphqlWebsocketURL: "wss://" + r.Host + "/graphql", GraphqlAPIURL: "https://" + r.Host + "/api/rest"}
}

type attendeeXML struct {
	UserID          string `xml:"userID"`
	FullName        string `xml:"fullName"`
	Role            string `xml:"role"`
	IsPresenter     bool   `xml:"isPresenter"`
	IsListeningOnly bool   `xml:"isListeningOnly"`
	HasJoinedVoice  bool   `xml:"hasJoinedVoice"`
	HasVideo        bool   `xml:"hasVideo"`
	ClientType      string `xml:"clientType"`
}

// metadataXML is <metadata>, there even when empty.
type metadataXML bbbapi.Metadata

func (m metadataXML) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if len(m) > 0 {
		return bbbapi.Metadata(m).MarshalXML(e, start) // keys in order
	}
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

type meetingXML struct {
	MeetingName           string        `xml:"meetingName"`
	MeetingID             string        `xml:"meetingID"`
	InternalMeetingID     string        `xml:"internalMeetingID"`
	CreateTime            int64         `xml:"createTime"`
	CreateDate            string        `xml:"createDate"`
	VoiceBridge           string        `xml:"voiceBridge"`
	DialNumber            string        `xml:"dialNumber"`
	AttendeePW            string        `xml:"attendeePW"`
	ModeratorPW           string        `xml:"moderatorPW"`
	Running               bool          `xml:"running"`
	Duration              int           `xml:"duration"`
	HasUserJoined         bool          `xml:"hasUserJoined"`
	Recording             bool          `xml:"recording"`
	HasBeenForciblyEnded  bool          `xml:"hasBeenForciblyEnded"`
	StartTime             int64         `xml:"startTime"`
	EndTime               int64         `xml:"endTime"`
	ParticipantCount      int           `xml:"participantCount"`
	ListenerCount         int           `xml:"listenerCount"`
	VoiceParticipantCount int           `xml:"voiceParticipantCount"`
	VideoCount            int           `xml:"videoCount"`
	MaxUsers              int           `xml:"maxUsers"`
	ModeratorCount        int           `xml:"moderatorCount"`
	Attendees             []attendeeXML `xml:"attendees>attendee"`
	Metadata              metadataXML   `xml:"metadata"`
	IsBreakout            bool          `xml:"isBreakout"`
	ParentMeetingID       *string       `xml:"parentMeetingID,omitempty"`
	Sequence              *int          `xml:"sequence,omitempty"`
	FreeJoin              *bool         `xml:"freeJoin,omitempty"`
	BreakoutRooms         *roomsXML     `xml:"breakoutRooms,omitempty"`
}

type roomsXML struct {
	Breakout []string `xml:"breakout"`
}

type meetingsXML struct {
	XMLName    xml.Name `xml:"response"`
	ReturnCode string   `xml:"returncode"`
	// An empty list is <meetings/> then the messageKey and message.
	Meetings struct {
		Meeting []meetingXML `xml:"meeting"`
	} `xml:"meetings"`
	MessageKey string `xml:"messageKey,omitempty"`
	Message    string `xml:"message,omitempty"`
}

func (n *Node) meetingsXML() meetingsXML {
	ms := n.sortedMeetings()
	out := meetingsXML{ReturnCode: "SUCCESS"}
	if len(ms) == 0 {
		out.MessageKey, out.Message = "noMeetings", "no meetings were found on this server"
		return out
	}
	for _, m := range ms {
		created := time.UnixMilli(m.CreateTime).UTC()
		x := meetingXML{MeetingName: m.Name, MeetingID: m.ID, InternalMeetingID: m.InternalID, CreateTime: m.CreateTime,
			CreateDate: created.Format("Mon Jan 02 15:04:05 MST 2006"), VoiceBridge: "70066", DialNumber: "613-555-1234",
			AttendeePW: "ap-" + m.ID, ModeratorPW: m.ModeratorPW, Running: m.Running, HasUserJoined: m.ParticipantCount > 0,
			StartTime: m.CreateTime, ParticipantCount: m.ParticipantCount, ModeratorCount: m.ModeratorCount,
			Metadata: metadataXML(m.Metadata), IsBreakout: m.IsBreakout}
		for i := 0; i < m.ParticipantCount; i++ {
			role := "VIEWER"
			if i < m.ModeratorCount {
				role = "MODERATOR"
			}
			x.Attendees = append(x.Attendees, attendeeXML{UserID: fmt.Sprintf("w_%d", i+1), FullName: fmt.Sprintf("User %d", i+1),
				Role: role, IsPresenter: i == 0, ClientType: "HTML5"})
		}
		if m.IsBreakout {
			parent, seq, free := "", 1, false
			if p := n.meetings[m.parent]; p != nil {
				parent = p.InternalID
			}
			x.ParentMeetingID, x.Sequence, x.FreeJoin = &parent, &seq, &free
		}
		for _, room := range ms {
			if room.parent == m.ID && room.IsBreakout {
				if x.BreakoutRooms == nil {
					x.BreakoutRooms = &roomsXML{}
				}
				x.BreakoutRooms.Breakout = append(x.BreakoutRooms.Breakout, room.InternalID)
			}
		}
		out.Meetings.Meeting = append(out.Meetings.Meeting, x)
	}
	return out
}

type recordingXML struct {
	RecordID          string      `xml:"recordID"`
	MeetingID         string      `xml:"meetingID"`
	InternalMeetingID string      `xml:"internalMeetingID"`
	Name              string      `xml:"name"`
	IsBreakout        bool        `xml:"isBreakout"`
	Published         bool        `xml:"published"`
	State             string      `xml:"state"`
	StartTime         int64       `xml:"startTime"`
	EndTime           int64       `xml:"endTime"`
	Participants      int         `xml:"participants"`
	Metadata          metadataXML `xml:"metadata"`
	Formats           []formatXML `xml:"playback>format"`
}

type formatXML struct {
	Type           string `xml:"type"`
	URL            string `xml:"url"`
	ProcessingTime int    `xml:"processingTime"`
	Length         int    `xml:"length"`
	// Size is there only on a node that ServeSizes (not stock BBB).
	Size *int64 `xml:"size,omitempty"`
}

type recordingsXML struct {
	XMLName    xml.Name `xml:"response"`
	ReturnCode string   `xml:"returncode"`
	Recordings struct {
		Recording []recordingXML `xml:"recording"`
	} `xml:"recordings"`
	MessageKey string `xml:"messageKey,omitempty"`
	Message    string `xml:"message,omitempty"`
}

func (n *Node) recordingsXML() recordingsXML {
	out := recordingsXML{ReturnCode: "SUCCESS"}
	ids := make([]string, 0, len(n.recordings))
	for id := range n.recordings {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := n.recordings[id]
		meta := metadataXML{"isBreakout": "false", "meetingId": r.MeetingID, "meetingName": r.MeetingID}
		for k, v := range r.Metadata {
			meta[k] = v
		}
		out.Recordings.Recording = append(out.Recordings.Recording, recordingXML{RecordID: r.RecordID, MeetingID: r.MeetingID, InternalMeetingID: r.RecordID,
			Name: r.MeetingID, Published: r.State == "published", State: r.State, StartTime: 1530718721124, EndTime: 1530718810456,
			Participants: 3, Metadata: meta,
			Formats: []formatXML{{Type: "presentation", URL: strings.TrimSuffix(n.URL, "/bigbluebutton/api") + "/playback/presentation/2.3/" + r.RecordID,
				ProcessingTime: 7177, Length: 1}}})
		if n.sizes {
			size := r.Size
			out.Recordings.Recording[len(out.Recordings.Recording)-1].Formats[0].Size = &size
		}
	}
	if len(out.Recordings.Recording) == 0 {
		out.MessageKey, out.Message = "noRecordings", "There are no recordings for the meeting(s)."
	}
	return out
}
