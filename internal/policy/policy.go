// Package policy evaluates session policies: the effective policy of a
// tenant from defaults, the environment and the tenant's overrides; input
// validation and recommendations; the deadlines of a session; and which
// sessions a policy ends. Everything here is a pure function over values.
package policy

import (
	"fmt"
	"sort"
	"time"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
)

// Unit is the unit a duration is set in.
type Unit string

// Units offered by the portal's +/- controls.
const (
	Minutes Unit = "MINUTES"
	Hours   Unit = "HOURS"
	Days    Unit = "DAYS"
)

// Span is a duration as the user set it: a value and a unit.
type Span struct {
	Value int
	Unit  Unit
}

// Duration returns the span as a time.Duration.
func (s Span) Duration() time.Duration {
	switch s.Unit {
	case Minutes:
		return time.Duration(s.Value) * time.Minute
	case Hours:
		return time.Duration(s.Value) * time.Hour
	case Days:
		return time.Duration(s.Value) * 24 * time.Hour
	}
	return 0
}

// Defaults and bounds of the settings.
const (
	DefaultIdle          = 24 * time.Hour
	MaxDuration          = 365 * 24 * time.Hour
	RecommendedIdle      = 24 * time.Hour
	RecommendedRelogin   = 90 * 24 * time.Hour
	RecommendedMaxLimit  = 10
	MaxSessionsLimit     = 1000
	recommendedMinLimit  = 1
	defaultIdleSpanHours = 24
)

// Source says where an effective setting comes from.
type Source string

// Sources of a setting.
const (
	FromDefault     Source = "DEFAULT"
	FromEnvironment Source = "ENVIRONMENT"
	FromTenant      Source = "TENANT"
)

// Toggle is a stored duration setting: on or off, with its span.
type Toggle struct {
	Enabled bool
	// Span may be nil when disabled.
	Span *Span
}

// Limit is the stored concurrency setting.
type Limit struct {
	Enabled bool
	// Max may be nil when disabled.
	Max *int
}

// Overrides are one level's (environment or tenant) stored settings; a nil
// field is unset and inherits from the level above.
type Overrides struct {
	Idle        *Toggle
	Relogin     *Toggle
	MaxSessions *Limit
}

// Empty reports whether no setting is set.
func (o Overrides) Empty() bool { return o.Idle == nil && o.Relogin == nil && o.MaxSessions == nil }

// Effective is the policy in force for a tenant.
type Effective struct {
	IdleEnabled bool
	// IdleSpan is the configured span, or 24 hours when not enabled.
	IdleSpan   Span
	IdleSource Source

	ReloginEnabled bool
	// ReloginSpan is meaningful only when enabled.
	ReloginSpan   Span
	ReloginSource Source

	MaxEnabled bool
	// Max is meaningful only when enabled.
	Max       int
	MaxSource Source
}

// Idle returns the idle timeout in force.
func (e Effective) Idle() time.Duration {
	if e.IdleEnabled {
		return e.IdleSpan.Duration()
	}
	return DefaultIdle
}

// Relogin returns the absolute lifetime, or 0 when sessions live indefinitely.
func (e Effective) Relogin() time.Duration {
	if e.ReloginEnabled {
		return e.ReloginSpan.Duration()
	}
	return 0
}

// Limit returns the maximum concurrent sessions, or 0 for unlimited.
func (e Effective) Limit() int {
	if e.MaxEnabled {
		return e.Max
	}
	return 0
}

// Resolve computes the effective policy: the tenant's override where set,
// else the environment's, else the default.
func Resolve(env, tenant Overrides) Effective {
	e := Effective{
		IdleSpan:      Span{Value: defaultIdleSpanHours, Unit: Hours},
		IdleSource:    FromDefault,
		ReloginSource: FromDefault,
		MaxSource:     FromDefault,
	}
	for _, lvl := range []struct {
		o   Overrides
		src Source
	}{{env, FromEnvironment}, {tenant, FromTenant}} {
		if t := lvl.o.Idle; t != nil {
			e.IdleEnabled, e.IdleSource = t.Enabled, lvl.src
			e.IdleSpan = Span{Value: defaultIdleSpanHours, Unit: Hours}
			if t.Enabled && t.Span != nil {
				e.IdleSpan = *t.Span
			}
		}
		if t := lvl.o.Relogin; t != nil {
			e.ReloginEnabled, e.ReloginSource = t.Enabled && t.Span != nil, lvl.src
			if e.ReloginEnabled {
				e.ReloginSpan = *t.Span
			}
		}
		if l := lvl.o.MaxSessions; l != nil {
			e.MaxEnabled, e.MaxSource = l.Enabled && l.Max != nil, lvl.src
			if e.MaxEnabled {
				e.Max = *l.Max
			}
		}
	}
	return e
}

// Deadlines returns a session's idle deadline and its absolute deadline (nil
// when forced re-login is off), and the earlier of the two.
func (e Effective) Deadlines(createdAt, lastActiveAt time.Time) (idle time.Time, absolute *time.Time, expires time.Time) {
	idle = lastActiveAt.Add(e.Idle())
	expires = idle
	if d := e.Relogin(); d > 0 {
		a := createdAt.Add(d)
		absolute = &a
		if a.Before(expires) {
			expires = a
		}
	}
	return idle, absolute, expires
}

// Warning is a value accepted although it is outside the recommended range.
type Warning struct {
	Field   string
	Message string
}

// Input is a requested change to one level's settings; nil fields are unchanged.
type Input struct {
	Idle        *Toggle
	Relogin     *Toggle
	MaxSessions *Limit
}

