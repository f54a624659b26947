package db

// Sessions: creation under the concurrency limit, lookups and listings,
// and ending sessions (the one place a session's end and its audit entry are
// written). Deadlines and activity writes are in deadlines.go.

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/policy"
	"github.com/sessiond/sessiond/internal/webhook"
)

// CreateSession stores the session the planner plans for a member of a
// tenant and ends the user's oldest live sessions there beyond the plan's
// Keep (CONCURRENT_SESSION_LIMIT), in one transaction. Transactions that create
// sessions are serialised (SQLite's write lock), so two logins racing for the
// last slot see each other. NOT_FOUND when the user is not a member.
// It returns the new session and the sessions it ended.
func (d *DB) CreateSession(ctx context.Context, actor model.Actor, userID, tenantID string, plan policy.SessionPlanner) (model.Session, []model.Session, error) {
	var created model.Session
	var ended []model.Session
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		now := d.now()
		// Policy locks first, then the membership row, in the same order as
		// every other writer, so that no two transactions wait on each other.
		if err := d.lockPolicy(ctx, tx, true, policy.EnvironmentScope, tenantID); err != nil {
			return err
		}
		// Lock the membership row: on PostgreSQL, concurrent logins of one
		// user (from any instance) queue here, so the concurrency limit holds.
		// SQLite's write transactions are serialised already.
		q := tx.NewSelect().Model((*membershipRow)(nil)).Column("user_id").Where("user_id = ? AND tenant_id = ?", userID, tenantID)
		if d.dialect == Postgres {
			q = q.For("UPDATE")
		}
		var locked []string
		if err := q.Scan(ctx, &locked); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if len(locked) == 0 {
			return apperr.Errorf(apperr.NotFound, "user %s is not a member of tenant %s", userID, tenantID)
		}
		env, tenant, err := policyLevels(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		p := plan(env, tenant, now)
		s := p.Session
		s.ID, s.UserID, s.TenantID = newID(), userID, tenantID
		if p.Keep >= 0 {
			ids, err := liveBeyond(ctx, tx, userID, tenantID, p.LiveAfter, p.Keep)
			if err != nil {
				return err
			}
			ends := make([]model.SessionEnd, len(ids))
			for i, id := range ids {
				ends[i] = model.SessionEnd{ID: id, Reason: model.EndConcurrentSessionLimit}
			}
			if ended, err = d.endSessions(ctx, tx, ends, model.Actor{Kind: model.ActorSystem}, now, overdue{}); err != nil {
				return err
			}
		}
		row := sessionRowOf(s)
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return err
		}
		created = row.model()
		if err := d.writeAudit(ctx, tx, model.AuditEntry{TenantID: tenantID, Actor: actor, Action: "session.created", TargetType: "session", TargetID: s.ID},
			nil, sessionAudit{UserID: userID, Device: s.Device, IPAddress: s.IPAddress}); err != nil {
			return err
		}
		return writeOutbox(ctx, tx, d.endpoints, now, webhook.SessionEvent(webhook.SessionCreated, created, created.CreatedAt))
	})
	return created, ended, err
}

// liveBeyond returns the ids of a user's live sessions in a tenant (not
// ended, deadline after liveAfter) other than the keep newest: the oldest,
// which the concurrency limit ends. It walks sessions_user_live_idx from the
// newest, so it reads keep+1 index entries when the user is within the
// limit, however many live sessions the user has.
func liveBeyond(ctx context.Context, idb bun.IDB, userID, tenantID string, liveAfter time.Time, keep int) ([]string, error) {
	var ids []string
	q := idb.NewSelect().Model((*sessionRow)(nil)).Column("id").
		Where("user_id = ? AND tenant_id = ? AND ended_at IS NULL AND expires_at > ?", userID, tenantID, ms(liveAfter)).
		// SQLite takes OFFSET only after a LIMIT: ask for all of the rest.
		OrderExpr("created_at DESC, id DESC").Offset(int64(keep)).Limit(math.MaxInt64)
	err := q.Scan(ctx, &ids)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return ids, err
}

