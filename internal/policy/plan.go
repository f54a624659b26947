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

// SessionPlanner decides, inside the creating transaction, the new session
// (its deadlines filled in) and which of the user's active sessions in the
// tenant end to make room for it.
type SessionPlanner func(env, tenant Overrides, active []Active, now time.Time) (model.Session, []Termination)

// PolicyPlanner decides, inside the updating transaction, the deadlines and
// terminations of the active sessions under the new levels.
type PolicyPlanner func(levels Levels, active []Active, now time.Time) (map[string]Effective, []Termination)
