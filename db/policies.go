package db

// Session policies: one stored row per scope (the environment or a tenant),
// policy changes that recompute the deadlines of the sessions they govern and
// end those they must, the policy advisory locks, and policy previews' input.

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/policy"
	"github.com/sessiond/sessiond/internal/webhook"
)

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

// PolicyLevels returns the environment's and the tenant's stored policy
// settings; tenantID "" returns the environment's only.
func (d *DB) PolicyLevels(ctx context.Context, tenantID string) (env, tenant policy.Overrides, err error) {
	return policyLevels(ctx, d.bun, tenantID)
}

func policyLevels(ctx context.Context, idb bun.IDB, tenantID string) (env, tenant policy.Overrides, err error) {
	var rows []policyRow
	if err := idb.NewSelect().Model(&rows).Where("scope IN (?)", bun.List([]string{policy.EnvironmentScope, tenantID})).Scan(ctx); err != nil {
		return env, tenant, err
	}
	for i := range rows {
		if rows[i].Scope == policy.EnvironmentScope {
			env = rows[i].overrides()
		} else {
			tenant = rows[i].overrides()
		}
	}
	return env, tenant, nil
}

// allPolicyLevels returns every stored level, keyed by scope.
func allPolicyLevels(ctx context.Context, idb bun.IDB) (policy.Levels, error) {
	var rows []policyRow
	if err := idb.NewSelect().Model(&rows).Scan(ctx); err != nil {
		return nil, err
	}
	out := make(policy.Levels, len(rows))
	for i := range rows {
		out[rows[i].Scope] = rows[i].overrides()
	}
	return out, nil
}

// UpdatePolicy stores scope's new settings (reset drops them), then
// recomputes the deadlines of the active sessions it governs and ends those
// the planner names, all in one transaction. NOT_FOUND for an unknown tenant.
func (d *DB) UpdatePolicy(ctx context.Context, actor model.Actor, scope string, change func(policy.Overrides) policy.Overrides, plan policy.PolicyPlanner) (policy.Change, error) {
	var out policy.Change
	now := d.now()
	err := d.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if scope != policy.EnvironmentScope {
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
		if scope != policy.EnvironmentScope {
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
		// End first, while the rows hold the old deadlines: a session past
		// one of those was over at it, before this change.
		if out.Ended, err = d.endSessions(ctx, tx, terminationsToEnds(ends), model.Actor{Kind: model.ActorSystem}, now, overdue{by: now}); err != nil {
			return err
		}
		if err := writeOutbox(ctx, tx, d.endpoints, now, webhook.PolicyEvent(scope, policyAuditOf(before), policyAuditOf(after), len(out.Ended), actor, now)); err != nil {
			return err
		}
		return recomputeDeadlines(ctx, tx, rows, effective)
	})
	return out, err
}

func scopeName(scope string) string {
	if scope == policy.EnvironmentScope {
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
func (d *DB) ActiveSessions(ctx context.Context, scope string) ([]policy.Active, policy.Levels, error) {
	levels, err := allPolicyLevels(ctx, d.bun)
	if err != nil {
		return nil, nil, err
	}
	var rows []sessionRow
	q := d.bun.NewSelect().Model(&rows).Column("id", "user_id", "tenant_id", "created_at", "last_active_at").Where("ended_at IS NULL")
	if scope != policy.EnvironmentScope {
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
