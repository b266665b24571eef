package usage

import (
	"context"
	"time"
)

// Store keeps the samples. SQLite (OpenSQLite) is the default; the
// interface is small and its SQL portable so that a PostgreSQL store can
// stand beside it. A store holds counts per node, minute and tenant, and
// salted hashes of meeting IDs to count meetings: never names, user IDs,
// meeting names or content.
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
	// RecordingBytes the node holds for the tenant; RecordingsKnown is
	// false when the node's getRecordings failed.
	RecordingBytes  int64
	RecordingsKnown bool
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
	// Samples is the number of sample minutes with data for the tenant.
	Samples int64 `json:"samples"`
}

// Unattributed names the usage of meetings that carry no tenant-id
// (Scalelite without multitenancy, or meetings created on a node
// directly).
const Unattributed = "(unattributed)"
