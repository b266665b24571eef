// Package bbbapi is a small client of BigBlueButton's API: the unsigned
// root (liveness and bbbVersion), and the signed calls omc needs to judge a
// node and drain it: getMeetings, isMeetingRunning and end.
//
// Every signed call carries checksum = hex(SHA(callName + queryString +
// secret)), where queryString is exactly the encoded query sent, without
// the checksum itself. The query is built once, hashed and sent as is.
package bbbapi

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Algorithms BBB accepts (supportedChecksumAlgorithms); SHA256 is the
// default, as Scalelite uses unless told otherwise.
const (
	SHA1   = "sha1"
	SHA256 = "sha256"
	SHA384 = "sha384"
	SHA512 = "sha512"
)

// Checksum signs one call: hex(SHA(call + query + secret)).
func Checksum(algorithm, call, query, secret string) string {
	var h hash.Hash
	switch algorithm {
	case SHA1:
		h = sha1.New()
	case SHA384:
		h = sha512.New384()
	case SHA512:
		h = sha512.New()
	default:
		h = sha256.New()
	}
	io.WriteString(h, call+query+secret)
	return hex.EncodeToString(h.Sum(nil))
}

// AlgorithmOf names the algorithm of a hex checksum by its length, as BBB
// and Scalelite tell them apart ("" for none).
func AlgorithmOf(checksum string) string {
	switch len(checksum) {
	case 40:
		return SHA1
	case 64:
		return SHA256
	case 96:
		return SHA384
	case 128:
		return SHA512
	}
	return ""
}

// Client talks to one BBB node's API.
type Client struct {
	// URL is the API base, e.g. https://bbb1.example.org/bigbluebutton/api.
	URL    string
	Secret string
	// Algorithm of checksums (default SHA256).
	Algorithm string
	// HTTP is the client used (default: one with a 10 s timeout).
	HTTP *http.Client
}

var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

// Error is a FAILED answer from BBB, or an answer that is not BBB's.
type Error struct {
	Call       string
	Key        string // messageKey, e.g. checksumError
	Message    string
	HTTPStatus int // set when the answer was not BBB XML
}

func (e *Error) Error() string {
	call := e.Call
	if call == "" {
		call = "API root"
	}
	if e.Key == "" && e.HTTPStatus != 0 {
		return fmt.Sprintf("BBB %s: HTTP %d: %s", call, e.HTTPStatus, e.Message)
	}
	if e.Message == "" {
		return fmt.Sprintf("BBB %s: %s", call, e.Key)
	}
	return fmt.Sprintf("BBB %s: %s (%s)", call, e.Message, e.Key)
}

// IsChecksumError reports whether BBB refused the call's checksum: the
// secret omc holds is not the one the node runs with.
func IsChecksumError(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Key == "checksumError"
}

// response is the envelope of every answer.
type response struct {
	ReturnCode string `xml:"returncode"`
	MessageKey string `xml:"messageKey"`
	Message    string `xml:"message"`
	// root
	Version    string `xml:"version"`
	APIVersion string `xml:"apiVersion"`
	BBBVersion string `xml:"bbbVersion"`
	// isMeetingRunning
	Running bool `xml:"running"`
	// getMeetings
	Meetings []Meeting `xml:"meetings>meeting"`
}

// Version is what the API root says about the node.
type Version struct {
	Version    string // API version, e.g. 2.0
	APIVersion string
	BBBVersion string // e.g. 3.0.4; empty unless allowRevealOfBBBVersion
}

// Meeting is one meeting as getMeetings lists it.
type Meeting struct {
	Name                  string `xml:"meetingName" json:"name"`
	ID                    string `xml:"meetingID" json:"id"`
	InternalID            string `xml:"internalMeetingID" json:"internal_id"`
	CreateTime            int64  `xml:"createTime" json:"create_time"` // ms since the epoch
	Running               bool   `xml:"running" json:"running"`
	ParticipantCount      int    `xml:"participantCount" json:"participants"`
	ListenerCount         int    `xml:"listenerCount" json:"listeners"`
	VoiceParticipantCount int    `xml:"voiceParticipantCount" json:"voice"`
	VideoCount            int    `xml:"videoCount" json:"video"`
	ModeratorCount        int    `xml:"moderatorCount" json:"moderators"`
	IsBreakout            bool   `xml:"isBreakout" json:"breakout"`
	// Metadata holds the meeting's meta_ parameters from create, keys as
	// BBB lists them (lowercase). Scalelite with multitenancy adds
	// "tenant-id". Kept out of JSON: other keys may name people.
	Metadata Metadata `xml:"metadata" json:"-"`
}

