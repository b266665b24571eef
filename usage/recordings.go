package usage

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/omc-coop/omc/pool/bbbapi"
)

// recording is what omc reads of a getRecordings entry: its tenant (the
// metadata Scalelite passed to create) and its size. Names and
// participants are not read.
type recording struct {
	Metadata bbbapi.Metadata `xml:"metadata"`
	// Size is the published formats' total (BBB 2.6 and later); older
	// versions only give per-format sizes.
	Size    int64 `xml:"size"`
	Formats []struct {
		Size int64 `xml:"size"`
	} `xml:"playback>format"`
}

type recordingsResponse struct {
	ReturnCode string      `xml:"returncode"`
	MessageKey string      `xml:"messageKey"`
	Message    string      `xml:"message"`
	Recordings []recording `xml:"recordings>recording"`
}

// recordings asks a node's getRecordings (published and unpublished, as
// BBB's default) and sums the bytes per tenant ID.
func recordings(ctx context.Context, c *bbbapi.Client) (map[string]int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.CallURL("getRecordings", nil), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("BBB getRecordings: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("BBB getRecordings: %w", err)
	}
	var r recordingsResponse
	if err := xml.Unmarshal(body, &r); err != nil || r.ReturnCode == "" {
		return nil, fmt.Errorf("BBB getRecordings: HTTP %d: not a BBB API answer", resp.StatusCode)
	}
	if r.ReturnCode != "SUCCESS" {
		return nil, &bbbapi.Error{Call: "getRecordings", Key: r.MessageKey, Message: strings.TrimSpace(r.Message)}
	}
	out := map[string]int64{}
	for _, rec := range r.Recordings {
		size := rec.Size
		if size <= 0 {
			for _, f := range rec.Formats {
				size += f.Size
			}
		}
		out[rec.Metadata[TenantMetaKey]] += size
	}
	return out, nil
}
