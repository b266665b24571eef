package usage

import (
	"context"
	"time"
)

// Store keeps the samples. SQLite (OpenSQLite) is the default; the
// interface is small and its SQL portable so that a PostgreSQL store can
// stand beside it. A store holds counts per node, minute and tenant, and
// salted hashes of meeting and recording IDs (to count meetings, and to
// remember each recording's size): never names, user IDs, meeting names
// or content.
type Store interface {
	// Begin starts the one transaction a collect writes in: either all
	// of a sample is stored or none of it.
	Begin(ctx context.Context) (Tx, error)
	// Salt is the store's random salt for meeting keys (made once).
	Salt(ctx context.Context) ([]byte, error)
	// Usage sums each tenant's samples taken in [from, to).
	Usage(ctx context.Context, from, to time.Time) ([]TenantUsage, error)
	Close() error
}

// Tx is a collect's transaction. Nothing it wrote is seen by others until
// Commit; Rollback (or a crash) leaves the store as it was.
type Tx interface {
	// NodeSampled reports whether node was sampled at minute already.
	NodeSampled(ctx context.Context, node string, minute time.Time) (bool, error)
	// LastSample is node's latest sample before minute.
	LastSample(ctx context.Context, node string, before time.Time) (time.Time, bool, error)
	// PutTenant records a tenant's current name (Scalelite's).
	PutTenant(ctx context.Context, id, name string) error
	// PutSample records that node was sampled at minute, crediting
	// credit of time to the meetings seen. Unique per node and minute.
	PutSample(ctx context.Context, node string, minute time.Time, credit time.Duration) error
	// PutUsage records one tenant's counts on one node at one minute.
	PutUsage(ctx context.Context, u Row) error
	// PutMeeting counts a meeting (by its salted key) for a tenant, first
	// seen at minute; seeing it again only moves its last minute.
	PutMeeting(ctx context.Context, key, tenantID string, minute time.Time) error
	// RecordingSizes are the remembered recordings, by salted key.
	RecordingSizes(ctx context.Context) (map[string]RecordingSize, error)
	// PutRecordingSize remembers a recording's tenant and size (the last
	// a node listed).
	PutRecordingSize(ctx context.Context, key string, r RecordingSize) error
	// ScaleliteSampled reports whether a Scalelite's recordings were
	// sampled at minute already.
	ScaleliteSampled(ctx context.Context, scalelite string, minute time.Time) (bool, error)
	// PutScaleliteSample records that a Scalelite's getRecordings was
	// sampled at minute; known is false when it failed. Unique per
	// Scalelite and minute.
	PutScaleliteSample(ctx context.Context, scalelite string, minute time.Time, known bool) error
	// PutScaleliteRecordings records one tenant's recordings a Scalelite
	// listed at minute (after PutScaleliteSample).
	PutScaleliteRecordings(ctx context.Context, r ScaleliteRow) error
	Commit() error
	Rollback() error
}

// Row is one tenant's counts on one node in one sample.
type Row struct {
	Node     string
	Minute   time.Time
	TenantID string // "" for meetings without Scalelite's tenant-id
	// Meetings running with people in them, Users in them (BBB's
	// participantCount, moderators included), ParticipantMinutes credited.
	Meetings           int64
	Users              int64
	ParticipantMinutes int64
	// RecordingBytes the node holds for the tenant, UnknownRecordings
	// those of unknown size it holds (not in RecordingBytes);
	// RecordingsKnown is false when the node's getRecordings failed.
	RecordingBytes    int64
	UnknownRecordings int64
	RecordingsKnown   bool
}

// RecordingSize is what the store remembers of a recording.
type RecordingSize struct {
	TenantID string
	Bytes    int64
}

// ScaleliteRow is one tenant's recordings in a Scalelite's getRecordings
// at one minute that no node's row of that minute counts.
type ScaleliteRow struct {
	Scalelite string
	Minute    time.Time
	TenantID  string
	// RecordingBytes: the remembered sizes of the recordings.
	RecordingBytes int64
	// UnknownRecordings: recordings no node ever listed (size unknown,
	// not in RecordingBytes).
	UnknownRecordings int64
}

// TenantUsage is what one tenant used over a period.
type TenantUsage struct {
	TenantID string `json:"tenant_id"`
	// Tenant is the tenant's name in Scalelite (the ID when unknown;
	// Unattributed for meetings without a tenant).
	Tenant             string `json:"tenant"`
	Meetings           int64  `json:"meetings"`
	ParticipantMinutes int64  `json:"participant_minutes"`
	PeakUsers          int64  `json:"peak_users"`
	PeakRecordingBytes int64  `json:"peak_recording_bytes"`
	// UnknownRecordings is the most recordings of unknown size in one
	// sample minute (BBB's and Scalelite's getRecordings give no size),
	// not in PeakRecordingBytes: that part of the storage is unknown.
	UnknownRecordings int64 `json:"unknown_recordings,omitempty"`
	// Samples is the number of sample minutes with data for the tenant.
	Samples int64 `json:"samples"`
}

// Unattributed names the usage of meetings that carry no tenant-id
// (Scalelite without multitenancy, or meetings created on a node
// directly).
const Unattributed = "(unattributed)"
