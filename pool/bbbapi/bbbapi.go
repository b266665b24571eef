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
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"regexp"
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
	// Algorithm signs the calls: SHA1, SHA256 (the default), SHA384 or
	// SHA512. BBB accepts only those its supportedChecksumAlgorithms
	// lists (default all four).
	Algorithm string
	// HTTP is the client used (default: one with a 10 s timeout).
	HTTP *http.Client
}

var defaultHTTP = NewHTTPClient(10 * time.Second)

// FleetParallel is how many nodes a fleet command (status, the health
// gate of up and pool sync, usage collect) calls at once by default. The
// calls wait on the network, not on the CPU: with one wave for a fleet
// of up to this many nodes, such a command takes about as long as its
// slowest node, where 16 at once made 200 nodes 13 waves.
const FleetParallel = 256

// NewHTTPClient is the one HTTP client a fleet command shares for every
// node's BBB API: keep-alive connections, idle ones kept for every node
// of a fleet called FleetParallel at once (net/http's default transport
// keeps 100 in all, 2 per host), so a node's second call, and the next
// command round of status --watch, reuse the first one's connection.
func NewHTTPClient(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4 * FleetParallel
	t.MaxIdleConnsPerHost = 4
	return &http.Client{Timeout: timeout, Transport: t}
}

// algorithm is the one the client signs with.
func (c *Client) algorithm() string {
	if c.Algorithm == "" {
		return SHA256
	}
	return strings.ToLower(c.Algorithm)
}

// Error is a FAILED answer from BBB, or an answer that is not BBB's. It
// names the call and the API base, never the query of a signed call nor
// its checksum.
type Error struct {
	Call       string
	URL        string // the API base the call went to
	Key        string // messageKey, e.g. checksumError
	Message    string
	HTTPStatus int // set when the answer was not BBB XML
	// Algorithm the refused call was signed with (signed calls only).
	Algorithm string
}

func (e *Error) Error() string {
	where := nameOf(e.Call)
	if e.URL != "" {
		where += " on " + e.URL
	}
	switch {
	case e.Key == "checksumError":
		return fmt.Sprintf("BBB %s: checksum refused (checksumError): the node's secret is not the one omc signs with, or the node does not accept %s checksums (bbb-web's supportedChecksumAlgorithms)", where, e.Algorithm)
	case e.Key == "" && e.HTTPStatus != 0:
		return fmt.Sprintf("BBB %s: HTTP %d: %s", where, e.HTTPStatus, e.Message)
	case e.Message == "":
		return fmt.Sprintf("BBB %s: %s", where, e.Key)
	}
	return fmt.Sprintf("BBB %s: %s (%s)", where, e.Message, e.Key)
}