func terminationsToEnds(ts []policy.Termination) []model.SessionEnd {
	out := make([]model.SessionEnd, len(ts))
	for i, t := range ts {
		out[i] = model.SessionEnd{ID: t.ID, Reason: t.Reason}
	}
	return out
}

// SessionByTokenHash finds a session, ended or not, by its token's hash.
// NOT_FOUND when there is none.
func (d *DB) SessionByTokenHash(ctx context.Context, hash string) (model.Session, error) {
	var row sessionRow
	if err := d.bun.NewSelect().Model(&row).Where("token_hash = ?", hash).Scan(ctx); err != nil {
		return model.Session{}, notFoundOr(err, "session not found")
	}
	return row.model(), nil
}

// Session returns a session by id. NOT_FOUND when there is none.
func (d *DB) Session(ctx context.Context, id string) (model.Session, error) {
	var row sessionRow
	if err := d.bun.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		return model.Session{}, notFoundOr(err, "session %s not found", id)
	}
	return row.model(), nil
}

// Sessions lists sessions matching the filter, newest first.
func (d *DB) Sessions(ctx context.Context, f model.SessionFilter) ([]model.Session, error) {
	var rows []sessionRow
	q := d.bun.NewSelect().Model(&rows)
	if len(f.UserIDs) > 0 {
		q = q.Where("user_id IN (?)", bun.List(f.UserIDs))
	}
	if f.TenantID != "" {
		q = q.Where("tenant_id = ?", f.TenantID)
	}
	if f.ActiveOnly {
		q = q.Where("ended_at IS NULL")
	}
	if err := q.OrderExpr("created_at DESC, id DESC").Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]model.Session, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// CountActiveSessions counts active sessions per user, in one tenant or all.
// Every requested user has a count, zero when it has no active session.
func (d *DB) CountActiveSessions(ctx context.Context, userIDs []string, tenantID string) (map[string]int, error) {
	var rows []struct {
		UserID string `bun:"user_id"`
		N      int    `bun:"n"`
	}
	q := d.bun.NewSelect().Model((*sessionRow)(nil)).ColumnExpr("user_id, count(*) AS n").
		Where("ended_at IS NULL AND user_id IN (?)", bun.List(userIDs)).Group("user_id")
	if tenantID != "" {
		q = q.Where("tenant_id = ?", tenantID)
	}
	if err := q.Scan(ctx, &rows); err != nil {
		return nil, err
	}
	out := make(map[string]int, len(userIDs))
	// Users without rows have no active session; leaving them out would make
	// the batching loader report them as not found.
	for _, id := range userIDs {
		out[id] = 0
	}
	for _, r := range rows {
		out[r.UserID] = r.N
	}
	return out, nil
}

// EndSessions ends the listed sessions that are still active, recording
// reason and actor, with an audit entry each, in one transaction. A session
// whose deadline is at or before overdueBy was over already: it ends at its
// deadline with that deadline's reason (IDLE_TIMEOUT or FORCE_RELOGIN), by
// the system, whatever was asked; a zero overdueBy treats none so. It
// returns the sessions it ended; sessions ended already are left alone.
func (d *DB) EndSessions(ctx context.Context, ends []model.SessionEnd, actor model.Actor, overdueBy time.Time) ([]model.Session, error) {
	var out []model.Session
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		out, err = d.endSessions(ctx, tx, ends, actor, d.now(), overdue{by: overdueBy})
		return err
	})
	return out, err
}

// EndDueSessions ends those of the listed sessions whose deadline is at or
// before dueBy (re-checked here, so activity written meanwhile keeps a
// session alive), each at its deadline and with its reason (IDLE_TIMEOUT or
// FORCE_RELOGIN), by the system, in one transaction. It returns the
// sessions it ended.
func (d *DB) EndDueSessions(ctx context.Context, ids []string, dueBy time.Time) ([]model.Session, error) {
	ends := make([]model.SessionEnd, len(ids))
	for i, id := range ids {
		ends[i] = model.SessionEnd{ID: id}
	}
	var out []model.Session
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		out, err = d.endSessions(ctx, tx, ends, model.Actor{Kind: model.ActorSystem}, d.now(), overdue{by: dueBy, only: true})
		return err
	})
	return out, err
}

