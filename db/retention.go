package db

// Retention: the environment's retention settings (one retention_policy
// row, audited) and the batched deletes the purge runs. Each delete is one
// short transaction over at most limit rows, chosen by walking an index
// from its oldest end, so no lock is held for long.

import (
	"context"
	"database/sql"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/model"
)

// purgeLockKey is the advisory lock held by the one instance that purges.
const purgeLockKey = 0x5e55_9e12

type retentionRow struct {
	bun.BaseModel     `bun:"table:retention_policy"`
	ID                int        `bun:"id,pk"`
	EndedSessionsDays *int       `bun:"ended_sessions_days"`
	AuditDays         *int       `bun:"audit_days"`
	UpdatedAt         *time.Time `bun:"updated_at"`
}

func (r *retentionRow) model() model.RetentionSettings {
	s := model.RetentionSettings{EndedSessionsDays: r.EndedSessionsDays, AuditDays: r.AuditDays}
	if r.UpdatedAt != nil {
		t := r.UpdatedAt.UTC()
		s.UpdatedAt = &t
	}
	return s
}

// retentionAudit is what the audit trail records of the retention settings
// (null: the server's flag).
type retentionAudit struct {
	EndedSessionsDays *int `json:"endedSessionsDays"`
	AuditDays         *int `json:"auditDays"`
}

// RetentionSettings returns the environment's retention settings.
func (d *DB) RetentionSettings(ctx context.Context) (model.RetentionSettings, error) {
	var row retentionRow
	if err := d.bun.NewSelect().Model(&row).Where("id = 1").Scan(ctx); err != nil {
		return model.RetentionSettings{}, err
	}
	return row.model(), nil
}

// UpdateRetentionSettings changes the retention settings, with an audit entry.
func (d *DB) UpdateRetentionSettings(ctx context.Context, actor model.Actor, u model.RetentionUpdate) (model.RetentionSettings, error) {
	var row retentionRow
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model(&row).Where("id = 1").Scan(ctx); err != nil {
			return err
		}
		before := retentionAudit{row.EndedSessionsDays, row.AuditDays}
		if u.Reset {
			row.EndedSessionsDays, row.AuditDays = nil, nil
		}
		if u.EndedSessionsDays != nil {
			v := *u.EndedSessionsDays
			row.EndedSessionsDays = &v
		}
		if u.AuditDays != nil {
			v := *u.AuditDays
			row.AuditDays = &v
		}
		now := d.now()
		row.UpdatedAt = &now
		if _, err := tx.NewUpdate().Model(&row).WherePK().Exec(ctx); err != nil {
			return err
		}
		after := retentionAudit{row.EndedSessionsDays, row.AuditDays}
		return d.writeAudit(ctx, tx, model.AuditEntry{Actor: actor, Action: "retention.updated", TargetType: "retention", TargetID: "retentionPolicy"}, before, after)
	})
	return row.model(), err
}

