package policy

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/model"
)

func TestLevelsScope(t *testing.T) {
	two := 2
	levels := Levels{
		EnvironmentScope: {Idle: &Toggle{Enabled: true, Span: &Span{Value: 30, Unit: Minutes}}},
		"t1":             {MaxSessions: &Limit{Enabled: true, Max: &two}},
	}
	t.Run("a tenant inherits the environment and adds its own", func(t *testing.T) {
		e := levels.Effective("t1")
		if e.Idle() != 30*time.Minute || e.IdleSource != FromEnvironment || e.Limit() != 2 || e.MaxSource != FromTenant {
			t.Fatalf("Effective(t1) = %+v", e)
		}
		if s := levels.Scope("t1"); s != e {
			t.Fatalf("Scope(t1) = %+v, want %+v", s, e)
		}
	})
	t.Run("the environment scope ignores tenants", func(t *testing.T) {
		e := levels.Scope(EnvironmentScope)
		if e.Idle() != 30*time.Minute || e.Limit() != 0 || e.MaxSource != FromDefault {
			t.Fatalf("Scope(environment) = %+v", e)
		}
	})
	t.Run("an unknown tenant gets the environment's settings", func(t *testing.T) {
		if e := levels.Effective("other"); e.Idle() != 30*time.Minute || e.Limit() != 0 {
			t.Fatalf("Effective(other) = %+v", e)
		}
	})
}

func TestPlanSession(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	three := 3
	cases := []struct {
		name     string
		e        Effective
		keep     int
		idle     time.Duration
		absolute time.Duration // 0: none
	}{
		{"no limit keeps every live session", Resolve(Overrides{}, Overrides{}), -1, DefaultIdle, 0},
		{"a limit of 3 keeps 2 beside the new one", Resolve(Overrides{MaxSessions: &Limit{Enabled: true, Max: &three}}, Overrides{}), 2, DefaultIdle, 0},
		{"a disabled limit keeps every live session", Resolve(Overrides{MaxSessions: &Limit{Enabled: false, Max: &three}}, Overrides{}), -1, DefaultIdle, 0},
		{"deadlines follow the policy", Resolve(Overrides{
			Idle:    &Toggle{Enabled: true, Span: &Span{Value: 30, Unit: Minutes}},
			Relogin: &Toggle{Enabled: true, Span: &Span{Value: 2, Unit: Hours}},
		}, Overrides{}), -1, 30 * time.Minute, 2 * time.Hour},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := PlanSession(c.e, model.Session{Device: "kept"}, now)
			s := p.Session
			if p.Keep != c.keep || !p.LiveAfter.Equal(now) {
				t.Fatalf("keep %d liveAfter %v, want %d and %v", p.Keep, p.LiveAfter, c.keep, now)
			}
			if s.Device != "kept" || !s.CreatedAt.Equal(now) || !s.LastActiveAt.Equal(now) || s.IdleTimeout != c.idle || !s.IdleExpiresAt.Equal(now.Add(c.idle)) {
				t.Fatalf("session %+v: want created and active now, idle timeout %v", s, c.idle)
			}
			switch {
			case c.absolute == 0 && (s.AbsoluteExpiresAt != nil || !s.ExpiresAt.Equal(s.IdleExpiresAt)):
				t.Fatalf("absolute %v expires %v, want none and the idle deadline", s.AbsoluteExpiresAt, s.ExpiresAt)
			case c.absolute != 0 && (s.AbsoluteExpiresAt == nil || !s.AbsoluteExpiresAt.Equal(now.Add(c.absolute))):
				t.Fatalf("absolute %v, want %v", s.AbsoluteExpiresAt, now.Add(c.absolute))
			}
		})
	}
}
