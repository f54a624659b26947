package db

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/apperr"
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

// ---- policies ----

type policyRow struct {
	bun.BaseModel  `bun:"table:session_policies"`
	Scope          string    `bun:"scope,pk"`
	IdleEnabled    *bool     `bun:"idle_enabled"`
	IdleValue      *int      `bun:"idle_value"`
	IdleUnit       *string   `bun:"idle_unit"`
	ReloginEnabled *bool     `bun:"relogin_enabled"`
	ReloginValue   *int      `bun:"relogin_value"`
	ReloginUnit    *string   `bun:"relogin_unit"`
	MaxEnabled     *bool     `bun:"max_enabled"`
	MaxSessions    *int      `bun:"max_sessions"`
	UpdatedAt      time.Time `bun:"updated_at,notnull"`
}

func toggleOf(enabled *bool, value *int, unit *string) *policy.Toggle {
	if enabled == nil {
		return nil
	}
	t := &policy.Toggle{Enabled: *enabled}
	if value != nil && unit != nil {
		t.Span = &policy.Span{Value: *value, Unit: policy.Unit(*unit)}
	}
	return t
}

func (r *policyRow) overrides() policy.Overrides {
	o := policy.Overrides{
		Idle:    toggleOf(r.IdleEnabled, r.IdleValue, r.IdleUnit),
		Relogin: toggleOf(r.ReloginEnabled, r.ReloginValue, r.ReloginUnit),
	}
	if r.MaxEnabled != nil {
		o.MaxSessions = &policy.Limit{Enabled: *r.MaxEnabled, Max: r.MaxSessions}
	}
	return o
}

func policyRowOf(scope string, o policy.Overrides, now time.Time) policyRow {
	r := policyRow{Scope: scope, UpdatedAt: now}
	split := func(t *policy.Toggle) (*bool, *int, *string) {
		if t == nil {
			return nil, nil, nil
		}
		en := t.Enabled
		if t.Span == nil {
			return &en, nil, nil
		}
		v, u := t.Span.Value, string(t.Span.Unit)
		return &en, &v, &u
	}
	r.IdleEnabled, r.IdleValue, r.IdleUnit = split(o.Idle)
	r.ReloginEnabled, r.ReloginValue, r.ReloginUnit = split(o.Relogin)
	if o.MaxSessions != nil {
		en := o.MaxSessions.Enabled
		r.MaxEnabled, r.MaxSessions = &en, o.MaxSessions.Max
	}
	return r
}

// EnvironmentScope is the policy scope of the environment's own settings.
const EnvironmentScope = ""

// PolicyLevels returns the environment's and the tenant's stored policy
// settings; tenantID "" returns the environment's only.
func (d *DB) PolicyLevels(ctx context.Context, tenantID string) (env, tenant policy.Overrides, err error) {
	return policyLevels(ctx, d.bun, tenantID)
}

func policyLevels(ctx context.Context, idb bun.IDB, tenantID string) (env, tenant policy.Overrides, err error) {
	var rows []policyRow
	if err := idb.NewSelect().Model(&rows).Where("scope IN (?)", bun.List([]string{EnvironmentScope, tenantID})).Scan(ctx); err != nil {
		return env, tenant, err
	}
	for i := range rows {
		if rows[i].Scope == EnvironmentScope {
			env = rows[i].overrides()
		} else {
			tenant = rows[i].overrides()
		}
	}
	return env, tenant, nil
}

// allPolicyLevels returns every stored level, keyed by scope.
func allPolicyLevels(ctx context.Context, idb bun.IDB) (map[string]policy.Overrides, error) {
	var rows []policyRow
	if err := idb.NewSelect().Model(&rows).Scan(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]policy.Overrides, len(rows))
	for i := range rows {
		out[rows[i].Scope] = rows[i].overrides()
	}
	return out, nil
}

// Levels are the stored policy settings of every scope, keyed by scope
// (EnvironmentScope or a tenant id).
type Levels map[string]policy.Overrides

// Effective resolves the policy in force for a tenant.
func (l Levels) Effective(tenantID string) policy.Effective {
	return policy.Resolve(l[EnvironmentScope], l[tenantID])
}

// PolicyChange is the outcome of UpdatePolicy.
type PolicyChange struct {
	Levels Levels
	// Ended are the sessions the new policy ended.
	Ended []model.Session
}

// PolicyPlanner decides, inside the updating transaction, the deadlines and
// terminations of the active sessions under the new levels.
type PolicyPlanner func(levels Levels, active []policy.Active, now time.Time) (map[string]policy.Effective, []policy.Termination)

