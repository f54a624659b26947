package db

// Deadlines: which sessions are due, the next deadline and warning the
// scheduler waits for, EXPIRING_SOON claims, and batched activity writes.

import (
	"context"
	"database/sql"
	"sort"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/webhook"
)

// DueSessions returns up to limit active sessions whose deadline is at or
// before now, earliest first.
func (d *DB) DueSessions(ctx context.Context, now time.Time, limit int) ([]model.Session, error) {
	var rows []sessionRow
	if err := d.bun.NewSelect().Model(&rows).Where("ended_at IS NULL AND expires_at <= ?", ms(now)).
		Order("expires_at").Limit(int64(limit)).Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]model.Session, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// NextDeadline returns the earliest deadline of any active session; ok is
// false when no session is active.
func (d *DB) NextDeadline(ctx context.Context) (t time.Time, ok bool, err error) {
	var v sql.NullInt64
	if err := d.bun.NewSelect().Model((*sessionRow)(nil)).ColumnExpr("min(expires_at)").Where("ended_at IS NULL").Scan(ctx, &v); err != nil {
		return time.Time{}, false, err
	}
	if !v.Valid {
		return time.Time{}, false, nil
	}
	return fromMS(v.Int64), true, nil
}

// unwarned selects active sessions not yet warned about their current deadline.
const unwarned = "ended_at IS NULL AND (warned_expires_at IS NULL OR warned_expires_at <> expires_at)"

// warnAt is when a session's EXPIRING_SOON is due: lead before its deadline,
// or half its idle timeout when that is shorter (so that a short timeout
// is not warned about the moment it starts).
const warnAt = "expires_at - CASE WHEN idle_timeout_ms / 2 < ? THEN idle_timeout_ms / 2 ELSE ? END"

// NextWarning returns the earliest time an EXPIRING_SOON warning is due
// for an active session not yet warned about its deadline; ok is false
// when none is.
func (d *DB) NextWarning(ctx context.Context, lead time.Duration) (t time.Time, ok bool, err error) {
	var v sql.NullInt64
	l := lead.Milliseconds()
	if err := d.bun.NewSelect().Model((*sessionRow)(nil)).ColumnExpr("min("+warnAt+")", l, l).Where(unwarned).Scan(ctx, &v); err != nil {
		return time.Time{}, false, err
	}
	if !v.Valid {
		return time.Time{}, false, nil
	}
	return fromMS(v.Int64), true, nil
}

// MarkWarned claims up to limit active sessions whose warning is due at
// now (see NextWarning) and that were not warned about their deadline,
// marks them warned and returns them. The claim is one conditional update,
// so each deadline is warned about once.
func (d *DB) MarkWarned(ctx context.Context, now time.Time, lead time.Duration, limit int) ([]model.Session, error) {
	var rows []sessionRow
	l := lead.Milliseconds()
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var ids []string
		if err := tx.NewSelect().Model((*sessionRow)(nil)).Column("id").Where(unwarned).Where(warnAt+" <= ?", l, l, ms(now)).
			Order("expires_at").Limit(int64(limit)).Scan(ctx, &ids); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		if _, err := tx.NewUpdate().Model(&rows).Set("warned_expires_at = expires_at").
			Where("id IN (?)", bun.List(ids)).Where(unwarned).Where(warnAt+" <= ?", l, l, ms(now)).
			Returning("*").Exec(ctx, &rows); err != nil {
			return err
		}
		warned := make([]model.Session, len(rows))
		for i := range rows {
			warned[i] = rows[i].model()
		}
		return writeOutbox(ctx, tx, d.endpoints, d.now(), sessionEvents(webhook.SessionExpiringSoon, warned, func(model.Session) time.Time { return now })...)
	})
	if err != nil {
		return nil, err
	}
	out := make([]model.Session, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// TouchSessions records activity: for each session id, the latest activity
// time. The idle deadline moves to that time plus the session's idle
// timeout (never past its absolute deadline); earlier times change nothing.
// All touches are written in one transaction.
func (d *DB) TouchSessions(ctx context.Context, touches map[string]time.Time) error {
	if len(touches) == 0 {
		return nil
	}
	// Update in a fixed order, so that two instances writing overlapping
	// sessions cannot deadlock.
	ids := make([]string, 0, len(touches))
	for id := range touches {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		for _, id := range ids {
			at := ms(touches[id])
			// The same rule as model.Session.WithActivity, in SQL so that a
			// touch needs no read: idle = t + timeout; expires = min(idle, absolute).
			if _, err := tx.NewUpdate().Model((*sessionRow)(nil)).
				Set("last_active_at = ?", at).
				Set("idle_expires_at = ? + idle_timeout_ms", at).
				Set("expires_at = CASE WHEN absolute_expires_at IS NOT NULL AND absolute_expires_at < ? + idle_timeout_ms THEN absolute_expires_at ELSE ? + idle_timeout_ms END", at, at).
				// Callers touch only sessions they found live (counting
				// activity not written yet, which may be older than the
				// stored deadline), so no deadline guard here; an ended
				// session is never touched.
				Where("id = ? AND ended_at IS NULL AND last_active_at < ?", id, at).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}
