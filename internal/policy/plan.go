package policy

// The types the store needs to apply a policy inside its transactions. They
// live here, beside the rules that define them, so that the store imports
// the domain and never the reverse.

import (
	"time"

	"github.com/sessiond/sessiond/internal/model"
)

// EnvironmentScope is the policy scope of the environment's own settings;
// any other scope is a tenant id.
const EnvironmentScope = ""

// Levels are the stored policy settings of every scope, keyed by scope
// (EnvironmentScope or a tenant id).
type Levels map[string]Overrides

// Effective resolves the policy in force for a tenant.
func (l Levels) Effective(tenantID string) Effective {
	return Resolve(l[EnvironmentScope], l[tenantID])
}

// Scope resolves the policy of a scope: a tenant's effective policy, or the
// environment's own settings over the defaults for EnvironmentScope.
func (l Levels) Scope(scope string) Effective {
	if scope == EnvironmentScope {
		return Resolve(l[EnvironmentScope], Overrides{})
	}
	return l.Effective(scope)
}

// Change is the outcome of storing a policy change.
type Change struct {
	Levels Levels
	// Ended are the sessions the new policy ended.
	Ended []model.Session
}

// SessionPlan is what creating a session does: store the session, and end
// the user's oldest live sessions in the tenant beyond Keep.
type SessionPlan struct {
	// Session is the new session with its times and deadlines filled in.
	Session model.Session
	// Keep is how many of the user's live sessions in the tenant may stay
	// beside the new one; the others, oldest first (by creation, ties by
	// id, as Oldest orders them), end with CONCURRENT_SESSION_LIMIT.
	// Negative means no limit.
	Keep int
	// LiveAfter: a session counts as live while its deadline is after this
	// instant. Sessions past it are the scheduler's to end, with the reason
	// and at the time of their deadline; they take no slot.
	LiveAfter time.Time
}

// PlanSession fills in a new session's times and deadlines under policy e
// at now, and how many live sessions may stay beside it: the new session
// counts too, so at the limit one makes room.
func PlanSession(e Effective, s model.Session, now time.Time) SessionPlan {
	s.CreatedAt, s.LastActiveAt = now, now
	s.IdleExpiresAt, s.AbsoluteExpiresAt, s.ExpiresAt = e.Deadlines(now, now)
	s.IdleTimeout = e.Idle()
	keep := -1
	if limit := e.Limit(); limit > 0 {
		keep = limit - 1
	}
	return SessionPlan{Session: s, Keep: keep, LiveAfter: now}
}

// SessionPlanner decides, inside the creating transaction and from the
// stored policy levels, what creating a session does. It sees no other
// session: the store picks the oldest beyond Keep with an indexed query,
// so creation costs the same however many sessions the user has.
type SessionPlanner func(env, tenant Overrides, now time.Time) SessionPlan

// PolicyPlanner decides, inside the updating transaction, the deadlines and
// terminations of the active sessions under the new levels.
type PolicyPlanner func(levels Levels, active []Active, now time.Time) (map[string]Effective, []Termination)