// UpdatePolicy stores scope's new settings (reset drops them), then
// recomputes the deadlines of the active sessions it governs and ends those
// the planner names, all in one transaction. NOT_FOUND for an unknown tenant.
func (d *DB) UpdatePolicy(ctx context.Context, actor model.Actor, scope string, change func(policy.Overrides) policy.Overrides, plan PolicyPlanner) (PolicyChange, error) {
	var out PolicyChange
	now := d.now()
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if scope != EnvironmentScope {
			if err := requireTenant(ctx, tx, scope); err != nil {
				return err
			}
		}
		if err := d.lockPolicy(ctx, tx, false, scope); err != nil {
			return err
		}
		levels, err := allPolicyLevels(ctx, tx)
		if err != nil {
			return err
		}
		before := levels[scope]
		after := change(before)
		if after.Empty() {
			if _, err := tx.NewDelete().Model((*policyRow)(nil)).Where("scope = ?", scope).Exec(ctx); err != nil {
				return err
			}
			delete(levels, scope)
		} else {
			row := policyRowOf(scope, after, now)
			if _, err := tx.NewInsert().Model(&row).On("CONFLICT (scope) DO UPDATE").
				Set("idle_enabled = EXCLUDED.idle_enabled, idle_value = EXCLUDED.idle_value, idle_unit = EXCLUDED.idle_unit").
				Set("relogin_enabled = EXCLUDED.relogin_enabled, relogin_value = EXCLUDED.relogin_value, relogin_unit = EXCLUDED.relogin_unit").
				Set("max_enabled = EXCLUDED.max_enabled, max_sessions = EXCLUDED.max_sessions, updated_at = EXCLUDED.updated_at").
				Exec(ctx); err != nil {
				return err
			}
			levels[scope] = after
		}
		out.Levels = levels
		if err := d.writeAudit(ctx, tx, model.AuditEntry{TenantID: scope, Actor: actor, Action: "policy.updated", TargetType: "session_policy", TargetID: scopeName(scope)},
			policyAuditOf(before), policyAuditOf(after)); err != nil {
			return err
		}

		var rows []sessionRow
		q := tx.NewSelect().Model(&rows).Where("ended_at IS NULL")
		if scope != EnvironmentScope {
			q = q.Where("tenant_id = ?", scope)
		}
		if err := q.Scan(ctx); err != nil {
			return err
		}
		active := make([]policy.Active, len(rows))
		for i := range rows {
			active[i] = activeOf(&rows[i])
		}
		effective, ends := plan(levels, active, now)
		if err := recomputeDeadlines(ctx, tx, rows, effective); err != nil {
			return err
		}
		out.Ended, err = d.endSessions(ctx, tx, terminationsToEnds(ends), model.Actor{Kind: model.ActorSystem}, now, nil)
		return err
	})
	return out, err
}

func scopeName(scope string) string {
	if scope == EnvironmentScope {
		return "environment"
	}
	return scope
}

