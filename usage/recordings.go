package usage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/omc-coop/omc/pool"
	"github.com/omc-coop/omc/pool/bbbapi"
)

// recording is what omc reads of a getRecordings entry: its ID (hashed
// before it is stored), its tenant (the metadata Scalelite passed to
// create) and, where the answer has one, its size. Names and
// participants are not read.
//
// Stock bbb-web (RecMetaXmlHelper.getRecordings2x, 2.6 to 3.0) and
// Scalelite send no size at all: the recording's size is then unknown,
// and never taken as 0. Builds that add <size> to each playback format
// (Mconf's) have it read: known when every format carries one.
type recording struct {
	RecordID string          `xml:"recordID"`
	Metadata bbbapi.Metadata `xml:"metadata"`
	Formats  []struct {
		Size *int64 `xml:"size"`
	} `xml:"playback>format"`
}

type recordingsResponse struct {
	// List is nil when the answer has no <recordings> element at all:
	// then it is not a getRecordings answer, and nothing is known.
	List *struct {
		Recordings []recording `xml:"recording"`
	} `xml:"recordings"`
	MessageKey string `xml:"messageKey"`
}

// listed is one recording of a getRecordings answer.
type listed struct {
	ID     string
	Tenant string // its tenant-id metadata ("" without)
	// Size in bytes, when SizeKnown (never from stock BBB or Scalelite).
	Size      int64
	SizeKnown bool
}

// recordings asks a getRecordings (published and unpublished, BBB's and
// Scalelite's default) of a node or of Scalelite.
func recordings(ctx context.Context, c *bbbapi.Client) ([]listed, error) {
	var r recordingsResponse
	if err := c.Get(ctx, "getRecordings", nil, &r); err != nil {
		return nil, err
	}
	if r.List == nil {
		if r.MessageKey == "noRecordings" {
			return nil, nil
		}
		// A SUCCESS that lists nothing is not "no recordings": the
		// minute is stored as unknown, never as zero.
		return nil, fmt.Errorf("getRecordings on %s: the answer has no <recordings> list (and no noRecordings messageKey)", c.URL)
	}
	out := make([]listed, 0, len(r.List.Recordings))
	for _, rec := range r.List.Recordings {
		l := listed{ID: strings.TrimSpace(rec.RecordID), Tenant: rec.Metadata[TenantMetaKey]}
		l.SizeKnown = len(rec.Formats) > 0
		for _, f := range rec.Formats {
			if f.Size == nil {
				l.SizeKnown = false
				break
			}
			l.Size += *f.Size
		}
		if !l.SizeKnown {
			l.Size = 0
		}
		out = append(out, l)
	}
	return out, nil
}

// recordingKey identifies a recording without revealing it: a salted hash
// of its recordID, the same on the node that made it and in Scalelite
// after the import.
func recordingKey(salt []byte, recordID string) string {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte("recording\x00" + recordID))
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Scalelite is a pool's Scalelite as the collector asks it for the
// recordings its importer took off the nodes: getRecordings of the BBB
// API it serves at URL/bigbluebutton/api.
//
// Without multitenancy Scalelite checks that call against
// LOADBALANCER_SECRET (Secret). With multitenancy it takes the tenant
// from the first label of the host the call was sent to
// (fetch_tenant_name_from_url in Scalelite's api_helper.rb), checks the
// checksum against that tenant's secrets, refuses a host that names no
// tenant, and lists that tenant's recordings only. So the collector asks
// once per tenant, at https://NAME.HOST/bigbluebutton/api (HOST is URL's
// host), signed with the tenant's first secret: the tenant names and
// secrets come from Pool. That host must resolve where collect runs, as
// it does for the tenant's own front end. Recordings carrying no
// tenant-id are then listed by no call.
type Scalelite struct {
	// Name is the key its samples are stored under (default URL's host).
	Name   string
	URL    string // Scalelite's base URL, https://scalelite.example.org
	Secret string // LOADBALANCER_SECRET; used to sign, never stored
	// Algorithm signs getRecordings (bbbapi.SHA256 when empty): Scalelite
	// checks it against LOADBALANCER_CHECKSUM_ALGORITHM, as its API.
	Algorithm string
	// Pool is its management API, for the tenants (nil: no multitenancy).
	Pool pool.Pool
}

func (s Scalelite) name() string {
	if s.Name != "" {
		return s.Name
	}
	if u, err := url.Parse(s.URL); err == nil && u.Host != "" {
		return u.Host
	}
	return s.URL
}

// apiBase is the BBB API base of Scalelite, on the tenant's host when
// tenant is not "".
func (s Scalelite) apiBase(tenant string) (string, error) {
	u, err := url.Parse(strings.TrimRight(s.URL, "/"))
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("Scalelite URL %q is not a URL", s.URL)
	}
	if tenant != "" {
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil {
			host, port = u.Host, ""
		}
		host = tenant + "." + host
		if port != "" {
			host = net.JoinHostPort(host, port)
		}
		u.Host = host
	}
	u.Path = strings.TrimSuffix(u.Path, "/bigbluebutton/api") + "/bigbluebutton/api"
	return u.String(), nil
}

// fetchScalelite lists every recording the Scalelite holds, with the
// tenant each call was made for ("" without multitenancy). tenants is
// the pool's tenant list; tenantsErr its error (ErrMultitenancyDisabled:
// one call with the load-balancer secret).
func fetchScalelite(ctx context.Context, hc *http.Client, s Scalelite, tenants []pool.Tenant, tenantsErr error) ([]listed, error) {
	type call struct{ tenant, tenantID, secret string }
	var calls []call
	switch {
	case s.Pool == nil || errors.Is(tenantsErr, pool.ErrMultitenancyDisabled):
		calls = []call{{secret: s.Secret}}
	case tenantsErr != nil:
		return nil, fmt.Errorf("the tenant list (each tenant's recordings are asked with its secret): %w", tenantsErr)
	default:
		for _, t := range tenants {
			if len(t.Secrets) == 0 || t.Secrets[0] == "" {
				return nil, fmt.Errorf("tenant %s has no secret to sign getRecordings with", t.Name)
			}
			calls = append(calls, call{t.Name, t.ID, t.Secrets[0]})
		}
	}
	var out []listed
	for _, c := range calls {
		base, err := s.apiBase(c.tenant)
		if err != nil {
			return nil, err
		}
		l, err := recordings(ctx, &bbbapi.Client{URL: base, Secret: c.secret, Algorithm: s.Algorithm, HTTP: hc})
		if err != nil {
			if c.tenant != "" {
				return nil, fmt.Errorf("tenant %s: %w", c.tenant, err)
			}
			return nil, err
		}
		for i := range l {
			if l[i].Tenant == "" {
				// Scalelite listed it for this tenant.
				l[i].Tenant = c.tenantID
			}
		}
		out = append(out, l...)
	}
	return out, nil
}