// IsChecksumError reports whether BBB refused the call's checksum: the
// secret omc holds is not the one the node runs with, or the node does
// not accept the algorithm.
func IsChecksumError(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Key == "checksumError"
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
	// ModeratorPW is what end wants as password on BBB before 2.6. A
	// secret of the meeting's: never printed, kept out of JSON.
	ModeratorPW string `xml:"moderatorPW" json:"-"`
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

// Users is the meeting's people: BBB's participantCount, which counts
// everyone, moderators included (moderatorCount is a part of it).
// Scalelite's load adds moderatorCount once more; omc does not.
func (m Meeting) Users() int { return m.ParticipantCount }

// Root asks the unsigned API root, which needs no secret: it proves the
// API answers and reports the versions.
func (c *Client) Root(ctx context.Context) (Version, error) {
	var r response
	if err := c.call(ctx, "", nil, false, &r); err != nil {
		return Version{}, err
	}
	return Version{Version: r.Version, APIVersion: r.APIVersion, BBBVersion: r.BBBVersion}, nil
}

// Meetings lists the node's meetings with a signed getMeetings: success
// proves the secret.
func (c *Client) Meetings(ctx context.Context) ([]Meeting, error) {
	var r response
	if err := c.call(ctx, "getMeetings", nil, true, &r); err != nil {
		return nil, err
	}
	return r.Meetings, nil
}

// IsMeetingRunning asks whether a meeting runs.
func (c *Client) IsMeetingRunning(ctx context.Context, meetingID string) (bool, error) {
	var r response
	if err := c.call(ctx, "isMeetingRunning", url.Values{"meetingID": {meetingID}}, true, &r); err != nil {
		return false, err
	}
	return r.Running, nil
}

// End asks the node to end a meeting. BBB ends it asynchronously: the
// meeting goes on being listed for a while; confirm with getMeetings or
// IsMeetingRunning. password is the meeting's moderatorPW (getMeetings
// lists it): BBB before 2.6 requires it, later versions ignore it.
func (c *Client) End(ctx context.Context, meetingID, password string) error {
	q := url.Values{"meetingID": {meetingID}}
	if password != "" {
		q.Set("password", password)
	}
	return c.call(ctx, "end", q, true, &response{})
}

// Get makes a signed call and decodes a SUCCESS answer into v, an XML
// target for <response> (a FAILED one is an *Error). Errors name the
// call and the API base, never the query or checksum.
func (c *Client) Get(ctx context.Context, call string, q url.Values, v any) error {
	return c.call(ctx, call, q, true, v)
}

// signedURL is the signed URL of a call. It carries the checksum: it is
// sent, never printed nor put in an error.
func (c *Client) signedURL(call string, q url.Values) string {
	query := q.Encode()
	sum := Checksum(c.algorithm(), call, query, c.Secret)
	if query != "" {
		query += "&"
	}
	return c.base() + "/" + call + "?" + query + "checksum=" + sum
}

func (c *Client) base() string { return strings.TrimRight(c.URL, "/") }

// envelope is what every answer is checked for before it is decoded.
type envelope struct {
	ReturnCode string `xml:"returncode"`
	MessageKey string `xml:"messageKey"`
	Message    string `xml:"message"`
}

func (c *Client) call(ctx context.Context, call string, q url.Values, signed bool, v any) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("BBB %s on %s: "+format, append([]any{nameOf(call), c.base()}, a...)...)
	}
	var u string
	switch {
	case signed:
		switch c.algorithm() {
		case SHA1, SHA256, SHA384, SHA512:
		default:
			return fail("checksum algorithm %q is none of sha1, sha256, sha384, sha512", c.Algorithm)
		}
		u = c.signedURL(call, q)
	case len(q) > 0:
		u = c.base() + "/" + call + "?" + q.Encode()
	default:
		u = c.base() + "/" + call
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fail("the API URL is not valid")
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		// *url.Error quotes the whole URL, query and checksum included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fail("%w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fail("reading the answer: %w", err)
	}
	var env envelope
	if err := xml.Unmarshal(body, &env); err != nil || env.ReturnCode == "" {
		return &Error{Call: call, URL: c.base(), HTTPStatus: resp.StatusCode, Message: "not a BBB API answer: " + snippet(scrub(body, call))}
	}
	if env.ReturnCode != "SUCCESS" {
		// A node or proxy may echo the request: its words are scrubbed too.
		e := &Error{Call: call, URL: c.base(), Key: string(scrub([]byte(env.MessageKey), call)), Message: strings.TrimSpace(string(scrub([]byte(env.Message), call)))}
		if signed {
			e.Algorithm = c.algorithm()
		}
		return e
	}
	if err := xml.Unmarshal(body, v); err != nil {
		// The decoder quotes values it could not read.
		return fail("decoding the answer: %s", scrub([]byte(err.Error()), call))
	}
	return nil
}

func nameOf(call string) string {
	if call == "" {
		return "API root"
	}
	return call
}

// checksumParam finds a checksum parameter wherever a page echoes one.
var checksumParam = regexp.MustCompile(`(?i)checksum(=|%3D)[0-9a-f]*`)

// scrub cuts the query of the call and any checksum out of a page that
// echoes the request (a proxy's error page, say).
func scrub(b []byte, call string) []byte {
	if call != "" {
		q := regexp.MustCompile(`(/` + regexp.QuoteMeta(call) + `)\?[^\s"'<>]*`)
		b = q.ReplaceAll(b, []byte("$1"))
	}
	return checksumParam.ReplaceAll(b, []byte("checksum=[redacted]"))
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
