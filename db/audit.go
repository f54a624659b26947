package db

// The audit trail: the audit_log row, writing an entry inside the caller's
// transaction, and listing entries. Each aggregate's file defines what the
// trail records of it (its *Audit view type).

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sessiond/sessiond/internal/model"
	"github.com/uptrace/bun"
)

// AuditEntries lists audit entries newest first; tenantID "" lists all.
func (d *DB) AuditEntries(ctx context.Context, tenantID, beforeID string, limit int) ([]model.AuditEntry, bool, error) {
	var rows []auditRow
	q := d.bun.NewSelect().Model(&rows)
	if tenantID != "" {
		q = q.Where("tenant_id = ?", tenantID)
	}
	if beforeID != "" {
		q = q.Where("id < ?", beforeID)
	}
	if err := q.Order("id DESC").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, false, err
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	out := make([]model.AuditEntry, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, more, nil
}

type auditRow struct {
	bun.BaseModel `bun:"table:audit_log"`
	ID            string    `bun:"id,pk"`
	TenantID      *string   `bun:"tenant_id"`
	ActorKind     string    `bun:"actor_kind,notnull"`
	ActorID       string    `bun:"actor_id,notnull"`
	Action        string    `bun:"action,notnull"`
	TargetType    string    `bun:"target_type,notnull"`
	TargetID      string    `bun:"target_id,notnull"`
	Before        string    `bun:"before,notnull"`
	After         string    `bun:"after,notnull"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
}

func (r *auditRow) model() model.AuditEntry {
	e := model.AuditEntry{
		ID: r.ID, Actor: model.Actor{Kind: model.ActorKind(r.ActorKind), ID: r.ActorID},
		Action: r.Action, TargetType: r.TargetType, TargetID: r.TargetID,
		Before: r.Before, After: r.After, CreatedAt: r.CreatedAt.UTC(),
	}
	if r.TenantID != nil {
		e.TenantID = *r.TenantID
	}
	return e
}

// writeAudit records one change inside the caller's transaction.
func (d *DB) writeAudit(ctx context.Context, idb bun.IDB, e model.AuditEntry, before, after any) error {
	row := auditRow{
		ID: newID(), ActorKind: string(e.Actor.Kind), ActorID: e.Actor.ID,
		Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID,
		Before: jsonOrEmpty(before), After: jsonOrEmpty(after), CreatedAt: d.now(),
	}
	if e.TenantID != "" {
		row.TenantID = &e.TenantID
	}
	_, err := idb.NewInsert().Model(&row).Exec(ctx)
	return err
}

func jsonOrEmpty(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
