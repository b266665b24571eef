package fake

import (
	"encoding/xml"
	"net"
	"net/http"
	"sort"
	"strings"

	"github.com/omc-coop/omc/pool/bbbapi"
)

// The BBB API side of the FAKE Scalelite: getRecordings only, from the
// recordings its importer holds.

// AddRecording puts a recording in Scalelite's database, as its importer
// does (state published unless set). Size is kept but never served:
// Scalelite's getRecordings has no size.
func (s *Scalelite) AddRecording(r Recording) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.State == "" {
		r.State = "published"
	}
	if s.recordings == nil {
		s.recordings = map[string]*Recording{}
	}
	meta := bbbapi.Metadata{}
	for k, v := range r.Metadata {
		meta[k] = v
	}
	r.Metadata = meta
	s.recordings[r.RecordID] = &r
}

// Import moves a node's recording into Scalelite, as the node's
// post-publish transfer and Scalelite's importer do: it is in Scalelite,
// and no longer on the node. It reports whether the node had it.
func (s *Scalelite) Import(n *Node, recordID string) bool {
	n.b.mu.Lock()
	rec, ok := n.recordings[recordID]
	if ok {
		delete(n.recordings, recordID)
	}
	n.b.mu.Unlock()
	if ok {
		s.AddRecording(*rec)
	}
	return ok
}

// DeleteRecording deletes a recording from Scalelite (deleteRecordings).
func (s *Scalelite) DeleteRecording(recordID string) {
	s.mu.Lock()
	delete(s.recordings, recordID)
	s.mu.Unlock()
}

// SetDown makes every HTTP call (management API and BBB API) fail with
// HTTP 502 (Scalelite stopped), or answer again.
func (s *Scalelite) SetDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// slRecording is a recording as Scalelite's get_recordings.xml.builder
// renders it: no size anywhere.
type slRecording struct {
	XMLName           xml.Name        `xml:"recording"`
	RecordID          string          `xml:"recordID"`
	MeetingID         string          `xml:"meetingID"`
	InternalMeetingID string          `xml:"internalMeetingID"`
	Name              string          `xml:"name"`
	Published         bool            `xml:"published"`
	Protected         bool            `xml:"protected"`
	State             string          `xml:"state"`
	StartTime         int64           `xml:"startTime"`
	EndTime           int64           `xml:"endTime"`
	Metadata          bbbapi.Metadata `xml:"metadata"`
	Formats           []slFormat      `xml:"playback>format"`
}

type slFormat struct {
	Type   string `xml:"type"`
	URL    string `xml:"url"`
	Length int    `xml:"length"`
}

type slRecordingsResponse struct {
	XMLName    xml.Name      `xml:"response"`
	ReturnCode string        `xml:"returncode"`
	Recordings []slRecording `xml:"recordings>recording"`
	MessageKey string        `xml:"messageKey,omitempty"`
	Message    string        `xml:"message,omitempty"`
}

// scaleliteChecksumOK is verify_checksum: the algorithm by the checksum's
// length, SHA1, SHA256 or SHA512 only.
func scaleliteChecksumOK(call, rawQuery string, secrets []string) bool {
	sum := ""
	for _, p := range strings.Split(rawQuery, "&") {
		if v, ok := strings.CutPrefix(p, "checksum="); ok {
			sum = v
		}
	}
	switch len(sum) {
	case 40, 64, 128:
	default:
		return false
	}
	for _, sec := range secrets {
		if checksumOK(call, rawQuery, sec) {
			return true
		}
	}
	return false
}

func (s *Scalelite) serveBBB(w http.ResponseWriter, r *http.Request) {
	call := strings.Trim(strings.TrimPrefix(r.URL.Path, "/bigbluebutton/api"), "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["bbb:"+call]++
	if call == "" {
		writeXML(w, xmlResponse{ReturnCode: "SUCCESS", Version: "2.0"})
		return
	}
	// fetch_secrets / fetch_tenant: with multitenancy the tenant is the
	// first label of the host, and a host naming none fails the checksum.
	secrets := s.secrets
	var tn *tenant
	if s.multitenancy {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		name, _, _ := strings.Cut(host, ".")
		for _, t := range s.tenants {
			if t.name == name {
				tn = t
			}
		}
		if tn == nil {
			writeXML(w, failed("checksumError", "Checksums do not match"))
			return
		}
		secrets = strings.Split(tn.secrets, ":")
	}
	if !scaleliteChecksumOK(call, r.URL.RawQuery, secrets) {
		writeXML(w, failed("checksumError", "Checksums do not match"))
		return
	}
	if call != "getRecordings" {
		writeXML(w, failed("unsupportedRequest", "This request is not supported by the fake."))
		return
	}
	states := map[string]bool{"published": true, "unpublished": true}
	if st := r.URL.Query().Get("state"); st != "" {
		states = map[string]bool{}
		for _, x := range strings.Split(st, ",") {
			states[x] = true
		}
	}
	resp := slRecordingsResponse{ReturnCode: "SUCCESS", Recordings: []slRecording{}}
	for _, rec := range s.recordings {
		if !states["any"] && !states[rec.State] {
			continue
		}
		meta := rec.Metadata
		if tn != nil {
			if rec.Metadata["tenant-id"] != tn.id {
				continue
			}
			// Scalelite filters on a join with the metadata, which also
			// drops every other key from the answer (scalelite#987).
			meta = bbbapi.Metadata{"tenant-id": tn.id}
		}
		resp.Recordings = append(resp.Recordings, slRecording{RecordID: rec.RecordID, MeetingID: rec.MeetingID,
			InternalMeetingID: rec.RecordID, Name: rec.MeetingID, Published: rec.State == "published", State: rec.State,
			Metadata: meta, Formats: []slFormat{{Type: "presentation", URL: "/playback/presentation/2.3/" + rec.RecordID, Length: 42}}})
	}
	sort.Slice(resp.Recordings, func(i, j int) bool { return resp.Recordings[i].RecordID < resp.Recordings[j].RecordID })
	if len(resp.Recordings) == 0 {
		resp.MessageKey, resp.Message = "noRecordings", "There are not recordings for the meetings"
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	b, _ := xml.Marshal(resp)
	w.Write(append([]byte(xml.Header), b...))
}