// recomputeDeadlines rewrites the deadlines of active sessions whose
// tenant's effective policy is given.
func recomputeDeadlines(ctx context.Context, idb bun.IDB, rows []sessionRow, effective map[string]policy.Effective) error {
	for i := range rows {
		r := &rows[i]
		e, ok := effective[r.TenantID]
		if !ok {
			continue
		}
		idle, abs, exp := e.Deadlines(fromMS(r.CreatedAt), fromMS(r.LastActiveAt))
		nIdle, nAbs, nExp, nTimeout := ms(idle), msPtr(abs), ms(exp), e.Idle().Milliseconds()
		if nIdle == r.IdleExpiresAt && nExp == r.ExpiresAt && nTimeout == r.IdleTimeoutMS && eqPtr(nAbs, r.AbsoluteExpiresAt) {
			continue
		}
		if _, err := idb.NewUpdate().Model((*sessionRow)(nil)).
			Set("idle_expires_at = ?, absolute_expires_at = ?, expires_at = ?, idle_timeout_ms = ?", nIdle, nAbs, nExp, nTimeout).
			Where("id = ? AND ended_at IS NULL", r.ID).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

func eqPtr(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

type policyAudit struct {
	IdleTimeout           *toggleAudit `json:"idleTimeout,omitempty"`
	ForceRelogin          *toggleAudit `json:"forceRelogin,omitempty"`
	MaxConcurrentSessions *limitAudit  `json:"maxConcurrentSessions,omitempty"`
}
type toggleAudit struct {
	Enabled bool   `json:"enabled"`
	Value   int    `json:"value,omitempty"`
	Unit    string `json:"unit,omitempty"`
}
type limitAudit struct {
	Enabled     bool `json:"enabled"`
	MaxSessions *int `json:"maxSessions,omitempty"`
}

func policyAuditOf(o policy.Overrides) policyAudit {
	var a policyAudit
	conv := func(t *policy.Toggle) *toggleAudit {
		if t == nil {
			return nil
		}
		out := &toggleAudit{Enabled: t.Enabled}
		if t.Span != nil {
			out.Value, out.Unit = t.Span.Value, string(t.Span.Unit)
		}
		return out
	}
	a.IdleTimeout, a.ForceRelogin = conv(o.Idle), conv(o.Relogin)
	if o.MaxSessions != nil {
		a.MaxConcurrentSessions = &limitAudit{Enabled: o.MaxSessions.Enabled, MaxSessions: o.MaxSessions.Max}
	}
	return a
}

// lockPolicy takes transaction-scoped advisory locks on policy scopes on
// PostgreSQL: shared by session creation (which reads the policy), exclusive
// by policy changes, so a login never commits with a policy that a
// concurrent change has replaced, and two changes to one scope queue.
// SQLite serialises write transactions already.
func (d *DB) lockPolicy(ctx context.Context, idb bun.IDB, shared bool, scopes ...string) error {
	if d.dialect != Postgres {
		return nil
	}
	fn := "pg_advisory_xact_lock"
	if shared {
		fn = "pg_advisory_xact_lock_shared"
	}
	for _, scope := range scopes {
		if _, err := idb.ExecContext(ctx, "SELECT "+fn+"(hashtext(?))", "sessiond.policy."+scope); err != nil {
			return err
		}
	}
	return nil
}

// ActiveSessions returns the active sessions a policy of scope governs,
// with every stored policy level, for previews.
func (d *DB) ActiveSessions(ctx context.Context, scope string) ([]policy.Active, Levels, error) {
	levels, err := allPolicyLevels(ctx, d.bun)
	if err != nil {
		return nil, nil, err
	}
	var rows []sessionRow
	q := d.bun.NewSelect().Model(&rows).Column("id", "user_id", "tenant_id", "created_at", "last_active_at").Where("ended_at IS NULL")
	if scope != EnvironmentScope {
		if err := requireTenant(ctx, d.bun, scope); err != nil {
			return nil, nil, err
		}
		q = q.Where("tenant_id = ?", scope)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, nil, err
	}
	out := make([]policy.Active, len(rows))
	for i := range rows {
		out[i] = activeOf(&rows[i])
	}
	return out, levels, nil
}

// ---- sessions ----

// SessionPlanner decides, inside the creating transaction, the new session
// (its deadlines filled in) and which of the user's active sessions in the
// tenant end to make room for it.
type SessionPlanner func(env, tenant policy.Overrides, active []policy.Active, now time.Time) (model.Session, []policy.Termination)

// CreateSession stores a new session for a member of a tenant, ending the
// sessions the planner names, in one transaction. Transactions that create
// sessions are serialised (SQLite's write lock), so two logins racing for the
// last slot see each other. NOT_FOUND when the user is not a member.
// It returns the new session and the sessions it ended.
func (d *DB) CreateSession(ctx context.Context, actor model.Actor, userID, tenantID string, plan SessionPlanner) (model.Session, []model.Session, error) {
	var created model.Session
	var ended []model.Session
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		now := d.now()
		// Policy locks first, then the membership row, in the same order as
		// every other writer, so that no two transactions wait on each other.
		if err := d.lockPolicy(ctx, tx, true, EnvironmentScope, tenantID); err != nil {
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
		var rows []sessionRow
		if err := tx.NewSelect().Model(&rows).Column("id", "user_id", "tenant_id", "created_at", "last_active_at").
			Where("user_id = ? AND tenant_id = ? AND ended_at IS NULL", userID, tenantID).Scan(ctx); err != nil {
			return err
		}
		active := make([]policy.Active, len(rows))
		for i := range rows {
			active[i] = activeOf(&rows[i])
		}
		s, ends := plan(env, tenant, active, now)
		s.ID, s.UserID, s.TenantID = newID(), userID, tenantID
		if ended, err = d.endSessions(ctx, tx, terminationsToEnds(ends), model.Actor{Kind: model.ActorSystem}, now, nil); err != nil {
			return err
		}
		row := sessionRowOf(s)
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return err
		}
		created = row.model()
		return d.writeAudit(ctx, tx, model.AuditEntry{TenantID: tenantID, Actor: actor, Action: "session.created", TargetType: "session", TargetID: s.ID},
			nil, sessionAudit{UserID: userID, Device: s.Device, IPAddress: s.IPAddress})
	})
	return created, ended, err
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
// reason and actor, with an audit entry each, in one transaction. When
// dueBy is set, a session ends only if its deadline is at or before dueBy
// (so activity recorded meanwhile keeps it alive). It returns the sessions
// it ended; sessions ended already are left alone.
func (d *DB) EndSessions(ctx context.Context, ends []model.SessionEnd, actor model.Actor, dueBy *time.Time) ([]model.Session, error) {
	var out []model.Session
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		out, err = d.endSessions(ctx, tx, ends, actor, d.now(), dueBy)
		return err
	})
	return out, err
}