// Validate refuses impossible values with BAD_USER_INPUT naming the field,
// and returns warnings for values outside the recommended ranges.
func Validate(in Input) ([]Warning, error) {
	var warnings []Warning
	checkSpan := func(field string, t *Toggle, recommended time.Duration, what string) error {
		if t == nil {
			return nil
		}
		if t.Span == nil {
			if t.Enabled {
				return apperr.Invalid(field+".duration", "%s: a duration is required when enabled", field)
			}
			return nil
		}
		switch t.Span.Unit {
		case Minutes, Hours, Days:
		default:
			return apperr.Invalid(field+".duration.unit", "%s: unit must be MINUTES, HOURS or DAYS", field)
		}
		if t.Span.Value <= 0 {
			return apperr.Invalid(field+".duration.value", "%s: the duration must be greater than zero", field)
		}
		// Compare the value, not its Duration: a large count of days
		// overflows time.Duration and wraps to a short or negative span.
		if t.Span.Value > int(MaxDuration/Span{Value: 1, Unit: t.Span.Unit}.Duration()) {
			return apperr.Invalid(field+".duration.value", "%s: the duration must be at most 365 days", field)
		}
		if t.Enabled && t.Span.Duration() > recommended {
			warnings = append(warnings, Warning{Field: field + ".duration", Message: fmt.Sprintf("%s longer than %s is accepted but not recommended", what, human(recommended))})
		}
		return nil
	}
	if err := checkSpan("idleTimeout", in.Idle, RecommendedIdle, "an idle timeout"); err != nil {
		return nil, err
	}
	if err := checkSpan("forceRelogin", in.Relogin, RecommendedRelogin, "a forced re-login interval"); err != nil {
		return nil, err
	}
	if l := in.MaxSessions; l != nil {
		switch {
		case l.Max == nil && l.Enabled:
			return nil, apperr.Invalid("maxConcurrentSessions.maxSessions", "maxConcurrentSessions: maxSessions is required when enabled")
		case l.Max != nil && (*l.Max < 1 || *l.Max > MaxSessionsLimit):
			return nil, apperr.Invalid("maxConcurrentSessions.maxSessions", "maxConcurrentSessions: maxSessions must be between 1 and %d", MaxSessionsLimit)
		case l.Enabled && (*l.Max < recommendedMinLimit || *l.Max > RecommendedMaxLimit):
			warnings = append(warnings, Warning{Field: "maxConcurrentSessions.maxSessions", Message: fmt.Sprintf("a limit of %d sessions is accepted; 1 to %d is recommended", *l.Max, RecommendedMaxLimit)})
		}
	}
	return warnings, nil
}

// Apply merges a validated input into stored overrides.
func Apply(o Overrides, in Input) Overrides {
	if in.Idle != nil {
		t := *in.Idle
		o.Idle = &t
	}
	if in.Relogin != nil {
		t := *in.Relogin
		o.Relogin = &t
	}
	if in.MaxSessions != nil {
		l := *in.MaxSessions
		o.MaxSessions = &l
	}
	return o
}

// EffectiveWarnings adds advice that depends on the combined policy.
func EffectiveWarnings(e Effective) []Warning {
	if e.IdleEnabled && e.ReloginEnabled && e.Idle() >= e.Relogin() {
		return []Warning{{Field: "idleTimeout.duration", Message: "the idle timeout is not shorter than the forced re-login interval, so it never ends a session first"}}
	}
	return nil
}

func human(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return fmt.Sprintf("%d hours", d/time.Hour)
}

// DueReason says which deadline ended a session that is due: the earlier
// one; forced re-login wins a tie, since no activity could have prevented it.
func DueReason(idle time.Time, absolute *time.Time) model.EndReason {
	if absolute != nil && !absolute.After(idle) {
		return model.EndForceRelogin
	}
	return model.EndIdleTimeout
}

// Active is what evaluating a policy needs to know of an active session.
type Active struct {
	ID, UserID, TenantID    string
	CreatedAt, LastActiveAt time.Time
}

// Termination is a session a policy ends, and why.
type Termination struct {
	ID     string
	Reason model.EndReason
}

// Terminations returns the active sessions that policy e ends at now: those
// past a deadline, then per user the oldest beyond the concurrency limit.
// Sessions must all belong to tenants governed by e.
func Terminations(e Effective, sessions []Active, now time.Time) []Termination {
	var out []Termination
	remaining := map[string][]Active{}
	for _, s := range sessions {
		idle, abs, expires := e.Deadlines(s.CreatedAt, s.LastActiveAt)
		if !expires.After(now) {
			out = append(out, Termination{ID: s.ID, Reason: DueReason(idle, abs)})
			continue
		}
		k := s.TenantID + "\x00" + s.UserID
		remaining[k] = append(remaining[k], s)
	}
	if limit := e.Limit(); limit > 0 {
		keys := make([]string, 0, len(remaining))
		for k := range remaining {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, s := range Oldest(remaining[k], len(remaining[k])-limit) {
				out = append(out, Termination{ID: s.ID, Reason: model.EndConcurrentSessionLimit})
			}
		}
	}
	return out
}

// Oldest returns the n oldest sessions by creation (ties by id).
func Oldest(sessions []Active, n int) []Active {
	if n <= 0 {
		return nil
	}
	s := append([]Active(nil), sessions...)
	sort.Slice(s, func(i, j int) bool {
		if !s[i].CreatedAt.Equal(s[j].CreatedAt) {
			return s[i].CreatedAt.Before(s[j].CreatedAt)
		}
		return s[i].ID < s[j].ID
	})
	return s[:min(n, len(s))]
}
