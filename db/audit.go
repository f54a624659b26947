package db

import (
	"context"

	"github.com/sessiond/sessiond/internal/model"
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