// EndUserSessions ends, in one transaction, every active session of a user
// (in one tenant, or all when tenantID is ""), except the one named by
// except, with reason and actor; it returns the sessions it ended. Listing
// and ending in one transaction means a login racing in is either ended
// too or not yet committed (on PostgreSQL the membership lock orders them).
func (d *DB) EndUserSessions(ctx context.Context, userID, tenantID, except string, reason model.EndReason, actor model.Actor) ([]model.Session, error) {
	var out []model.Session
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
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
		if err != nil || len(ids) == 0 {
			return err
		}
		ends := make([]model.SessionEnd, len(ids))
		for i, id := range ids {
			ends[i] = model.SessionEnd{ID: id, Reason: reason}
		}
		out, err = d.endSessions(ctx, tx, ends, actor, d.now(), nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// endBatch bounds the ids in one UPDATE, below every dialect's parameter limit.
const endBatch = 500

func (d *DB) endSessions(ctx context.Context, idb bun.IDB, ends []model.SessionEnd, actor model.Actor, now time.Time, dueBy *time.Time) ([]model.Session, error) {
	if len(ends) == 0 {
		return nil, nil
	}
	byReason := map[model.EndReason][]string{}
	var order []model.EndReason
	for _, e := range ends {
		if _, ok := byReason[e.Reason]; !ok {
			order = append(order, e.Reason)
		}
		byReason[e.Reason] = append(byReason[e.Reason], e.ID)
	}
	var kind, id *string
	k := string(actor.Kind)
	kind = &k
	if actor.ID != "" {
		id = &actor.ID
	}
	var out []model.Session
	for _, reason := range order {
		ids := byReason[reason]
		for start := 0; start < len(ids); start += endBatch {
			chunk := ids[start:min(start+endBatch, len(ids))]
			var rows []sessionRow
			q := idb.NewUpdate().Model(&rows).
				Set("ended_at = ?, end_reason = ?, ended_by_kind = ?, ended_by_id = ?", ms(now), string(reason), kind, id).
				Where("id IN (?) AND ended_at IS NULL", bun.List(chunk))
			if dueBy != nil {
				q = q.Where("expires_at <= ?", ms(*dueBy))
			}
			if _, err := q.Returning("*").Exec(ctx, &rows); err != nil {
				return nil, err
			}
			if len(rows) == 0 {
				continue
			}
			audits := make([]auditRow, len(rows))
			for i := range rows {
				s := rows[i].model()
				out = append(out, s)
				tenant := s.TenantID
				audits[i] = auditRow{
					ID: newID(), TenantID: &tenant, ActorKind: string(actor.Kind), ActorID: actor.ID,
					Action: "session.ended", TargetType: "session", TargetID: s.ID,
					After:     jsonOrEmpty(sessionAudit{UserID: s.UserID, Device: s.Device, IPAddress: s.IPAddress, EndReason: string(reason)}),
					CreatedAt: now,
				}
			}
			if _, err := idb.NewInsert().Model(&audits).Exec(ctx); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

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
	err := d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var ids []string
		if err := tx.NewSelect().Model((*sessionRow)(nil)).Column("id").Where(unwarned).Where(warnAt+" <= ?", l, l, ms(now)).
			Order("expires_at").Limit(int64(limit)).Scan(ctx, &ids); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		_, err := tx.NewUpdate().Model(&rows).Set("warned_expires_at = expires_at").
			Where("id IN (?)", bun.List(ids)).Where(unwarned).Where(warnAt+" <= ?", l, l, ms(now)).
			Returning("*").Exec(ctx, &rows)
		return err
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
	return d.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
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

// activeSessionIDs returns the ids of the active sessions matching the condition.
func activeSessionIDs(ctx context.Context, idb bun.IDB, where string, args ...any) ([]string, error) {
	var ids []string
	err := idb.NewSelect().Model((*sessionRow)(nil)).Column("id").Where("ended_at IS NULL").Where(where, args...).Scan(ctx, &ids)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return ids, err
}

// endUserRemoved ends the active sessions matching the condition with USER_REMOVED.
func (d *DB) endUserRemoved(ctx context.Context, idb bun.IDB, actor model.Actor, where string, args ...any) ([]model.Session, error) {
	ids, err := activeSessionIDs(ctx, idb, where, args...)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	ends := make([]model.SessionEnd, len(ids))
	for i, id := range ids {
		ends[i] = model.SessionEnd{ID: id, Reason: model.EndUserRemoved}
	}
	return d.endSessions(ctx, idb, ends, actor, d.now(), nil)
}

// ---- audit log ----

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