// PurgeEndedSessions deletes up to limit sessions whose end was written
// before endedBefore, oldest first, in one transaction. Live sessions have
// no end and are never touched. It returns how many it deleted.
func (d *DB) PurgeEndedSessions(ctx context.Context, endedBefore time.Time, limit int) (int, error) {
	done, err := d.writeTurn(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	sub := d.bun.NewSelect().Table("sessions").Column("id").
		Where("end_written_at IS NOT NULL AND end_written_at < ?", ms(endedBefore)).
		OrderExpr("end_written_at").Limit(int64(limit))
	res, err := d.bun.NewDelete().Table("sessions").Where("id IN (?)", sub).Exec(ctx)
	return affected(res, err)
}

// PurgeAudit deletes up to limit audit entries written before before,
// oldest first, in one transaction, except those of sessions still live
// (a live session keeps its whole trail). It returns how many it deleted.
func (d *DB) PurgeAudit(ctx context.Context, before time.Time, limit int) (int, error) {
	done, err := d.writeTurn(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	res, err := d.bun.NewDelete().Table("audit_log").Where("id IN (?)", d.purgeableAudit(before).Column("a.id").Limit(int64(limit))).Exec(ctx)
	return affected(res, err)
}

func (d *DB) purgeableAudit(before time.Time) *bun.SelectQuery {
	return d.bun.NewSelect().TableExpr("audit_log AS a").
		Where("a.created_at < ?", before.UTC()).
		Where("NOT (a.target_type = 'session' AND EXISTS (SELECT 1 FROM sessions AS s WHERE s.id = a.target_id AND s.ended_at IS NULL))").
		OrderExpr("a.created_at")
}

// PurgeWebhookDeliveries deletes up to limit finished webhook deliveries
// (delivered or failed) created before before, oldest first, in one
// transaction, and returns how many it deleted. Pending ones stay: they
// are still owed (a disabled endpoint's wait for it to be enabled again).
func (d *DB) PurgeWebhookDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	done, err := d.writeTurn(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	res, err := purgeDeliveries(d.bun, before, limit).Exec(ctx)
	return affected(res, err)
}

// purgeDeliveries is PurgeWebhookDeliveries' statement. The outer
// condition repeats the status: on PostgreSQL a redelivery that makes a
// row pending again while the DELETE waits for its lock is re-checked
// against it (only the outer WHERE is), and the row stays.
func purgeDeliveries(idb bun.IDB, before time.Time, limit int) *bun.DeleteQuery {
	return idb.NewDelete().Table("webhook_deliveries").
		Where("id IN (?)", purgeableDeliveries(idb, before).Column("id").Limit(int64(limit))).
		Where("status <> 'PENDING'")
}

// purgeableDeliveries selects the finished deliveries created before
// before, through webhook_deliveries_finished_idx (its condition is
// repeated word for word, so that SQLite's planner can use it).
func purgeableDeliveries(idb bun.IDB, before time.Time) *bun.SelectQuery {
	return idb.NewSelect().Table("webhook_deliveries").
		Where("status <> 'PENDING'").Where("created_at < ?", ms(before)).OrderExpr("created_at")
}

// CountPurgeable counts what a purge would delete now: sessions ended
// before endedBefore and the finished webhook deliveries created before
// it, audit entries before auditBefore (a zero time counts none).
func (d *DB) CountPurgeable(ctx context.Context, endedBefore, auditBefore time.Time) (c model.Purgeable, err error) {
	if !endedBefore.IsZero() {
		n, err := d.bun.NewSelect().Table("sessions").
			Where("end_written_at IS NOT NULL AND end_written_at < ?", ms(endedBefore)).Count(ctx)
		if err != nil {
			return c, err
		}
		c.Sessions = int(n)
		if n, err = purgeableDeliveries(d.bun, endedBefore).Count(ctx); err != nil {
			return c, err
		}
		c.Deliveries = int(n)
	}
	if !auditBefore.IsZero() {
		q := d.bun.NewSelect().TableExpr("(?) AS p", d.purgeableAudit(auditBefore).ColumnExpr("a.id"))
		n, err := q.Count(ctx)
		if err != nil {
			return c, err
		}
		c.Audit = int(n)
	}
	return c, nil
}

// CountLiveSessions counts sessions not ended, through the partial index
// of live sessions (metrics re-base their gauge on it now and then).
func (d *DB) CountLiveSessions(ctx context.Context) (int, error) {
	n, err := d.bun.NewSelect().Table("sessions").Where("ended_at IS NULL").Count(ctx)
	return int(n), err
}

// TryPurgeLock takes the purge lock if no other instance holds it; release
// gives it back. On SQLite (one instance per file) it always succeeds.
func (d *DB) TryPurgeLock(ctx context.Context) (release func(), ok bool, err error) {
	if d.dialect != Postgres {
		return func() {}, true, nil
	}
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		return nil, false, err
	}
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", purgeLockKey).Scan(&got); err != nil || !got {
		_ = conn.Close()
		return nil, false, err
	}
	return func() {
		_, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", purgeLockKey)
		_ = conn.Close()
	}, true, nil
}

func affected(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
