package db

// The sessions table's row and its conversions. Instants are Unix
// milliseconds, so deadline arithmetic is exact in SQL on every dialect.

import (
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/policy"
)

type sessionRow struct {
	bun.BaseModel     `bun:"table:sessions"`
	ID                string  `bun:"id,pk"`
	TokenHash         string  `bun:"token_hash,notnull"`
	UserID            string  `bun:"user_id,notnull"`
	TenantID          string  `bun:"tenant_id,notnull"`
	CreatedAt         int64   `bun:"created_at,notnull"`
	LastActiveAt      int64   `bun:"last_active_at,notnull"`
	IdleExpiresAt     int64   `bun:"idle_expires_at,notnull"`
	AbsoluteExpiresAt *int64  `bun:"absolute_expires_at"`
	ExpiresAt         int64   `bun:"expires_at,notnull"`
	IdleTimeoutMS     int64   `bun:"idle_timeout_ms,notnull"`
	IPAddress         string  `bun:"ip_address,notnull"`
	UserAgent         string  `bun:"user_agent,notnull"`
	Device            string  `bun:"device,notnull"`
	EndedAt           *int64  `bun:"ended_at"`
	EndReason         *string `bun:"end_reason"`
	EndedByKind       *string `bun:"ended_by_kind"`
	EndedByID         *string `bun:"ended_by_id"`
	WarnedExpiresAt   *int64  `bun:"warned_expires_at"`
	// EndWrittenAt is when the end was written, which is later than
	// EndedAt for a session that ended at a deadline nobody swept in time.
	EndWrittenAt *int64 `bun:"end_written_at"`
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func fromMSPtr(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := fromMS(*v)
	return &t
}

func msPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := ms(*t)
	return &v
}

func (r *sessionRow) model() model.Session {
	s := model.Session{
		ID: r.ID, TokenHash: r.TokenHash, UserID: r.UserID, TenantID: r.TenantID,
		CreatedAt: fromMS(r.CreatedAt), LastActiveAt: fromMS(r.LastActiveAt),
		IdleExpiresAt: fromMS(r.IdleExpiresAt), AbsoluteExpiresAt: fromMSPtr(r.AbsoluteExpiresAt),
		ExpiresAt: fromMS(r.ExpiresAt), IdleTimeout: time.Duration(r.IdleTimeoutMS) * time.Millisecond,
		IPAddress: r.IPAddress, UserAgent: r.UserAgent, Device: r.Device,
		EndedAt: fromMSPtr(r.EndedAt),
	}
	if r.EndReason != nil {
		s.EndReason = model.EndReason(*r.EndReason)
	}
	if r.EndedByKind != nil {
		a := model.Actor{Kind: model.ActorKind(*r.EndedByKind)}
		if r.EndedByID != nil {
			a.ID = *r.EndedByID
		}
		s.EndedBy = &a
	}
	return s
}

func sessionRowOf(s model.Session) sessionRow {
	return sessionRow{
		ID: s.ID, TokenHash: s.TokenHash, UserID: s.UserID, TenantID: s.TenantID,
		CreatedAt: ms(s.CreatedAt), LastActiveAt: ms(s.LastActiveAt),
		IdleExpiresAt: ms(s.IdleExpiresAt), AbsoluteExpiresAt: msPtr(s.AbsoluteExpiresAt),
		ExpiresAt: ms(s.ExpiresAt), IdleTimeoutMS: s.IdleTimeout.Milliseconds(),
		IPAddress: s.IPAddress, UserAgent: s.UserAgent, Device: s.Device,
	}
}

func activeOf(r *sessionRow) policy.Active {
	return policy.Active{ID: r.ID, UserID: r.UserID, TenantID: r.TenantID, CreatedAt: fromMS(r.CreatedAt), LastActiveAt: fromMS(r.LastActiveAt)}
}

type sessionAudit struct {
	UserID    string `json:"userId"`
	Device    string `json:"device,omitempty"`
	IPAddress string `json:"ipAddress,omitempty"`
	EndReason string `json:"endReason,omitempty"`
}