// EndUserSessions ends, in one transaction, every active session of a user
// (in one tenant, or all when tenantID is ""), except the one named by
// except, with reason and actor; sessions already past a deadline at or
// before overdueBy end as EndSessions says. It returns the sessions it
// ended. Listing and ending in one transaction means a login racing in is
// either ended too or not yet committed (on PostgreSQL the membership lock
// orders them).
func (d *DB) EndUserSessions(ctx context.Context, userID, tenantID, except string, reason model.EndReason, actor model.Actor, overdueBy time.Time) ([]model.Session, error) {
	var out []model.Session
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		where, args := "user_id = ? AND id <> ?", []any{userID, except}
		if tenantID != "" {
			if err := d.lockMemberships(ctx, tx, "user_id = ? AND tenant_id = ?", userID, tenantID); err != nil {
				return err
			}
			where, args = where+" AND tenant_id = ?", append(args, tenantID)
		} else if err := d.lockMemberships(ctx, tx, "user_id = ?", userID); err != nil {
			return err
		}
		ids, err := activeSessionIDs(ctx, tx, where, args...)
		if err != nil {
			return err
		}
		ends := make([]model.SessionEnd, len(ids))
		for i, id := range ids {
			ends[i] = model.SessionEnd{ID: id, Reason: reason}
		}
		now := d.now()
		if out, err = d.endSessions(ctx, tx, ends, actor, now, overdue{by: overdueBy}); err != nil {
			return err
		}
		if reason != model.EndRevokedByAdmin {
			return nil
		}
		// An admin's sign-out is a fact of its own, reported with its
		// count even when no session was active.
		return writeOutbox(ctx, tx, d.endpoints, now, webhook.SignedOutEvent(userID, tenantID, len(out), actor, now))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// endBatch bounds the ids in one UPDATE, below every dialect's parameter limit.
const endBatch = 500

// overdue says how endSessions treats sessions whose stored deadline has
// passed: such a session was over at its deadline, whatever ends it now.
type overdue struct {
	// by: a session whose deadline is at or before it ends at the
	// deadline, with the deadline's reason, by the system. Zero: none does.
	by time.Time
	// only ends nothing else: the scheduler's sweep.
	only bool
}

// dueReasonSQL is policy.DueReason over a row: the earlier deadline ended
// the session; forced re-login wins a tie.
var dueReasonSQL = "CASE WHEN absolute_expires_at IS NOT NULL AND absolute_expires_at <= idle_expires_at THEN '" +
	string(model.EndForceRelogin) + "' ELSE '" + string(model.EndIdleTimeout) + "' END"

// endSessions ends the listed active sessions, overdue ones first (see
// overdue), and writes an audit entry per session ended.
func (d *DB) endSessions(ctx context.Context, idb bun.IDB, ends []model.SessionEnd, actor model.Actor, now time.Time, due overdue) ([]model.Session, error) {
	if len(ends) == 0 {
		return nil, nil
	}
	var out []model.Session
	if !due.by.IsZero() {
		ids := make([]string, len(ends))
		for i, e := range ends {
			ids[i] = e.ID
		}
		for start := 0; start < len(ids); start += endBatch {
			var rows []sessionRow
			if _, err := idb.NewUpdate().Model(&rows).
				Set("ended_at = expires_at, end_reason = "+dueReasonSQL).
				Set("ended_by_kind = ?, ended_by_id = NULL, end_written_at = ?", string(model.ActorSystem), ms(now)).
				Where("id IN (?) AND ended_at IS NULL AND expires_at <= ?", bun.List(ids[start:min(start+endBatch, len(ids))]), ms(due.by)).
				Returning("*").Exec(ctx, &rows); err != nil {
				return nil, err
			}
			ended, err := writeEndAudits(ctx, idb, d.endpoints, rows, model.Actor{Kind: model.ActorSystem}, now)
			if err != nil {
				return nil, err
			}
			out = append(out, ended...)
		}
		if due.only {
			return out, nil
		}
		if len(out) > 0 {
			gone := make(map[string]bool, len(out))
			for _, s := range out {
				gone[s.ID] = true
			}
			rest := make([]model.SessionEnd, 0, len(ends))
			for _, e := range ends {
				if !gone[e.ID] {
					rest = append(rest, e)
				}
			}
			ends = rest
		}
	}
	byReason := map[model.EndReason][]string{}
	var order []model.EndReason
	for _, e := range ends {
		if _, ok := byReason[e.Reason]; !ok {
			order = append(order, e.Reason)
		}
		byReason[e.Reason] = append(byReason[e.Reason], e.ID)
	}
	var id *string
	if actor.ID != "" {
		id = &actor.ID
	}
	for _, reason := range order {
		ids := byReason[reason]
		for start := 0; start < len(ids); start += endBatch {
			var rows []sessionRow
			if _, err := idb.NewUpdate().Model(&rows).
				Set("ended_at = ?, end_reason = ?, ended_by_kind = ?, ended_by_id = ?, end_written_at = ?", ms(now), string(reason), string(actor.Kind), id, ms(now)).
				Where("id IN (?) AND ended_at IS NULL", bun.List(ids[start:min(start+endBatch, len(ids))])).
				Returning("*").Exec(ctx, &rows); err != nil {
				return nil, err
			}
			ended, err := writeEndAudits(ctx, idb, d.endpoints, rows, actor, now)
			if err != nil {
				return nil, err
			}
			out = append(out, ended...)
		}
	}
	return out, nil
}

// writeEndAudits records one session.ended entry per ended row, written at
// now, and returns the rows as sessions.
func writeEndAudits(ctx context.Context, idb bun.IDB, eps *endpointCache, rows []sessionRow, actor model.Actor, now time.Time) ([]model.Session, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	out := make([]model.Session, len(rows))
	audits := make([]auditRow, len(rows))
	for i := range rows {
		s := rows[i].model()
		out[i] = s
		tenant := s.TenantID
		audits[i] = auditRow{
			ID: newID(), TenantID: &tenant, ActorKind: string(actor.Kind), ActorID: actor.ID,
			Action: "session.ended", TargetType: "session", TargetID: s.ID,
			After:     jsonOrEmpty(sessionAudit{UserID: s.UserID, Device: s.Device, IPAddress: s.IPAddress, EndReason: string(s.EndReason)}),
			CreatedAt: now,
		}
	}
	if _, err := idb.NewInsert().Model(&audits).Exec(ctx); err != nil {
		return nil, err
	}
	// Every end passes here: its webhook deliveries commit with it.
	evs := sessionEvents(webhook.SessionEnded, out, func(s model.Session) time.Time { return *s.EndedAt })
	if err := writeOutbox(ctx, idb, eps, now, evs...); err != nil {
		return nil, err
	}
	return out, nil
}

// activeSessionIDs returns the ids of the active sessions matching the condition.
func activeSessionIDs(ctx context.Context, idb bun.IDB, where string, args ...any) ([]string, error) {
	var ids []string
	err := idb.NewSelect().Model((*sessionRow)(nil)).Column("id").Where("ended_at IS NULL").Where(where, args...).Scan(ctx, &ids)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return ids, err
}

// endUserRemoved ends the active sessions matching the condition with
// USER_REMOVED, except those overdue by overdueBy (see EndSessions).
func (d *DB) endUserRemoved(ctx context.Context, idb bun.IDB, actor model.Actor, overdueBy time.Time, where string, args ...any) ([]model.Session, error) {
	ids, err := activeSessionIDs(ctx, idb, where, args...)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	ends := make([]model.SessionEnd, len(ids))
	for i, id := range ids {
		ends[i] = model.SessionEnd{ID: id, Reason: model.EndUserRemoved}
	}
	return d.endSessions(ctx, idb, ends, actor, d.now(), overdue{by: overdueBy})
}
