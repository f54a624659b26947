package session

import (
	"context"
	"time"

	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/policy"
)

// Policy returns the effective policy of a tenant, or the environment's
// own settings resolved against the defaults when tenantID is "".
func (s *Service) Policy(ctx context.Context, tenantID string) (policy.Effective, error) {
	env, tenant, err := s.store.PolicyLevels(ctx, tenantID)
	if err != nil {
		return policy.Effective{}, err
	}
	if tenantID == "" {
		tenant = policy.Overrides{}
	}
	return policy.Resolve(env, tenant), nil
}

// PolicyOutcome is the result of a policy change.
type PolicyOutcome struct {
	Effective policy.Effective
	Warnings  []policy.Warning
	// Terminated counts the active sessions the change ended at once.
	Terminated int
}

// UpdatePolicy changes the environment's settings (tenantID "") or a
// tenant's overrides. Impossible values are refused with BAD_USER_INPUT;
// values outside the recommended ranges are accepted with warnings. Active
// sessions that the new policy ends are ended at once, in the same
// transaction, and their events published.
func (s *Service) UpdatePolicy(ctx context.Context, actor model.Actor, tenantID string, in policy.Input) (PolicyOutcome, error) {
	warnings, err := policy.Validate(in)
	if err != nil {
		return PolicyOutcome{}, err
	}
	return s.changePolicy(ctx, actor, tenantID, warnings, func(o policy.Overrides) policy.Overrides { return policy.Apply(o, in) })
}

// ResetPolicy drops a tenant's overrides, so it inherits the environment's.
func (s *Service) ResetPolicy(ctx context.Context, actor model.Actor, tenantID string) (PolicyOutcome, error) {
	return s.changePolicy(ctx, actor, tenantID, nil, func(policy.Overrides) policy.Overrides { return policy.Overrides{} })
}

func (s *Service) changePolicy(ctx context.Context, actor model.Actor, tenantID string, warnings []policy.Warning, change func(policy.Overrides) policy.Overrides) (PolicyOutcome, error) {
	// The new policy judges idleness by the stored activity: write it first.
	if err := s.Flush(ctx); err != nil {
		return PolicyOutcome{}, err
	}
	res, err := s.store.UpdatePolicy(ctx, actor, tenantID, change, planPolicy)
	if err != nil {
		return PolicyOutcome{}, err
	}
	s.ended(ctx, res.Ended)
	// The change rewrote the deadlines of the sessions it kept: cached
	// copies must not outlive it.
	s.cache.Purge()
	// Deadlines may have moved earlier: let the scheduler look again.
	s.wake(time.Time{})
	eff := res.Levels.Scope(tenantID)
	return PolicyOutcome{Effective: eff, Warnings: append(warnings, policy.EffectiveWarnings(eff)...), Terminated: len(res.Ended)}, nil
}

// planPolicy gives each tenant's active sessions their deadlines under the
// new levels and names those the policy ends now.
func planPolicy(levels policy.Levels, active []policy.Active, now time.Time) (map[string]policy.Effective, []policy.Termination) {
	byTenant := map[string][]policy.Active{}
	for _, a := range active {
		byTenant[a.TenantID] = append(byTenant[a.TenantID], a)
	}
	eff := make(map[string]policy.Effective, len(byTenant))
	var ends []policy.Termination
	for tenant, group := range byTenant {
		e := levels.Effective(tenant)
		eff[tenant] = e
		ends = append(ends, policy.Terminations(e, group, now)...)
	}
	return eff, ends
}

// Preview says how many active sessions each rule of in would end if it
// were applied to the scope now, without changing anything.
type Preview struct {
	Effective                        policy.Effective
	Warnings                         []policy.Warning
	Idle, Relogin, Concurrent, Total int
}

// PreviewPolicy computes a Preview. BAD_USER_INPUT for impossible values.
func (s *Service) PreviewPolicy(ctx context.Context, tenantID string, in policy.Input) (Preview, error) {
	warnings, err := policy.Validate(in)
	if err != nil {
		return Preview{}, err
	}
	if err := s.Flush(ctx); err != nil {
		return Preview{}, err
	}
	active, levels, err := s.store.ActiveSessions(ctx, tenantID)
	if err != nil {
		return Preview{}, err
	}
	levels[tenantID] = policy.Apply(levels[tenantID], in)
	_, ends := planPolicy(levels, active, s.clock.Now())
	p := Preview{Effective: levels.Scope(tenantID), Total: len(ends)}
	p.Warnings = append(warnings, policy.EffectiveWarnings(p.Effective)...)
	for _, e := range ends {
		switch e.Reason {
		case model.EndIdleTimeout:
			p.Idle++
		case model.EndForceRelogin:
			p.Relogin++
		case model.EndConcurrentSessionLimit:
			p.Concurrent++
		}
	}
	return p, nil
}