// Metadata is a meeting's or recording's <metadata> element: one child
// element per key.
type Metadata map[string]string

// UnmarshalXML reads <metadata><key>value</key>...</metadata>.
func (m *Metadata) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var v struct {
		Items []struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:",any"`
	}
	if err := d.DecodeElement(&v, &start); err != nil {
		return err
	}
	if len(v.Items) == 0 {
		return nil
	}
	if *m == nil {
		*m = Metadata{}
	}
	for _, it := range v.Items {
		(*m)[it.XMLName.Local] = strings.TrimSpace(it.Value)
	}
	return nil
}

// MarshalXML writes the keys in order (for fakes); none writes nothing.
func (m Metadata) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	for _, k := range keys {
		if err := e.EncodeElement(m[k], xml.StartElement{Name: xml.Name{Local: k}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// Users counts the meeting's people as Scalelite's load does.
func (m Meeting) Users() int { return m.ParticipantCount + m.ModeratorCount }

// Root asks the unsigned API root, which needs no secret: it proves the
// API answers and reports the versions.
func (c *Client) Root(ctx context.Context) (Version, error) {
	r, err := c.get(ctx, "", nil, false)
	if err != nil {
		return Version{}, err
	}
	return Version{Version: r.Version, APIVersion: r.APIVersion, BBBVersion: r.BBBVersion}, nil
}

// Meetings lists the node's meetings with a signed getMeetings: success
// proves the secret.
func (c *Client) Meetings(ctx context.Context) ([]Meeting, error) {
	r, err := c.get(ctx, "getMeetings", nil, true)
	if err != nil {
		return nil, err
	}
	return r.Meetings, nil
}

// IsMeetingRunning asks whether a meeting runs.
func (c *Client) IsMeetingRunning(ctx context.Context, meetingID string) (bool, error) {
	r, err := c.get(ctx, "isMeetingRunning", url.Values{"meetingID": {meetingID}}, true)
	if err != nil {
		return false, err
	}
	return r.Running, nil
}

// End ends a meeting. BBB ends it asynchronously: confirm with
// IsMeetingRunning. password is the moderator password (BBB before 2.6
// requires it; later versions ignore it).
func (c *Client) End(ctx context.Context, meetingID, password string) error {
	q := url.Values{"meetingID": {meetingID}}
	if password != "" {
		q.Set("password", password)
	}
	_, err := c.get(ctx, "end", q, true)
	return err
}

// CallURL is the signed URL of a call, for callers that need one (a
// fake, a link).
func (c *Client) CallURL(call string, q url.Values) string {
	query := q.Encode()
	sum := Checksum(c.Algorithm, call, query, c.Secret)
	if query != "" {
		query += "&"
	}
	return strings.TrimRight(c.URL, "/") + "/" + call + "?" + query + "checksum=" + sum
}

func (c *Client) get(ctx context.Context, call string, q url.Values, signed bool) (*response, error) {
	u := strings.TrimRight(c.URL, "/") + "/" + call
	if signed {
		u = c.CallURL(call, q)
	} else if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("BBB %s: %w", call, err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("BBB %s: %w", nameOf(call), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("BBB %s: reading the answer: %w", nameOf(call), err)
	}
	var r response
	if err := xml.Unmarshal(body, &r); err != nil || r.ReturnCode == "" {
		return nil, &Error{Call: call, HTTPStatus: resp.StatusCode, Message: "not a BBB API answer: " + snippet(body)}
	}
	if r.ReturnCode != "SUCCESS" {
		return nil, &Error{Call: call, Key: r.MessageKey, Message: r.Message}
	}
	return &r, nil
}

func nameOf(call string) string {
	if call == "" {
		return "API root"
	}
	return call
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	if s == "" {
		s = "(empty)"
	}
	return s
}
